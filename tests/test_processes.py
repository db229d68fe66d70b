"""Several processes, one training run: two local OS processes talking through JAX's own distributed runtime (gloo on
CPUs) on 127.0.0.1 train exactly like one process with the same global batch, write one run folder, and survive a kill."""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import run_command, run_main, history_epochs

ARGUMENTS = ["--preset", "tiny", "--dataset-repetitions", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    "24 small flowers: 19 for training (4 steps of 4 per epoch), 5 for validation (one batch)."
    folder = tmp_path_factory.mktemp("images")
    from ddim_nb.data import draw_flowers
    for index, image in enumerate(draw_flowers(24, 20, 20, seed=4)): Image.fromarray(image).save(folder / f"{index:02d}.png")
    return folder


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_processes(*arguments, devices=1, count=2, tmp=None):
    "Start `count` ddim-train processes of one run on 127.0.0.1, each seeing `devices` CPU devices."
    port, environment = free_port(), {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", "DDIM_NB_RESTARTED")}
    environment |= {"PYTHONUNBUFFERED": "1", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
                    "DDIM_NB_HEARTBEAT_TIMEOUT": "10"}  # a killed process is noticed in seconds, not the default 30
    if tmp: environment["TMPDIR"] = str(tmp)
    return [subprocess.Popen(["ddim-train", *arguments, "--coordinator-address", f"127.0.0.1:{port}", "--num-processes", str(count),
                              "--process-id", str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
            for index in range(count)]


def finish(processes, timeout=600):
    outputs = [process.communicate(timeout=timeout) for process in processes]
    return [(process.returncode, out, err) for process, (out, err) in zip(processes, outputs)]


def history(run_dir):
    with open(run_dir / "history.csv") as file: return list(csv.DictReader(file))


def check_one_set_of_files(run_dir, epochs, sessions=1):
    "One history row per epoch, one checkpoint set, one sample grid per epoch, one TensorBoard file per part and session."
    assert history_epochs(run_dir) == list(range(epochs))
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["best.keras", "last.json", "last.keras"]
    assert sorted(path.name for path in (run_dir / "samples").iterdir()) == [f"epoch_{epoch:03d}.png" for epoch in range(1, epochs + 1)]
    for part in ("train", "validation"):
        assert len(list((run_dir / "tensorboard" / part).glob("events.out.tfevents.*"))) == sessions, part


@pytest.fixture(scope="module")
def runs(images, tmp_path_factory):
    "Two epochs of the same run in one process and in two processes of two devices each (processes of one device each: the kill test)."
    folder = tmp_path_factory.mktemp("runs")
    arguments = [*ARGUMENTS, "--epochs", "2", "--data-dir", str(images)]
    one = run_main("ddim-train", *arguments, "--run-dir", str(folder / "one"))  # in this process: no interpreter start-up
    assert one.returncode == 0, one.stderr[-3000:]
    private = folder / "tmp"
    private.mkdir()
    return folder, finish(start_processes(*arguments, "--run-dir", str(folder / "two_by_2"), devices=2, tmp=private))


def test_two_processes_train_like_one(runs):
    "Two processes of two devices each: the same losses and KID as one process, one set of files."
    folder, results = runs
    for index, (code, out, err) in enumerate(results):
        assert code == 0, err[-3000:]
        first = out.splitlines()[0]
        assert first.startswith(f"Process {index} of 2: JAX") and "computes on 4 CPU device(s)" in first, first
    run_dir = folder / "two_by_2"
    check_one_set_of_files(run_dir, 2)
    assert not any((folder / "tmp").iterdir()), "process 1's private output folder is removed"
    for single, several in zip(history(folder / "one"), history(run_dir)):
        for column in ("n_loss", "i_loss", "val_n_loss", "val_i_loss", "val_kid"):
            assert abs(float(single[column]) - float(several[column])) < 1e-4, (column, single, several)


def test_a_two_process_checkpoint_generates_in_one_process(runs, tmp_path):
    "ddim-generate in one process, from the two-process checkpoint, draws exactly the sample grid the two processes drew."
    run_dir = runs[0] / "two_by_2"
    result = run_command("ddim-generate", str(run_dir / "checkpoints" / "last.keras"), "--num-images", "18",
                         "--steps", "3", "--seed", "42", "--out", str(tmp_path))  # what SampleGrid draws: 18 images, 3 steps, the run's seed
    assert result.returncode == 0, result.stderr[-3000:]
    grid, scale, size = np.asarray(Image.open(run_dir / "samples" / "epoch_002.png")).astype(int), 6, 16
    for index in range(18):
        row, column = divmod(index, 6)
        top, left = (2 + row * (size + 2)) * scale, (2 + column * (size + 2)) * scale
        drawn = grid[top:top + size * scale:scale, left:left + size * scale:scale]
        assert np.abs(drawn - np.asarray(Image.open(tmp_path / f"image_{index:04d}.png")).astype(int)).max() <= 1, index


def test_a_killed_process_stops_the_other_and_the_run_resumes(runs, tmp_path):
    "A one-process run continues in two processes of one device each; one of them is killed; the other stops in bounded time; two processes finish it."
    run_dir = tmp_path / "run"
    shutil.copytree(runs[0] / "one", run_dir)
    survivor, victim = start_processes("--resume", str(run_dir), "--epochs", "8")
    deadline = time.time() + 480
    while time.time() < deadline and survivor.poll() is None:
        if json.loads((run_dir / "checkpoints" / "last.json").read_text())["epochs"] >= 3: break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    killed = time.time()
    out, err = survivor.communicate(timeout=180)
    assert "Resuming" in out  # a checkpoint written by one process, loaded by two
    assert time.time() - killed < 120, "the survivor stops within JAX's heartbeat timeout and a margin"
    assert survivor.returncode == 1, err[-3000:]
    assert "ddim-train: error: Process 0 of 2 stopped: process(es) 1 of this run stopped answering" in err, err[-3000:]
    assert "Traceback" not in err
    epochs_before = history_epochs(run_dir)
    victim_err = victim.communicate(timeout=60)[1]
    assert 3 <= len(epochs_before) < 8 and epochs_before == list(range(len(epochs_before))), (epochs_before, victim_err[-3000:])

    results = finish(start_processes("--resume", str(run_dir)))
    for index, (code, out, err) in enumerate(results):
        assert code == 0, err[-3000:]
        assert out.startswith(f"Process {index} of 2: JAX") and "computes on 2 CPU device(s)" in out.splitlines()[0], out[:300]
    check_one_set_of_files(run_dir, 8, sessions=3)


def test_processes_are_checked_before_any_work(tmp_path):
    line = run_main("ddim-train", "--preset", "tiny", "--coordinator-address", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2").stderr
    assert "ddim-train: error: --process-id 2 is not a process of a run of --num-processes 2: number the processes 0 to 1." in line
    line = run_main("ddim-train", "--preset", "tiny", "--num-processes", "2").stderr
    assert "Several processes need all three of --coordinator-address" in line
    results = finish(start_processes(*ARGUMENTS, "--batch-size", "6", "--run-dir", str(tmp_path / "run"), devices=2), timeout=300)
    for code, _, err in results:
        assert code == 1 and "--batch-size 6 does not split evenly over the 4 devices of 2 processes: choose a multiple of 4." in err, err[-2000:]
    assert not (tmp_path / "run").exists()
