"""Class-conditional training and guidance from the command line (issue 17): train, resume, generate a class, and the errors."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, history_epochs, run_main
from ddim_nb.data import PETAL_FAMILIES, draw_flowers


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    "Two classes of 30 flowers each, one sub-folder per class, named after it."
    folder = tmp_path_factory.mktemp("classes")
    for family in ("pinks", "blues"):
        (folder / family).mkdir()
        for index, image in enumerate(draw_flowers(30, 40, 40, seed=9, family=PETAL_FAMILIES.index(family))):
            Image.fromarray(image).save(folder / family / f"{index:02d}.png")
    return folder


@pytest.fixture(scope="module")
def conditional_run(class_folder, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("conditional") / "run"
    result = run_main("ddim-train", *TINY, "--data-dir", str(class_folder), "--num-classes", "auto", "--epochs", "1", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_a_conditional_run_trains_and_resumes(conditional_run):
    run_dir, result = conditional_run
    assert "Class-conditional: 2 classes (blues, pinks)." in result.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["num_classes"], config["class_names"], config["class_dropout"]) == (2, ["blues", "pinks"], 0.1)
    grid = np.asarray(Image.open(run_dir / "samples" / "epoch_001.png"))
    assert grid.shape[0] == (2 * (16 + 2) + 2) * 6  # one row per class, 16 px images enlarged 6 times
    resumed = run_main("ddim-train", "--resume", str(run_dir), "--epochs", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and history_epochs(run_dir) == [0, 1]
    assert json.loads((run_dir / "config.json").read_text())["class_names"] == ["blues", "pinks"]


def test_generate_asks_for_classes_by_name_or_index(conditional_run, tmp_path):
    run_dir, _ = conditional_run
    result = run_main("ddim-generate", str(run_dir), "--class", "pinks", "--class", "0", "--num-images", "3", "--steps", "2",
                         "--guidance", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Wrote 6 images of pinks, 0 at guidance 2 and grid.png" in result.stdout
    assert len(list((tmp_path / "out").glob("image_*.png"))) == 6
    grid = np.asarray(Image.open(tmp_path / "out" / "grid.png"))
    assert grid.shape[:2] == ((2 * 18 + 2) * 6, (3 * 18 + 2) * 6)  # a row per class, --num-images columns


@pytest.mark.parametrize("arguments, message", [
    (["--class", "greens"], "ddim-generate: error: Unknown class 'greens': this model knows blues, pinks."),
    (["--class", "7"], "ddim-generate: error: Class index 7 is out of range: this model has 2 classes, 0 to 1."),
    (["--guidance", "2"], "ddim-generate: error: --guidance goes with --class."),
    (["--class", "pinks", "--guidance", "-1"], "ddim-generate: error: --guidance must be a number of at least 0"),
])
def test_bad_classes_are_refused_in_one_line(conditional_run, tmp_path, arguments, message):
    result = run_main("ddim-generate", str(conditional_run[0]), *arguments, "--steps", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_a_class_for_an_unconditional_model_is_refused(trained_run, tmp_path):
    result = run_main("ddim-generate", str(trained_run[0]), "--class", "pinks", "--steps", "2", "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "holds an unconditional model (trained with --num-classes 0): it has no classes to ask for" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_classes_must_exist_in_the_data(class_folder, tmp_path):
    result = run_main("ddim-train", *TINY, "--data-dir", str(class_folder), "--num-classes", "3", "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "--num-classes 3, but the data set has 2 classes (blues, pinks): use --num-classes auto or --num-classes 2." in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_conditional_model_is_distilled_at_a_fixed_guidance(conditional_run, tmp_path):
    "The student learns the teacher's guided predictions (guidance 3 unless told) and samples a class with them built in."
    result = run_main("ddim-distill", str(conditional_run[0]), "--steps", "2", "--teacher-steps", "4", "--epochs-per-round", "1",
                      "--run-dir", str(tmp_path / "student"))
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert (config["distilled_steps"], config["distillation_guidance"], config["class_names"]) == (2, 3.0, ["blues", "pinks"])
    generated = run_main("ddim-generate", str(tmp_path / "student"), "--class", "pinks", "--steps", "2", "--num-images", "2",
                         "--out", str(tmp_path / "out"))
    assert generated.returncode == 0, generated.stderr[-3000:]
    refused = run_main("ddim-generate", str(tmp_path / "student"), "--class", "pinks", "--steps", "2", "--guidance", "5",
                       "--out", str(tmp_path / "other"))
    assert refused.returncode == 1 and "This student has guidance 3 built in, got --guidance 5" in refused.stderr
