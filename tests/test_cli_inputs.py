"""Bad and unusual input to the command-line tools, as a new user types it: each is refused at once, in one line that
names the flag and the fix, and leaves the file system as it was, so that the corrected command simply works."""
import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, run_command, run_main, history_epochs


def one_line_error(result, program="ddim-train"):
    "The command failed with exit code 1 and printed exactly one line on stderr, its error, without a traceback."
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr[-3000:]
    return lines[0]


def draw_folder(folder, count, size=24, seed=9):
    folder.mkdir(parents=True, exist_ok=True)
    from ddim_nb.data import draw_flowers
    for index, image in enumerate(draw_flowers(count, size, size, seed=seed)): Image.fromarray(image).save(folder / f"{index:03d}.png")
    return folder


# 1. A failed start leaves no run folder behind, so the corrected command works.
@pytest.mark.parametrize("arguments, message", [
    (["--data-dir", "{tmp}/missing"], "The image folder {tmp}/missing does not exist or is not a folder: pass an existing folder as --data-dir."),
    (["--data-dir", "{tmp}/few", "--batch-size", "8"],
     "The validation split of image_folder has 2 image(s) (the folder's 10 readable images are split 80%/20% into training and "
     "validation), fewer than one batch of 8 even repeated 1 time(s): add images, or lower --batch-size to at most 2."),
    (["--kid-encoder", "inception_v3", "--kid-weights", "{tmp}/no_such_weights.h5"],
     "KID weights '{tmp}/no_such_weights.h5' is neither 'imagenet' nor 'none'"),
    (["--kid-weights", "imagenet"], "--kid-encoder 'small' has random weights only, got --kid-weights imagenet"),
    (["--kid-image-size", "10"], "--kid-image-size must be at least 75 (the smallest input of KID's InceptionV3), got 10."),
    (["--batch-size", "1"], "--batch-size must be at least 2, got 1: KID compares each validation batch"),
    (["--warmup-steps", "100"], "--warmup-steps 100 is the warmup of the cosine schedule, and --learning-rate-schedule is constant: "
                                "set --learning-rate-schedule cosine, or leave --warmup-steps out."),
    (["--learning-rate-schedule", "cosine", "--warmup-steps", "1000"],
     "The cosine schedule must end after its warmup: it ends at step 16 (a new run's last step), got --warmup-steps 1000: train for more epochs"),
])
def test_a_failed_start_leaves_nothing_behind(arguments, message, tmp_path):
    draw_folder(tmp_path / "few", 10)
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    start = time.time()
    line = one_line_error(run_main("ddim-train", *TINY, *arguments, cwd=tmp_path))
    assert message.format(tmp=tmp_path) in line, line
    assert time.time() - start < 120
    assert not (tmp_path / "runs").exists(), list((tmp_path / "runs").iterdir())  # no runs/<preset>-<time>/ left by a failed try


def test_a_corrected_rerun_works_in_the_same_folder(tmp_path):
    images = draw_folder(tmp_path / "images", 12)
    run_dir = tmp_path / "run"
    one_line_error(run_main("ddim-train", *TINY, "--data-dir", str(images), "--batch-size", "8", "--run-dir", str(run_dir)))
    assert not run_dir.exists()
    result = run_main("ddim-train", *TINY, "--epochs", "1", "--data-dir", str(images), "--batch-size", "2", "--run-dir", str(run_dir),
                      "--kid-encoder", "inception_v3")  # the one test run that builds KID's real network (random weights)
    assert result.returncode == 0, result.stderr[-3000:]
    assert history_epochs(run_dir) == [0]
    assert "KID uses an InceptionV3 with random weights" in result.stdout
    kid = [float(row["val_kid"]) for row in csv.DictReader(open(run_dir / "history.csv"))]
    assert len(kid) == 1 and np.isfinite(kid[0])


