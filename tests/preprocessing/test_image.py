"""load_img, img_to_array, array_to_img, save_img with Keras 3's semantics and defaults."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from autoconv import utils
from autoconv.preprocessing import image


def test_public_names():
    for name in ("load_img", "img_to_array", "array_to_img", "save_img"):
        assert getattr(utils, name) is getattr(image, name)


def test_round_trip_through_a_png(tmp_path):
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3) * 10
    image.save_img(tmp_path / "a.png", x, scale=False)
    img = image.load_img(tmp_path / "a.png")
    assert img.mode == "RGB" and img.size == (3, 2)
    back = image.img_to_array(img)
    assert back.dtype == np.float32 and back.shape == (2, 3, 3)
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(
        image.img_to_array(img, data_format="channels_first"), x.transpose(2, 0, 1)
    )


def test_array_to_img_scales_and_picks_the_mode():
    x = np.array([[[-1.0], [0.0], [3.0]]])
    img = image.array_to_img(x)  # scale: min..max -> 0..255, truncated to uint8
    assert img.mode == "L"
    assert np.asarray(img).tolist() == [[0, 63, 255]]
    assert image.array_to_img(np.zeros((1, 1, 4))).mode == "RGBA"
    assert image.array_to_img(np.full((1, 1, 1), 300.0), scale=False).mode == "I"
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        image.array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="rank 3"):
        image.array_to_img(np.zeros((2, 2)))


def test_load_img_color_modes_and_resizing(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    assert image.load_img(tmp_path / "x.png", color_mode="grayscale").mode == "L"
    assert image.load_img(str(tmp_path / "x.png"), color_mode="rgba").mode == "RGBA"
    small = image.load_img(tmp_path / "x.png", target_size=(4, 6))
    # Keras's default interpolation is Pillow's "nearest"
    expected = Image.fromarray(rgb).resize((6, 4), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(np.asarray(small), np.asarray(expected))
    kept = image.load_img(
        tmp_path / "x.png", target_size=(4, 4), keep_aspect_ratio=True, interpolation="bilinear"
    )
    crop = Image.fromarray(rgb).resize((4, 4), Image.Resampling.BILINEAR, box=(2, 0, 10, 8))
    np.testing.assert_array_equal(np.asarray(kept), np.asarray(crop))
    with io.BytesIO((tmp_path / "x.png").read_bytes()) as f:
        assert image.load_img(f).size == (12, 8)
    with pytest.raises(ValueError, match="Invalid interpolation method cubic"):
        image.load_img(tmp_path / "x.png", target_size=(2, 2), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode must be"):
        image.load_img(tmp_path / "x.png", color_mode="cmyk")
    with pytest.raises(TypeError, match="path should be path-like"):
        image.load_img(42)


def test_16_bit_grayscale_is_kept_by_load_img(tmp_path):
    Image.fromarray(np.full((2, 2), 1000, np.uint16)).save(tmp_path / "g.png")
    img = image.load_img(tmp_path / "g.png", color_mode="grayscale")
    assert img.mode in ("I;16", "I") and image.img_to_array(img).max() == 1000


def test_save_img_rgba_as_jpeg_warns_and_converts(tmp_path):
    x = np.zeros((2, 2, 4))
    for kwargs, name in (({"file_format": "jpg"}, "a.out"), ({}, "b.jpg")):
        with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
            image.save_img(tmp_path / name, x, **kwargs)
        assert Image.open(tmp_path / name).mode == "RGB"
