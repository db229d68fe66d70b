"""The command-line tools, run as a user runs them: in a subprocess, on the tiny preset and the embedded data."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, run_command, run_main, history_epochs


def test_train_writes_every_file(trained_run):
    run_dir, result = trained_run
    assert "computes on" in result.stdout.splitlines()[0]
    assert "random weights" in result.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["image_size"] == 16 and config["epochs"] == 2
    assert history_epochs(run_dir) == [0, 1]
    assert sorted(path.name for path in (run_dir / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    for name in ("curves.png", "checkpoints/last.keras", "checkpoints/best.keras"):
        assert (run_dir / name).stat().st_size > 0, name
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    from ddim_nb.config import load_config
    assert load_config(run_dir / "config.json").widths == [8, 16]


def test_train_restarts_with_cpu_tuning(trained_run):
    "On Linux ddim-train restarts itself with the glibc huge-page tunable, and its first line reports it with the XLA flags."
    if not sys.platform.startswith("linux") or os.environ.get("DDIM_NB_CPU_TUNING") == "0": pytest.skip("CPU tuning is off here")
    first_line = trained_run[1].stdout.splitlines()[0]
    assert "glibc.malloc.hugetlb=1" in first_line and "ynn_fusion_type" in first_line, first_line  # run_command starts without it


def test_generate_writes_images(trained_run, tmp_path):
    run_dir, _ = trained_run
    out = tmp_path / "generated"
    result = run_command("ddim-generate", str(run_dir), "--num-images", "3", "--steps", "4", "--seed", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["grid.png", "image_0000.png", "image_0001.png", "image_0002.png"]
    assert np.asarray(Image.open(out / "image_0001.png")).shape == (16, 16, 3)
    again = tmp_path / "again"
    run_main("ddim-generate", str(run_dir / "checkpoints" / "last.keras"), "--num-images", "3", "--steps", "4", "--seed", "5", "--out", str(again))
    assert (again / "image_0002.png").is_file()
    result = run_main("ddim-generate", str(run_dir), "--num-images", "2", "--steps", "3", "--sampler", "heun", "--out", str(tmp_path / "heun"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "heun, 3 steps = 4 network evaluations per image" in result.stdout
    result = run_main("ddim-generate", str(run_dir), "--sampler", "heun", "--eta", "0.5", "--out", str(tmp_path / "bad"))
    assert result.returncode == 1 and "is deterministic" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_measures_a_run(trained_run, tmp_path):
    "ddim-evaluate as a user runs it: the table on standard output, the same numbers in the JSON file."
    run_dir, _ = trained_run
    result = run_command("ddim-evaluate", str(run_dir), "--num-images", "40", "--subsets", "2", "--steps", "3",
                         "--json", str(tmp_path / "measures.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    stored = json.loads((tmp_path / "measures.json").read_text())
    assert (stored["model"], stored["network_evaluations"], stored["num_images"]) == (str(run_dir), 3, 40)
    kid, spread = stored["measures"]["kid"]["generated"]
    assert np.isfinite(kid) and spread > 0 and set(stored["measures"]) >= {"fd", "precision", "recall", "family", "petals", "radius"}
    lines = result.stdout.splitlines()
    assert lines[0] == f"{run_dir}: ddim, 3 steps (3 network evaluations per image)", lines
    assert any(line.startswith("KID") and f"{kid:.4f}" in line for line in lines), lines


@pytest.mark.parametrize("arguments, message", [
    (["--steps", "0"], "ddim-evaluate: error: --steps must be a whole number of at least 1, got 0."),
    (["--subsets", "1"], "ddim-evaluate: error: --subsets 1 cannot give error bars: use at least 2 subsets.")])
def test_evaluate_refuses_bad_input(trained_run, arguments, message):
    result = run_main("ddim-evaluate", trained_run[0], *arguments)
    assert (result.returncode, result.stderr.strip()) == (1, message)


def test_evaluate_refuses_a_run_without_a_model(tmp_path):
    result = run_main("ddim-evaluate", tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == (
        f"ddim-evaluate: error: {tmp_path} holds no checkpoint (checkpoints/best.keras or last.keras): train it for at least one epoch first.")


def test_generate_refuses_what_is_not_a_model(tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    result = run_main("ddim-generate", str(fake), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "is not a Keras model file" in result.stderr and "Traceback" not in result.stderr
    result = run_main("ddim-generate", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "No model at" in result.stderr


def test_kill_and_resume_continues_without_gaps(tmp_path):
    run_dir = tmp_path / "killed"
    process = subprocess.Popen(["ddim-train", *TINY, "--epochs", "2", "--run-dir", str(run_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = run_dir / "checkpoints" / "last.keras"
    deadline = time.time() + 400
    while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)  # no chance to clean up: as a crash or a power cut
    process.wait()
    assert checkpoint.exists(), "the first epoch never finished"
    epochs_before = history_epochs(run_dir)
    assert epochs_before and epochs_before == list(range(len(epochs_before)))

    result = run_command("ddim-train", "--resume", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming" in result.stdout
    assert history_epochs(run_dir) == [0, 1]
    from ddim_nb.training import load_diffusion_model
    model = load_diffusion_model(checkpoint)
    steps_per_epoch = 64 // 8  # the tiny preset's 64 training images in batches of 8
    assert int(model.optimizer.iterations.numpy()) == 2 * steps_per_epoch


@pytest.mark.parametrize("arguments, message", [
    (["--preset", "huge"], "Unknown preset 'huge'"),
    (["--dataset", "mnist"], "Unknown dataset 'mnist'"),
    (["--data-dir", "/no/such/folder"], "does not exist or is not a folder"),
    (["--image-size", "30", "--widths", "8", "16", "32"], "must be divisible by 2**(len(widths)-1) = 4"),
])
def test_train_refuses_bad_input(arguments, message, tmp_path):
    result = run_main("ddim-train", *TINY, *arguments, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 1, result.stdout[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr


def test_train_without_network_says_how_to_get_the_data(tmp_path):
    "The reference data set, not prepared and not reachable (requests go to a closed local port): a clear error, no download, no traceback."
    closed_port = "http://127.0.0.1:9"
    result = run_command("ddim-train", "--preset", "flowers", "--dataset", "oxford_flowers102", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run"),
                         HTTP_PROXY=closed_port, HTTPS_PROXY=closed_port, http_proxy=closed_port, https_proxy=closed_port, NO_PROXY="", no_proxy="")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "cannot reach https://www.robots.ox.ac.uk/" in result.stderr and "tfds build oxford_flowers102" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_refuses_to_overwrite_or_resume_a_non_run(trained_run, tmp_path):
    run_dir, _ = trained_run
    result = run_main("ddim-train", *TINY, "--run-dir", str(run_dir))
    assert result.returncode == 1 and "already holds files" in result.stderr
    (tmp_path / "not_a_run").mkdir()
    result = run_main("ddim-train", "--resume", str(tmp_path / "not_a_run"))
    assert result.returncode == 1 and "is not a ddim_nb run folder" in result.stderr


def test_image_folder_with_corrupt_files(tmp_path):
    from ddim_nb.data import draw_flowers
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(draw_flowers(30, 24, 20, seed=9)):
        Image.fromarray(image).save(folder / f"{index}.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "half.jpg").write_bytes((folder / "0.jpg").read_bytes()[:100])
    result = run_main("ddim-train", *TINY, "--epochs", "1", "--batch-size", "4", "--data-dir", str(folder), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Skipped 2 of 32 image files in {folder} that could not be decoded: broken.png, half.jpg" in result.stderr
    assert history_epochs(tmp_path / "run") == [0]


def test_nan_loss_stops_with_the_last_good_checkpoint_intact(tmp_path):
    "Weights poisoned with NaN in the second epoch: training must stop cleanly, keeping the first epoch's checkpoint."
    code = f"""
