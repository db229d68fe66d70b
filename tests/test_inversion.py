"""Inversion and image-to-image from the command line on the shipped demo model: ddim-encode as a user runs it (its own
process), ddim-generate's inversion options through its entry point in this process (test_cli runs ddim-generate's own process)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_command, run_main

DEMO_MODEL = Path(__file__).resolve().parents[1] / "nbs" / "demo_model.keras"


def read_png(path):
    return np.asarray(Image.open(path), "float32") / 255


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    "A folder of three flowers: a 32-pixel RGB PNG, a larger grayscale JPEG and an RGBA PNG in a sub-folder."
    from ddim_nb.data import draw_flowers
    folder = tmp_path_factory.mktemp("inputs")
    flowers = [(image * 255).round().astype(np.uint8) for image in draw_flowers(3, 32, 32, seed=4)]
    Image.fromarray(flowers[0]).save(folder / "rose.png")
    Image.fromarray(flowers[1]).convert("L").resize((48, 64)).save(folder / "gray.jpg")
    (folder / "more").mkdir()
    Image.fromarray(flowers[2]).convert("RGBA").save(folder / "more" / "alpha.png")
    return folder


def test_encode_then_generate_reproduces_the_reconstruction(inputs, tmp_path):
    latents_file, out = tmp_path / "latents.npz", tmp_path / "decoded"
    result = run_command("ddim-encode", DEMO_MODEL, "--images", inputs, "--out", latents_file, "--steps", "5", "--batch-size", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 of 3 images" in result.stderr and "resized to 32 x 32" in result.stderr  # the grayscale JPEG is 48 x 64
    with np.load(latents_file) as saved:
        latents, names = saved["latents"], list(saved["names"])
    assert latents.shape == (3, 32, 32, 3) and names == ["gray", "more__alpha", "rose"]
    result = run_main("ddim-generate", DEMO_MODEL, "--initial-noise", latents_file, "--steps", "5", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["gray.png", "more__alpha.png", "rose.png"]

    from ddim_nb.inversion import encode, load_images
    from ddim_nb.training import load_diffusion_model
    model = load_diffusion_model(DEMO_MODEL)
    _, images = load_images(inputs, 32)
    expected_latents = encode(model, images, 5)
    np.testing.assert_allclose(latents, expected_latents, atol=1e-4)
    reconstruction = model.generate(initial_noise=expected_latents, diffusion_steps=5)
    for name, image in zip(names, reconstruction):
        np.testing.assert_allclose(read_png(out / f"{name}.png"), image, atol=1.5 / 255)


def test_image_to_image_writes_one_output_per_input(inputs, tmp_path):
    out = tmp_path / "edited"
    result = run_main("ddim-generate", DEMO_MODEL, "--init-images", inputs, "--strength", "0.6", "--steps", "5", "--seed", "3", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "strength 0.6" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == ["gray.png", "more__alpha.png", "rose.png"]

    from ddim_nb.inversion import image_to_image, load_images
    from ddim_nb.training import load_diffusion_model
    _, images = load_images(inputs, 32)
    expected = image_to_image(load_diffusion_model(DEMO_MODEL), images, 0.6, 5, seed=3)
    for name, image in zip(["gray", "more__alpha", "rose"], expected):
        np.testing.assert_allclose(read_png(out / f"{name}.png"), image, atol=1.5 / 255)
    result = run_main("ddim-generate", DEMO_MODEL, "--init-images", inputs, "--steps", "4", "--sampler", "heun", "--out", tmp_path / "heun")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "heun").iterdir())) == 3


def expect_error(result, message):
    assert result.returncode == 1, (result.returncode, result.stdout[-1000:], result.stderr[-3000:])
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-3000:]


def test_bad_inputs_are_clear_errors(inputs, tmp_path):
    (tmp_path / "empty").mkdir()
    expect_error(run_main("ddim-encode", DEMO_MODEL, "--images", tmp_path / "empty", "--out", tmp_path / "x.npz"), "No readable JPEG or PNG images")
    expect_error(run_main("ddim-generate", DEMO_MODEL, "--init-images", tmp_path / "missing", "--out", tmp_path / "x"), "does not exist")
    expect_error(run_main("ddim-generate", DEMO_MODEL, "--init-images", inputs, "--strength", "1.5", "--out", tmp_path / "x"),
                 "strength must be a number between 0 (keep the input) and 1 (start from pure noise), got 1.5")
    expect_error(run_main("ddim-generate", DEMO_MODEL, "--strength", "0.5", "--out", tmp_path / "x"), "--strength goes with --init-images")
    np.savez(tmp_path / "small.npz", latents=np.zeros((2, 16, 16, 3), "float32"))
    expect_error(run_main("ddim-generate", DEMO_MODEL, "--initial-noise", tmp_path / "small.npz", "--out", tmp_path / "x"),
                 "have shape (2, 16, 16, 3); this model needs (number, 32, 32, 3)")
    (tmp_path / "not_latents.npz").write_text("hello")
    expect_error(run_main("ddim-generate", DEMO_MODEL, "--initial-noise", tmp_path / "not_latents.npz", "--out", tmp_path / "x"),
                 "is not a latents file saved by ddim-encode")
