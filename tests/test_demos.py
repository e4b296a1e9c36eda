"""The demo gallery (demos/demo_*.py): sphinx-gallery layout, and (slow) every demo runs in fast mode."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMOS = sorted((ROOT / "demos").glob("demo_*.py"))


def test_gallery_has_a_header_and_the_demos():
    assert (ROOT / "demos" / "GALLERY_HEADER.rst").is_file()
    names = {p.stem for p in DEMOS}
    assert {"demo_generators", "demo_train_tiny", "demo_deblur", "demo_super_resolution", "demo_inpainting",
            "demo_noise_level", "demo_prior_samples", "demo_posterior"} <= names


@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.stem)
def test_demo_is_a_gallery_example(demo):
    """A raw docstring with an underlined title, `# %%` cells, and the fast flag."""
    text = demo.read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text), clean=False)
    assert doc, f"{demo.name}: sphinx-gallery needs a module docstring"
    lines = doc.strip("\n").splitlines()
    assert len(lines) >= 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), \
        f"{demo.name}: the docstring must open with a title underlined by '='"
    assert "# %%" in text
    assert "PNPLEAVES_FAST" in text


@pytest.mark.slow
@pytest.mark.parametrize("demo", DEMOS, ids=lambda p: p.stem)
def test_demo_runs_in_fast_mode(demo, tmp_path):
    env = dict(os.environ, PNPLEAVES_FAST="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(demo)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