import ddim_nb, keras, numpy as np
from ddim_nb.config import get_config
from ddim_nb.training import train

class PoisonWeights(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and self._epoch == 1:
            self.model.jax_state_sync()  # on JAX the weights live in fit's state: write it back, change it, fit reads it again
            weight = self.model.network.trainable_variables[0]
            weight.assign(np.full(weight.shape, np.nan, "float32"))
    def on_epoch_begin(self, epoch, logs=None): self._epoch = epoch

train(get_config("tiny", dataset_repetitions=1, epochs=3), run_dir=r"{tmp_path / 'run'}", callbacks=[PoisonWeights()], verbose=0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "the loss became NaN or infinite" in result.stderr and "is intact" in result.stderr
    from ddim_nb.training import load_diffusion_model
    model = load_diffusion_model(tmp_path / "run" / "checkpoints" / "last.keras")
    assert int(model.optimizer.iterations.numpy()) == 64 // 8  # the checkpoint of epoch 1, the last good one
    assert all(np.isfinite(np.asarray(weight)).all() for weight in model.network.weights)


def test_bench_times_each_convolution_kernel():
    "`python -m ddim_nb.bench --convolutions` prints one JSON line: each 3x3 convolution of the preset, its uses and three timings."
    result = run_command(sys.executable, "-m", "ddim_nb.bench", "--preset", "tiny", "--convolutions", "--repeats", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax" and report["batch_size"] == 8
    assert sum(row["count"] for row in report["convolutions"]) == 6  # tiny: 2 convolutions in each of 3 residual blocks
    for name, total in report["totals"].items():
        assert all(row[name] > 0 for row in report["convolutions"])
        assert abs(total - sum(row["count"] * row[name] for row in report["convolutions"])) < 0.1


def test_bench_refuses_counts_below_one():
    result = run_command(sys.executable, "-m", "ddim_nb.bench", "--convolutions", "--repeats", "0")
    assert result.returncode == 2 and "--repeats: must be a whole number of at least 1, got '0'" in result.stderr
    assert "Traceback" not in result.stderr
