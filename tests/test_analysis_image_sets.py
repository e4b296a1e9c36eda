"""Tests for pnpleaves.analysis.image_sets, image_sources and plots, and the ``pnpleaves stats`` command."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_analysis_spectrum import power_law_image

from pnpleaves.analysis import (
    ImageSetStatistics,
    compare_image_sets,
    image_set_statistics,
    plot_statistics,
)
from pnpleaves.analysis.image_sets import collect_statistics, reference_name
from pnpleaves.analysis.image_sources import as_grey, count_images, iter_grey_images
from pnpleaves.errors import InputError, InputTypeError
from pnpleaves.cli import main
from pnpleaves.io import write_image


def test_input_forms_agree_and_results_are_deterministic(tmp_path):
    rgb = [np.stack([power_law_image((40, 48), 1.1, s)] * 3, axis=-1) for s in range(3)]
    rgb8 = [np.round(x * 255) / 255 for x in rgb]
    for i, x in enumerate(rgb8):
        write_image(tmp_path / f"{i}.png", x)
    a = image_set_statistics(rgb8)
    b = image_set_statistics(np.stack(rgb8))
    c = image_set_statistics(tmp_path)
    d = image_set_statistics([np.round(x * 255).astype(np.uint8) for x in rgb])
    e = image_set_statistics([x[..., :1] for x in rgb8])  # (H, W, 1) grey = the same luminance
    for other in (b, c, d, e):
        assert other.slope == pytest.approx(a.slope, abs=1e-6)
        np.testing.assert_allclose(other.hist, a.hist, atol=1e-12)
    again = image_set_statistics(rgb8)
    assert again.slope == a.slope and np.array_equal(again.hist, a.hist)
    assert image_set_statistics(tmp_path, max_images=2).n_images == 2


def test_identical_sets_have_zero_divergence_and_different_ones_do_not():
    a = [power_law_image((64, 64), 1.0, s) for s in range(3)]
    rows = compare_image_sets({"a": a, "a_again": [x.copy() for x in a], "flat": [np.full((64, 64), 0.5)]})
    assert [r.name for r in rows] == ["a", "a_again", "flat"]
    assert rows[0].is_reference and not rows[1].is_reference
    assert rows[0].kl == 0.0 and rows[0].js == 0.0
    assert rows[1].kl == 0.0 and rows[1].js == 0.0
    assert rows[2].kl > 1.0 and rows[2].js > 0.1
    assert math.isnan(rows[2].slope) and math.isnan(rows[2].r2)  # a constant image has no spectrum
    assert rows[1].slope == rows[0].slope and rows[0].n_images == 3
    rows = compare_image_sets({"a": a, "flat": [np.full((64, 64), 0.5)] * 2}, reference="a")
    assert rows[1].n_images == 2
    with pytest.raises(InputError, match="reference must be one of 'a', 'b'; got 'c'"):
        compare_image_sets({"a": a, "b": a}, reference="c")


# ------------------------------------------------------------------------------ plot and CLI
def test_plot_statistics_writes_a_png_and_refuses_to_overwrite(tmp_path):
    stats = {"a": image_set_statistics(power_law_image((64, 64), 1.0, 0)),
             "b": [power_law_image((48, 64), 1.5, 1)]}
    out = plot_statistics(stats, tmp_path / "fig.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_statistics(stats, out)
    assert plot_statistics(stats, out, overwrite=True) == out
    assert isinstance(stats["a"], ImageSetStatistics)


def _folder(path, images):
    path.mkdir()
    for i, img in enumerate(images):
        write_image(path / f"{i:02d}.png", img)
    return path


def _run_cli(capsys, *args):
    code = main(["stats", *map(str, args)])
    return code, capsys.readouterr()


def test_cli_prints_a_table(tmp_path, capsys):
    nat = _folder(tmp_path / "nat", [power_law_image((64, 64), 1.2, s) for s in range(3)])
    syn = _folder(tmp_path / "syn", [power_law_image((48, 56), 1.8, s) for s in range(2)])
    code, out = _run_cli(capsys, nat, syn, "--plot", tmp_path / "p.png")
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].split() == ["set", "images", "slope", "R^2", "KL(set||ref)", "JS(set,ref)"]
    nat_row, syn_row = lines[2].split(), lines[3].split()
    assert nat_row[:3] == ["nat", "*", "3"] and nat_row[-2:] == ["0.0000", "0.0000"]
    assert syn_row[:2] == ["syn", "2"] and float(syn_row[2]) > float(nat_row[3]) + 0.3
    assert (tmp_path / "p.png").is_file()
    # --reference reorders: the reference row comes first
    code, out = _run_cli(capsys, nat, syn, "--reference", syn, "--max-images", 1)
    assert code == 0
    rows = out.out.splitlines()[2:4]
    assert rows[0].split()[:3] == ["syn", "*", "1"] and rows[1].split()[:2] == ["nat", "1"]


def test_cli_refuses_missing_or_empty_folders(tmp_path, capsys):
    good = _folder(tmp_path / "good", [power_law_image((32, 32), 1.0, 0)])
    (tmp_path / "empty").mkdir()
    code, out = _run_cli(capsys, good, tmp_path / "missing")
    assert code == 2 and out.out == ""
    assert out.err.strip().count("\n") == 0
    assert "error: expected a folder of images" in out.err and "missing" in out.err
    code, out = _run_cli(capsys, good, tmp_path / "empty")
    assert code == 2 and out.err.strip().count("\n") == 0
    assert "found none" in out.err


# ---------------------------------------------------------------------------------- image sources
def test_image_sources_are_read_lazily_and_counted(tmp_path):
    imgs = [np.full((4, 5, 3), v) for v in (0.1, 0.5, 0.9)]
    for i, x in enumerate(imgs):
        write_image(tmp_path / f"{i}.png", x)
    assert count_images(tmp_path, None) == 3 and count_images(tmp_path, 2) == 2
    assert count_images(np.stack(imgs), None) == 3 and count_images(imgs[0], None) == 1
    assert count_images(iter(imgs), None) is None
    greys = list(iter_grey_images(iter(imgs), max_images=2))  # any iterable, stopped at max_images
    assert len(greys) == 2 and greys[1].shape == (4, 5) and greys[1].dtype == np.float64
    np.testing.assert_allclose(greys[1], 0.5)
    assert as_grey(np.full((3, 3), 255, np.uint8)).max() == 1.0
    assert as_grey(np.full((3, 3), 65535, np.uint16)).max() == 1.0
    with pytest.raises(InputTypeError, match="images must be a folder path, a NumPy array or a list"):
        list(iter_grey_images(3))
    with pytest.raises(InputError, match=r"got an array of shape \(1, 2, 2, 2, 1\)"):
        list(iter_grey_images(np.zeros((1, 2, 2, 2, 1))))
    with pytest.raises(InputTypeError, match="image 4 must hold numbers"):
        as_grey(np.full((3, 3), "a"), 4)
    with pytest.raises(InputError, match="image 0 must be at least 2x2 pixels"):
        as_grey(np.zeros((1, 5)))


def test_collect_statistics_and_reference_name():
    img = power_law_image((32, 32), 1.0, 0)
    pre = image_set_statistics(img)
    stats = collect_statistics({"pre": pre, 2: [img]})
    assert list(stats) == ["pre", "2"] and stats["pre"] is pre
    assert stats["2"].slope == pre.slope and np.array_equal(stats["2"].hist, pre.hist)
    assert reference_name(stats, None) == "pre" and reference_name(stats, 2) == "2"
    with pytest.raises(InputError, match="sets must be a non-empty dict"):
        collect_statistics({})
    with pytest.raises(InputError, match="reference must be one of 'pre', '2'; got 'x'"):
        reference_name(stats, "x")
    with pytest.raises(InputError, match="has gradient bins that differ from the reference"):
        compare_image_sets({"a": pre, "b": image_set_statistics(img, bins=10)})
