"""The documentation site (docs/): its generated pages, and (slow) the full build with warnings as errors."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _ext():
    spec = importlib.util.spec_from_file_location("pnpleaves_docs", DOCS / "_ext" / "pnpleaves_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sources_are_there():
    for page in ("conf.py", "index.md", "labs.md", "api/index.rst", "guide/installation.md", "guide/generators.md",
                 "guide/priors_training.md", "guide/restoration.md", "guide/sampling.md", "guide/analysis.md",
                 "guide/references.md", "results.md"):
        assert (DOCS / page).is_file(), page
    assert "sphinx-build -W -b html docs docs/_build/html" in (DOCS / "index.md").read_text(encoding="utf-8")


def test_results_pages_listed_when_present(tmp_path):
    ext = _ext()
    for name in ("index", "labs", "history", "results", "zeta"):
        (tmp_path / f"{name}.md").write_text("# x\n")
    assert ext.results_pages(tmp_path) == ["results", "history", "zeta"]


def test_gallery_order_puts_known_demos_first():
    order = _ext().DemoOrder("demos")
    names = ["demo_zzz.py", "demo_posterior.py", "demo_generators.py", "demo_deblur.py"]
    assert sorted(names, key=order) == ["demo_generators.py", "demo_deblur.py", "demo_posterior.py", "demo_zzz.py"]


def test_docstring_bars_are_escaped_outside_literals_and_math():
    ext = _ext()
    lines = ["Amplitude |DFT| of ``|x|`` and :math:`|x|`.", "", ".. math::", "", "   |x|^2", "", "back |y|"]
    ext._docstring_bars(None, "function", "f", None, {}, lines)
    assert lines == [r"Amplitude \|DFT\| of ``|x|`` and :math:`|x|`.", "", ".. math::", "", "   |x|^2", "",
                     r"back \|y\|"]


def test_lab_pages_mark_exercises_and_solutions(tmp_path):
    pytest.importorskip("jupytext")
    ext = _ext()
    lab = sorted((ROOT / "demos" / "labs").glob("lab1_*.py"))[0]
    page = ext.lab_page(lab)
    assert page.count(":::{admonition} Solution") >= 4
    assert page.count(":::{admonition} Exercise cell") >= 4
    assert "{download}`" + lab.name in page


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("myst_parser")
    pytest.importorskip("jupytext")
    out = tmp_path / "html"
    env = dict(os.environ, PNPLEAVES_FAST="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(DOCS), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert (out / "index.html").is_file()
    assert (out / "api" / "generated" / "pnpleaves.restoration.pnp_deblur.html").is_file()
    assert (out / "auto_examples" / "demo_deblur.html").is_file()
    assert (out / "labs.html").is_file()
    assert "sphx-glr-single-img" in (out / "auto_examples" / "demo_deblur.html").read_text(encoding="utf-8")
