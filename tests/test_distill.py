"""Progressive distillation from the command line (issue 26): two rounds from a tiny run, killed in the second round and
continued by the same command, the student generating and measured like any run, and the one-line errors."""
import json
import signal
import subprocess
import time

import pytest

from conftest import history_epochs, run_command, run_main
from ddim_nb.runs import RunFolder

DISTILL = ["--steps", "2", "--teacher-steps", "8", "--epochs-per-round", "3"]


@pytest.fixture(scope="module")
def distilled(trained_run, tmp_path_factory):
    "A distillation 8 -> 4 -> 2 of the tiny run, killed after the first epoch of its second round, then run again."
    student_dir = tmp_path_factory.mktemp("distilled") / "student"
    command = ["ddim-distill", str(trained_run[0]), *DISTILL, "--run-dir", str(student_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = RunFolder(student_dir / "rounds" / "round_2_2_steps")
    deadline = time.time() + 400
    while not second.last_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # as a crash: no chance to clean up
    process.wait()
    first = RunFolder(student_dir / "rounds" / "round_1_4_steps")
    killed = dict(first_round=first.last_checkpoint.stat().st_mtime_ns, second_round_epochs=second.finished_epochs())
    result = run_command(*command)
    return student_dir, killed, result


def test_a_killed_distillation_continues_where_it_stopped(distilled):
    student_dir, killed, result = distilled
    assert 1 <= killed["second_round_epochs"] < 3, killed  # killed inside the second round
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Round 1 of 2: 8 steps -> 4: already done" in result.stdout
    assert f"Resuming {student_dir / 'rounds' / 'round_2_2_steps'} after epoch" in result.stdout
    first = RunFolder(student_dir / "rounds" / "round_1_4_steps")
    assert first.last_checkpoint.stat().st_mtime_ns == killed["first_round"]  # the finished round was not trained again
    assert history_epochs(first.path) == [0, 1, 2] and history_epochs(student_dir / "rounds" / "round_2_2_steps") == [0, 1, 2]
    record = json.loads((student_dir / "distillation.json").read_text())
    assert record["settings"]["steps"] == 2 and sorted(record["minutes"]) == ["2", "4"]
    assert json.loads((student_dir / "config.json").read_text())["distilled_steps"] == 2
    assert (student_dir / "rounds.png").is_file() and (student_dir / "rounds" / "round_2_2_steps" / "samples" / "epoch_003.png").is_file()


def test_the_student_generates_and_is_measured_like_any_run(distilled, tmp_path):
    student_dir = distilled[0]
    result = run_command("ddim-generate", str(student_dir), "--steps", "2", "--num-images", "4", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("image_*.png"))) == 4
    refused = run_main("ddim-generate", str(student_dir), "--out", str(tmp_path / "other"))
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "ddim-generate: error: This model is a student distilled for 2 steps, got --steps 20: sample it with --steps 2, "
        "or use its teacher for other step counts.")
    measured = run_main("ddim-evaluate", str(student_dir), "--steps", "2", "--num-images", "40", "--subsets", "2", "--json", "-")
    assert measured.returncode == 0, measured.stderr[-3000:]
    assert json.loads(measured.stdout)["network_evaluations"] == 2


@pytest.mark.parametrize("arguments, message", [
    (["--steps", "3", "--teacher-steps", "8"], "--steps 3 is not the teacher's 8 steps halved a whole number of times: choose one of 4, 2, 1."),
    (["--steps", "16", "--teacher-steps", "8"], "--steps 16 is not fewer than the teacher's 8 steps: each round halves the steps, so ask for 4 or fewer."),
    (["--steps", "2", "--teacher-steps", "0"], "--teacher-steps must be a whole number of at least 1, got 0."),
])
def test_distill_refuses_bad_steps_in_one_line(trained_run, tmp_path, arguments, message):
    result = run_main("ddim-distill", str(trained_run[0]), *arguments, "--run-dir", str(tmp_path / "student"))
    assert result.returncode == 1 and result.stderr.strip() == f"ddim-distill: error: {message}", result.stderr[-2000:]
    assert not (tmp_path / "student").exists()


def test_distill_refuses_a_run_without_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_main("ddim-distill", str(tmp_path / "empty"), "--steps", "4")
    assert result.returncode == 1 and result.stderr.strip() == (
        f"ddim-distill: error: {tmp_path / 'empty'} holds no checkpoint (checkpoints/best.keras or last.keras): "
        "train it for at least one epoch first.")
