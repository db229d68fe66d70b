"""Shared helpers and fixtures of the tests from the outside: console scripts run in subprocesses, on the tiny preset.

Every process of a test session (pytest itself and every console script it starts) uses the package's persistent JAX
compilation cache (~/.cache/ddim_nb/jax, notebook 08a), as a user's processes do: a tiny run compiles its train step, test
step and sampler once instead of once per process, and what `nbdev_test` compiled just before (the demo model, InceptionV3)
is found there too. On a clean machine the README's test command starts with an empty cache and pays each compilation once."""
import csv
import os
import subprocess

import pytest

import ddim_nb  # first: Keras on JAX, and the compilation cache set up for this process and every subprocess it starts

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
    main = {"ddim-train": cli.train_main, "ddim-generate": cli.generate_main, "ddim-encode": cli.encode_main,
            "ddim-evaluate": cli.evaluate_main, "ddim-distill": cli.distill_main}[program]
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


