"""The installed package, seen from outside: import, backend and the config's JSON round trip."""
import json
import numpy as np
import os
import subprocess
import sys


def run_python(code, **env):
    "Run `code` in a fresh interpreter with extra environment variables."
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_import_selects_jax_backend():
    result = run_python("import ddim_nb, keras; print(keras.config.backend())", KERAS_BACKEND="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "jax"


def test_other_backend_already_loaded_is_a_clear_error():
    result = run_python("import keras, ddim_nb", KERAS_BACKEND="numpy")
    assert result.returncode != 0
    assert "already imported with the 'numpy' backend" in result.stderr
    assert "KERAS_BACKEND=jax" in result.stderr


def test_config_json_round_trip(tmp_path):
    from ddim_nb.config import get_config, load_config, save_config
    config = get_config("flowers", seed=3)
    save_config(config, tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["widths"] == [32, 64, 96, 128]
    assert load_config(tmp_path / "config.json") == config


def test_sampling_does_not_load_tensorflow():
    "Generating from a saved model needs JAX and Keras only: TensorFlow (hundreds of MB) is for the input pipeline."
    code = ("import sys, ddim_nb.training, ddim_nb.sampling\n"
            "model = ddim_nb.training.load_diffusion_model('nbs/demo_model.keras')\n"
            "print(model.generate(2, 3, seed=0).shape, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "False", result.stdout


LOSS_CURVE = """
import ddim_nb, os, numpy as np, keras, jax
compiler_options, jit = [], jax.jit
jax.jit = lambda function, **options: compiler_options.append(options.get("compiler_options")) or jit(function, **options)  # a spy
from ddim_nb.config import get_config
from ddim_nb.diffusion import DiffusionModel
keras.utils.set_random_seed(0)
images = np.random.default_rng(0).uniform(size=(8, 16, 16, 3)).astype("float32")
model = DiffusionModel(get_config("tiny"))
model.normalizer.adapt(images)
model.compile()
curve = []
record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: curve.append(float(logs["n_loss"])))
model.fit(np.tile(images, (50, 1, 1, 1)), batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[record])
noise = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
pixels = model.generate(initial_noise=noise, diffusion_steps=5, seed=0).ravel()[:50]
print(ddim_nb.CPU_SAMPLING_COMPILER_OPTIONS in compiler_options, "|", os.environ.get("XLA_FLAGS", ""), "|", " ".join(map(str, curve)), "|", " ".join(map(str, pixels)))
"""


def test_cpu_tuning_changes_speed_not_results():
    "The CPU XLA flags set at import, and the sampler's own options, must give the same 50-step loss and the same samples as XLA's defaults."
    environment = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    processes = [subprocess.Popen([sys.executable, "-c", LOSS_CURVE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**environment, "DDIM_NB_CPU_TUNING": tuning}) for tuning in ("1", "0")]  # side by side
    runs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        sampler_options, flags, curve, pixels = out.strip().splitlines()[-1].split("|")
        runs.append((flags.strip(), np.array(curve.split(), float), np.array(pixels.split(), float), sampler_options.strip()))
    from ddim_nb import CPU_XLA_FLAGS
    assert runs[0][0] == CPU_XLA_FLAGS and runs[1][0] == ""
    assert (runs[0][3], runs[1][3]) == ("True", "False")  # only the tuned run compiled its sampler with the sampling options
    assert len(runs[0][1]) == 50 and runs[0][1][-1] < runs[0][1][0]
    np.testing.assert_allclose(runs[0][1], runs[1][1], atol=1e-4)  # the loss curve, step by step
    np.testing.assert_allclose(runs[0][2], runs[1][2], atol=1e-4)  # the samples


def test_a_checkpoint_from_before_classes_loads_and_draws_the_same_images():
    "A tiny model saved by the code before class conditioning existed (tests/data, made at commit 51265e4) loads unconditional and draws what it drew then."
    code = ("import numpy as np, ddim_nb.training\n"
            "model = ddim_nb.training.load_diffusion_model('tests/data/tiny_model_before_classes.keras')\n"
            "then = np.load('tests/data/tiny_model_before_classes_samples.npy')\n"
            "now = model.generate(4, 5, seed=0)\n"
            "print(model.config.num_classes, model.network.count_params(), len(model.network.inputs), float(np.abs(now - then).max()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert result.returncode == 0, result.stderr[-2000:]
    classes, parameters, inputs, difference = result.stdout.split()
    assert (classes, parameters, inputs) == ("0", "8187", "2")
    assert float(difference) < 1e-5
