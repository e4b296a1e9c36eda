"""Tests for pnpleaves.io (image files, NumPy <-> torch) and pnpleaves._checks (validation messages and types)."""

from __future__ import annotations

import gc
import re
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from pnpleaves._checks import check_choice, check_number, check_range_pair, check_size
from pnpleaves.errors import InputError, InputTypeError, UserError
from pnpleaves.images import to_numpy, to_tensor
from pnpleaves.io import list_images, read_image, write_image

RNG = np.random.default_rng(0)


def _png_header(path):
    """(width, height, bit depth, colour type) from the IHDR chunk of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">IIBB", data[16:26])


# ----------------------------------------------------------------------------------------- io
@pytest.mark.parametrize("shape", [(5, 7, 3), (37, 51, 3), (6, 4, 1)])
def test_8bit_png_round_trip_is_exact_on_the_grid(tmp_path, shape):
    levels = RNG.integers(0, 256, size=shape)
    img = (levels / 255).astype(np.float32)
    path = write_image(tmp_path / "a.png", img)
    assert _png_header(path)[2] == 8
    back = read_image(path)
    assert back.dtype == np.float32 and back.shape == shape
    np.testing.assert_array_equal(np.round(back * 255).astype(int), levels)
    # off-grid values are rounded to the nearest level
    x = RNG.random(shape).astype(np.float32)
    back = read_image(write_image(tmp_path / "b.png", x))
    assert np.abs(back - x).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("shape", [(5, 7, 3), (37, 51, 3), (9, 6), (6, 4, 4)])
def test_16bit_png_round_trip_keeps_16_bits(tmp_path, shape):
    levels = RNG.integers(0, 65536, size=shape)
    img = levels / 65535
    path = write_image(tmp_path / "a.png", img, bit_depth=16)
    width, height, depth, colour_type = _png_header(path)
    assert (height, width, depth) == (shape[0], shape[1], 16)
    channels = 1 if len(shape) == 2 else shape[-1]
    assert colour_type == {1: 0, 3: 2, 4: 6}[channels]  # PNG colour types: grey, RGB, RGBA
    back = read_image(path)
    keep = 3 if len(shape) == 3 else 1  # alpha is dropped on reading; grey reads as (H, W, 1)
    expected = levels[..., :keep] if len(shape) == 3 else levels[..., None]
    assert back.shape == expected.shape
    np.testing.assert_array_equal(np.round(back.astype(np.float64) * 65535).astype(int), expected)


def test_16bit_colour_png_is_a_valid_png_for_pillow(tmp_path):
    levels = RNG.integers(0, 65536, size=(8, 5, 3))
    path = write_image(tmp_path / "a.png", levels / 65535, bit_depth=16)
    # Pillow decodes 16-bit RGB files to 8 bits by keeping the high byte: an independent decoder
    np.testing.assert_array_equal(np.asarray(Image.open(path)), levels >> 8)


def _png16_with_filters(levels):
    """A 16-bit RGB PNG whose rows use the five PNG filter types in turn (PNG spec section 9)."""
    h, w, c = levels.shape
    rows = np.ascontiguousarray(levels.astype(">u2")).view(np.uint8).reshape(h, w * c * 2).astype(int)
    bpp = 2 * c
    out = b""
    prev = np.zeros(w * c * 2, int)
    for y in range(h):
        kind, raw = y % 5, rows[y]
        left = np.concatenate([np.zeros(bpp, int), raw[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, int), prev[:-bpp]])
        if kind == 0:
            pred = np.zeros_like(raw)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        out += bytes([kind]) + bytes(((raw - pred) % 256).astype(np.uint8))
        prev = raw

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(out)) + chunk(b"IEND", b"")


def test_16bit_colour_png_with_every_row_filter_is_read_exactly(tmp_path):
    levels = RNG.integers(0, 65536, size=(10, 9, 3))
    path = tmp_path / "filtered.png"
    path.write_bytes(_png16_with_filters(levels))
    back = read_image(path)
    np.testing.assert_array_equal(np.round(back.astype(np.float64) * 65535).astype(int), levels)


def test_grey_reads_as_hw1_and_channel_conversions(tmp_path):
    grey = RNG.integers(0, 256, size=(6, 8)).astype(np.uint8)
    iio.imwrite(tmp_path / "g.png", grey)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (6, 8, 1) and img.dtype == np.float32
    np.testing.assert_array_equal(np.round(img[..., 0] * 255), grey)
    rgb = read_image(tmp_path / "g.png", channels=3)
    assert rgb.shape == (6, 8, 3) and np.array_equal(rgb[..., 0], rgb[..., 2])
    colour = RNG.integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
    iio.imwrite(tmp_path / "c.png", colour)
    y = read_image(tmp_path / "c.png", channels=1)
    assert y.shape == (4, 5, 1)
    np.testing.assert_allclose(y[..., 0], colour @ np.array([0.299, 0.587, 0.114]) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="channels must be None, 1 or 3; got 2"):
        read_image(tmp_path / "c.png", channels=2)


def test_write_refuses_to_overwrite(tmp_path):
    path = write_image(tmp_path / "x.png", np.zeros((4, 4, 3)))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=re.escape(f"{str(path)!r} already exists; pass overwrite=True")):
        write_image(path, np.ones((4, 4, 3)))
    assert path.read_bytes() == before
    write_image(path, np.ones((4, 4, 3)), overwrite=True)
    assert read_image(path).min() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no temporary file left behind


def test_write_errors_name_the_parameter_and_value(tmp_path):
    with pytest.raises(ValueError, match="bit_depth must be 8 or 16; got 12"):
        write_image(tmp_path / "a.png", np.zeros((2, 2)), bit_depth=12)
    with pytest.raises(ValueError, match=r"bit_depth=16 needs a \.png or \.tif file"):
        write_image(tmp_path / "a.jpg", np.zeros((2, 2, 3)), bit_depth=16)
    with pytest.raises(ValueError, match="img must contain finite values in \\[0, 1\\]; got NaN or inf"):
        write_image(tmp_path / "a.png", np.full((2, 2), np.nan))
    assert list(tmp_path.iterdir()) == []


def test_16bit_tiff_round_trip(tmp_path):
    levels = RNG.integers(0, 65536, size=(5, 6, 3))
    back = read_image(write_image(tmp_path / "a.tif", levels / 65535, bit_depth=16))
    np.testing.assert_array_equal(np.round(back.astype(np.float64) * 65535).astype(int), levels)


def test_read_and_list_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    for _ in range(3):  # imageio tries every plugin; none may leave the file open (ResourceWarning)
        with pytest.raises(ValueError, match="could not read .*bad.png.* as an image"):
            read_image(tmp_path / "bad.png")
    gc.collect()
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        list_images(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="found none"):
        list_images(tmp_path / "empty")


def test_list_images_is_sorted_and_filters_suffixes(tmp_path):
    for name in ["b.png", "a.JPG", "c.txt", "d.bmp"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "e.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "d.bmp"]


def test_tensor_round_trip():
    img = RNG.random((5, 7, 3)).astype(np.float32)
    t = to_tensor(img)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    img[0, 0, 0] = 42.0  # the tensor does not share memory with the caller's array
    assert t[0, 0, 0, 0] != 42.0
    back = to_numpy(t)
    np.testing.assert_array_equal(back[1:], img[1:])
    assert to_tensor(img[..., 0]).shape == (1, 1, 5, 7)
    assert to_numpy(t[0]).shape == (5, 7, 3)
    with pytest.raises(ValueError, match=r"batch of one image; got shape \(2, 3, 5, 7\)"):
        to_numpy(torch.zeros(2, 3, 5, 7))


# ------------------------------------------------------------------------------------- checks
def test_check_number_accepts_and_converts():
    assert check_number(3, "x") == 3.0 and isinstance(check_number(3, "x"), float)
    assert check_number(4.0, "n", integer=True) == 4 and isinstance(check_number(4.0, "n", integer=True), int)
    assert check_number(np.float32(0.5), "x", low=0, high=1) == 0.5
    assert check_number(0, "x", low=0) == 0.0 and check_number(1, "x", high=1) == 1.0  # inclusive by default


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (-1, dict(low=0, low_inclusive=False), "r_min must be a finite number > 0; got -1."),
        (0, dict(low=0, low_inclusive=False), "r_min must be a finite number > 0; got 0."),
        (5, dict(low=1, high=4), "r_min must be a finite number >= 1 and <= 4; got 5."),
        (4, dict(high=4, high_inclusive=False), "r_min must be a finite number < 4; got 4."),
        (float("nan"), dict(low=0), "r_min must be a finite number >= 0; got nan."),
        (float("inf"), {}, "r_min must be a finite number; got inf."),
        (2.5, dict(integer=True, low=1), "r_min must be an integer >= 1; got 2.5."),
    ],
)
def test_check_number_value_errors_name_parameter_value_and_range(value, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_number(value, "r_min", **kwargs)


def test_check_number_type_errors_and_hint():
    with pytest.raises(TypeError, match=re.escape("alpha must be a finite number; got 'a' of type str.")):
        check_number("a", "alpha")
    with pytest.raises(TypeError, match="got True of type bool"):
        check_number(True, "alpha")
    with pytest.raises(TypeError, match="got None of type NoneType"):
        check_number(None, "alpha")
    with pytest.raises(ValueError, match=re.escape("got -2. Use alpha = 3 for scale invariance.")):
        check_number(-2, "alpha", low=0, hint="Use alpha = 3 for scale invariance.")


def test_check_choice():
    assert check_choice("uniform", "color", ["uniform", "natural"]) == "uniform"
    with pytest.raises(ValueError, match=re.escape("color must be one of 'uniform', 'natural'; got 'rgb'. Try x.")):
        check_choice("rgb", "color", ["uniform", "natural"], hint="Try x.")


def test_check_size():
    assert check_size(64) == (64, 64)
    assert check_size((32, 48)) == (32, 48) and check_size([5.0, 7]) == (5, 7)
    with pytest.raises(ValueError, match=re.escape("size must be an integer >= 1; got 0. Give the image side")):
        check_size(0)
    with pytest.raises(ValueError, match=re.escape("size must be an integer >= 1; got 2.5.")):
        check_size((2.5, 4))
    with pytest.raises(ValueError, match=re.escape("shape must be an int or a pair (height, width); got (1, 2, 3).")):
        check_size((1, 2, 3), "shape")


def test_check_range_pair():
    assert check_range_pair((1, 2), "r", low=0) == (1.0, 2.0)
    assert check_range_pair([3, 3], "r") == (3.0, 3.0)
    with pytest.raises(ValueError, match=re.escape("r must satisfy lo <= hi; got (2, 1). Swap the two values.")):
        check_range_pair((2, 1), "r")
    with pytest.raises(ValueError, match=re.escape("r[1] must be a finite number >= 0 and <= 1; got 2.")):
        check_range_pair((0.5, 2), "r", low=0, high=1)
    with pytest.raises(ValueError, match=re.escape("r must be a pair (lo, hi); got 3.")):
        check_range_pair(3, "r")


@pytest.mark.parametrize("call, kind", [
    (lambda: check_number(-1, "x", low=0), InputError),
    (lambda: check_number(float("nan"), "x"), InputError),
    (lambda: check_number(2.5, "x", integer=True), InputError),
    (lambda: check_number("a", "x"), InputTypeError),
    (lambda: check_number(None, "x"), InputTypeError),
    (lambda: check_choice("c", "x", ["a", "b"]), InputError),
    (lambda: check_size((1, 2, 3)), InputError),
    (lambda: check_size("big"), InputTypeError),
    (lambda: check_range_pair(3, "r"), InputError),
    (lambda: check_range_pair((2, 1), "r"), InputError),
])
def test_checks_raise_user_errors_that_are_value_and_type_errors(call, kind):
    """The CLI prints UserErrors as one line; the classes stay ValueError / TypeError for callers."""
    with pytest.raises(kind) as info:
        call()
    assert isinstance(info.value, UserError)
    assert isinstance(info.value, ValueError if kind is InputError else TypeError)