# 2. A file that Pillow opens but TensorFlow cannot decode is skipped and named, not fatal.
def test_a_file_only_pillow_can_read_is_skipped_and_named(tmp_path):
    images = draw_folder(tmp_path / "images", 20)
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(images / "tiff_data.png", format="TIFF")
    result = run_command("ddim-train", *TINY, "--epochs", "1", "--batch-size", "2", "--data-dir", str(images), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Skipped 1 of 21 image files in {images} that could not be decoded: tiff_data.png" in result.stderr
    assert "Traceback" not in result.stderr and "UserWarning" not in result.stderr


# 3. ddim-generate checks every argument before loading the model.
@pytest.mark.parametrize("arguments, message", [
    (["--batch-size", "0"], "--batch-size must be a whole number of at least 1, got 0."),
    (["--batch-size", "-2"], "--batch-size must be a whole number of at least 1, got -2."),
    (["--num-images", "0"], "--num-images must be a whole number of at least 1, got 0."),
    (["--steps", "0"], "--steps must be a whole number of at least 1, got 0."),
    (["--sampler", "ddpm", "--eta", "0.5"], "sampler 'ddpm' always uses --eta 1, got --eta 0.5: for partial noise use --sampler ddim with --eta 0.5."),
])
def test_generate_checks_arguments_before_loading(arguments, message, tmp_path):
    "The model path does not exist: an argument error must come first, and no output folder is made."
    line = one_line_error(run_main("ddim-generate", str(tmp_path / "no_model_yet"), *arguments, "--out", str(tmp_path / "out")), "ddim-generate")
    assert message in line, line
    assert not (tmp_path / "out").exists()


# 4. Output paths.
def test_generate_output_paths(trained_run, tmp_path):
    run_dir, _ = trained_run
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    line = one_line_error(run_main("ddim-generate", str(run_dir), "--out", str(a_file)), "ddim-generate")
    assert f"--out {a_file} is a file, not a folder: choose another --out FOLDER." in line
    line = one_line_error(run_main("ddim-generate", str(run_dir), "--out", str(a_file / "below")), "ddim-generate")
    assert f"Cannot create the folder --out {a_file / 'below'}: {a_file} is a file, not a folder." in line
    out = tmp_path / "out"
    assert run_main("ddim-generate", str(run_dir), "--num-images", "4", "--steps", "2", "--out", str(out)).returncode == 0
    line = one_line_error(run_main("ddim-generate", str(run_dir), "--num-images", "2", "--steps", "2", "--out", str(out)), "ddim-generate")
    assert f"{out} already holds 5 generated image(s)" in line and "--overwrite" in line
    result = run_main("ddim-generate", str(run_dir), "--num-images", "2", "--steps", "2", "--out", str(out), "--overwrite")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(path.name for path in out.iterdir()) == ["grid.png", "image_0000.png", "image_0001.png"]


# 5. Resume keeps the saved config.
def test_resume_never_rewrites_the_config_but_for_more_epochs(trained_run, tmp_path):
    run_dir, _ = trained_run
    saved = (run_dir / "config.json").read_bytes()
    start = time.time()
    result = run_command("ddim-train", "--resume", str(run_dir))
    assert result.returncode == 0 and "has already finished its 2 epochs" in result.stdout and "Resuming" not in result.stdout
    assert time.time() - start < 30, "a finished run is reported before any data or model is loaded"
    line = one_line_error(run_main("ddim-train", "--resume", str(run_dir), "--epochs", "1"))
    assert "is a run of 2 epochs with 2 finished: a resumed run's epochs can only grow, got --epochs 1." in line
    line = one_line_error(run_main("ddim-train", "--resume", str(run_dir), "--preset", "flowers"))
    assert "only --epochs may be given with it (got --preset)" in line
    assert (run_dir / "config.json").read_bytes() == saved


def test_resume_refuses_an_invalid_saved_config(trained_run, tmp_path):
    run_dir = tmp_path / "copy"
    (run_dir / "checkpoints").mkdir(parents=True)
    config = json.loads((trained_run[0] / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "batch_size": 0}))
    line = one_line_error(run_main("ddim-train", "--resume", str(run_dir)))
    assert "The run's saved config cannot be used: --batch-size must be a positive whole number, got 0." in line


# 6. --help explains every flag.
def test_help_explains_every_flag():
    result = run_main("ddim-train", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for expected in ["--dataset DATASET where the training images come from: one of synthetic_flowers, oxford_flowers102, image_folder",
                     "--kid-weights KID_WEIGHTS KID encoder's weights: imagenet (downloaded once), none (random, offline) or a weights file (default: imagenet in flowers, none in demo, none in tiny)",
                     "--prediction-target PREDICTION_TARGET what the network predicts: one of noise, image, velocity (default: noise)",
                     "--data-dir DIR alone trains on a folder", "split 80/20 into training and validation",
                     "--coordinator-address HOST:PORT", "--process-id I"]:
        assert expected in text, expected
    from ddim_nb.config import DDIMConfig
    from dataclasses import fields
    from ddim_nb.config import _NOT_FLAGS
    assert text.count("(default: ") == len(fields(DDIMConfig)) - len(_NOT_FLAGS) + 2  # the config fields but those filled in, --preset, --run-dir


# 8. A quiet console, and Ctrl-C in one line.
def test_a_tiny_run_prints_only_its_own_lines_before_training(trained_run):
    "Everything before the first progress bar is ddim_nb's own: no TensorFlow, absl or TFDS lines, on either stream."
    _, result = trained_run
    before = result.stdout[:result.stdout.index("Epoch 1/")].splitlines()
    assert 2 <= len(before) <= 3, before  # devices, KID weights, and the one-time drawing of the embedded data
    noise = [line for line in result.stderr.splitlines() + before
             if any(word in line for word in ("absl", "tensorflow", "oneDNN", "cache_dataset_ops", "Variant folder", "dataset_info"))
             or line[:5].strip() and line[0] in "IWEF" and line[1:5].isdigit()]
    assert not noise, noise
    assert not result.stderr.strip(), result.stderr[-2000:]


def test_ctrl_c_stops_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(["ddim-train", *TINY, "--dataset-repetitions", "200", "--run-dir", str(run_dir)],  # 1600 steps in epoch 1
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal, even if this test runs in the background
    for line in process.stdout:
        if line.startswith("Epoch 1/"): break
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and lines == ["ddim-train: interrupted before the first checkpoint; the run folder was removed."], lines[-3:]
    assert not run_dir.exists()  # removed: it held no checkpoint
