"""Shared helpers and fixtures of the tests from the outside: console scripts run in subprocesses, on the tiny preset."""
import csv
import os
import subprocess

import pytest

TINY = ["--preset", "tiny", "--dataset-repetitions", "1"]


def run_command(*arguments, timeout=600, cwd=None, **extra_environment):
    "Run a console script of the installed package (in the folder `cwd`); return the completed process."
    environment = {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", "DDIM_NB_RESTARTED")}
    return subprocess.run(list(arguments), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**environment, "PYTHONUNBUFFERED": "1", **extra_environment})


def history_epochs(run_dir):
    with open(run_dir / "history.csv") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    "A two-epoch tiny run, shared by the tests that only read it."
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    result = run_command("ddim-train", *TINY, "--epochs", "2", "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


