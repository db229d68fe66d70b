"""The installed package, seen from outside: import, backend and the config's JSON round trip."""
import json
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
