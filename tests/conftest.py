"""Shared helpers and fixtures of the tests from the outside: console scripts run in subprocesses, on the tiny preset.

Every process of a test session (pytest itself and every console script it starts) shares one persistent JAX compilation
cache in a fresh folder: a tiny run compiles its train step, test step and sampler once per session instead of once per
process. The folder is new for each session, so a session on a clean checkout pays every compilation once, honestly."""
import csv
import os
import shutil
import subprocess
import tempfile

import pytest

COMPILATION_CACHE = tempfile.mkdtemp(prefix="ddim_nb-tests-jax-cache-")
os.environ.update(JAX_COMPILATION_CACHE_DIR=COMPILATION_CACHE,  # read by JAX when it starts, here and in every subprocess
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(COMPILATION_CACHE, ignore_errors=True)

TINY = ["--preset", "tiny", "--dataset-repetitions", "1"]


def run_command(*arguments, timeout=600, cwd=None, **extra_environment):
    "Run a console script of the installed package (in the folder `cwd`); return the completed process."
    environment = {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", "DDIM_NB_RESTARTED")}
    return subprocess.run(list(arguments), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**environment, "PYTHONUNBUFFERED": "1", **extra_environment})


def run_main(program, *arguments, cwd=None):
    "Run a console script's entry point in this process, as the script runs it after its restart; a CompletedProcess."
    import contextlib, io
    from ddim_nb import cli
    main = {"ddim-train": cli.train_main, "ddim-generate": cli.generate_main, "ddim-encode": cli.encode_main}[program]
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(io.StringIO()) as out, \
            contextlib.redirect_stderr(io.StringIO()) as err:
        try: code = main([str(argument) for argument in arguments]) or 0
        except SystemExit as leaving: code = leaving.code if isinstance(leaving.code, int) else int(leaving.code is not None)
    return subprocess.CompletedProcess([program, *arguments], code, out.getvalue(), err.getvalue())


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


