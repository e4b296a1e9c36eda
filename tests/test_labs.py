"""The teaching labs (demos/labs/): their structure, the notebook tool, and (slow) full fast-mode runs."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "demos" / "labs").glob("lab*_*.py"))


def _tool():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_five_labs():
    assert [p.name[:4] for p in LABS] == ["lab1", "lab2", "lab3", "lab4", "lab5"]


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_layout(lab):
    """Percent format, learning goals first, tagged exercises and solutions, going further, fast flag."""
    text = lab.read_text(encoding="utf-8")
    first_cell = text.split("# %%", 2)[1]
    assert first_cell.startswith(" [markdown]") and "Learning goals" in first_cell
    assert len(re.findall(r'^# %% tags=\["exercise"\]$', text, re.M)) >= 4
    assert len(re.findall(r'^# %%( \[markdown\])? tags=\["solution"\]$', text, re.M)) >= 4
    assert "## Going further" in text.rsplit("# %% [markdown]", 1)[1]
    assert 'os.environ.get("PNPLEAVES_FAST") == "1"' in text
    assert "torch.manual_seed" not in text and "np.random.seed" not in text  # local seeds only
    assert 'pretrained="download"' not in text and "load_example" not in text
    assert text.rstrip().endswith(f'print("{lab.stem}: done")')


def test_make_notebooks_strips_solutions(tmp_path):
    pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    tool = _tool()
    written = tool.make_notebooks(tmp_path)
    assert len(written) == 2 * len(LABS)
    for lab in LABS:
        teacher = nbformat.read(tmp_path / "teacher" / f"{lab.stem}.ipynb", as_version=4)
        student = nbformat.read(tmp_path / "student" / f"{lab.stem}.ipynb", as_version=4)
        tags = [set(c.metadata.get("tags", [])) for c in teacher.cells]
        n_solution = sum("solution" in t for t in tags)
        n_exercise = sum("exercise" in t for t in tags)
        assert n_solution >= 4 and n_exercise >= 4
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
        assert sum("exercise" in c.metadata.get("tags", []) for c in student.cells) == n_exercise
        assert len(student.cells) == len(teacher.cells) - n_solution
        student_code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
        assert "NotImplementedError" in student_code  # the skeletons are there...
        assert all(c.source in student_code for c in teacher.cells
                   if c.cell_type == "code" and not ({"solution"} & set(c.metadata.get("tags", []))))


def test_make_notebooks_command_line(tmp_path):
    pytest.importorskip("jupytext")
    lab = str(LABS[0])
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), str(tmp_path), "--labs", lab],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "student" / f"{LABS[0].stem}.ipynb").is_file()
    assert (tmp_path / "teacher" / f"{LABS[0].stem}.ipynb").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_runs_to_the_end(lab, tmp_path):
    """The teacher version (the script itself, every solution included) runs in fast mode from a
    foreign working directory and reaches its last cell."""
    env = dict(os.environ, PNPLEAVES_FAST="1", MPLBACKEND="Agg", PNPLEAVES_LAB_OUT=str(tmp_path / "out"))
    proc = subprocess.run([sys.executable, str(lab)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert f"{lab.stem}: done" in proc.stdout
    assert list((tmp_path / "out").rglob("*.png")), "the lab saved no figure"
