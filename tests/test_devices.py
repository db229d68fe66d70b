"""Data parallelism on simulated CPU devices: two devices must train like one."""
import os
import subprocess
import sys

SCRIPT = """
import ddim_nb, numpy as np, keras
from ddim_nb.config import get_config
from ddim_nb.data import draw_flowers, preprocess_image
from ddim_nb.diffusion import DiffusionModel
from ddim_nb.training import use_all_devices
config = get_config("tiny", batch_size={batch_size})
devices = use_all_devices(config.batch_size)
keras.utils.set_random_seed(0)
images = np.stack([preprocess_image(image, 16).numpy() for image in draw_flowers(32, 16, 16, seed=0)])
model = DiffusionModel(config)
model.normalizer.adapt(images)
model.compile()
history = model.fit(images, batch_size=config.batch_size, epochs=3, shuffle=False, verbose=0)
print("RESULT", devices, *history.history["n_loss"])
"""


def train_on(device_count, batch_size=8):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={device_count}"}
    return subprocess.run([sys.executable, "-c", SCRIPT.format(batch_size=batch_size)], capture_output=True, text=True, env=env, timeout=600)


def losses(result):
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    devices, *values = line.split()[1:]
    return int(devices), [float(value) for value in values]


def test_two_devices_train_like_one():
    one_devices, one = losses(train_on(1))
    two_devices, two = losses(train_on(2))
    assert (one_devices, two_devices) == (1, 2)
    assert two[-1] < two[0]
    for single, parallel in zip(one, two):
        assert abs(single - parallel) < 1e-4, (one, two)


def test_batch_must_split_evenly_over_devices():
    result = train_on(2, batch_size=7)
    assert result.returncode != 0
    assert "batch_size=7 does not split evenly over the 2 devices: choose a multiple of 2." in result.stderr
