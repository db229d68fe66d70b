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


def start_training(device_count, batch_size=8):
    "Start SCRIPT in a process that sees `device_count` CPU devices, without waiting for it."
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={device_count}"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT.format(batch_size=batch_size)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def finish(process):
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def losses(result):
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    devices, *values = line.split()[1:]
    return int(devices), [float(value) for value in values]


def test_two_devices_train_like_one():
    single, double = start_training(1), start_training(2)  # side by side: much of each is single-threaded start-up
    (one_devices, one), (two_devices, two) = losses(finish(single)), losses(finish(double))
    assert (one_devices, two_devices) == (1, 2)
    assert two[-1] < two[0]
    for single, parallel in zip(one, two):
        assert abs(single - parallel) < 1e-4, (one, two)


def test_batch_must_split_evenly_over_devices():
    result = finish(start_training(2, batch_size=7))
    assert result.returncode != 0
    assert "batch_size=7 does not split evenly over the 2 devices: choose a multiple of 2." in result.stderr
