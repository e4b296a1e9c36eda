"""Write the student and the teacher notebook of every teaching lab.

    python tools/make_notebooks.py OUT_DIR [--labs demos/labs/lab1_inverse_problems.py ...]

Each lab ``demos/labs/labN_*.py`` is a jupytext percent script (``# %%`` code cells, ``# %% [markdown]``
cells). Cells tagged ``exercise`` hold the skeletons students complete; cells tagged ``solution`` hold
the answers. For every lab this writes, unexecuted,

- ``OUT_DIR/teacher/labN_*.ipynb``: every cell;
- ``OUT_DIR/student/labN_*.ipynb``: every cell but the ``solution`` ones.

The notebooks are build products (not committed). Needs jupytext (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABS_DIR = ROOT / "demos" / "labs"
SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"


def lab_files() -> list[Path]:
    """The lab scripts, in order (``demos/labs/lab*_*.py``)."""
    return sorted(LABS_DIR.glob("lab*_*.py"))


def cell_tags(cell) -> set[str]:
    """The tags of a notebook cell (an empty set when it has none)."""
    return set(cell.get("metadata", {}).get("tags", []))


def read_lab(path: str | Path):
    """The lab as an nbformat notebook (jupytext percent format)."""
    import jupytext

    nb = jupytext.read(str(path), fmt="py:percent")
    nb.metadata.pop("jupytext", None)  # the .ipynb files are not paired with the script
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)  # jupytext's layout hint for the script
    return nb


def student_notebook(nb):
    """A copy of ``nb`` without the cells tagged ``solution``."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if SOLUTION_TAG not in cell_tags(c)]
    return out


def make_notebooks(out_dir: str | Path, labs: list[str | Path] | None = None) -> list[Path]:
    """Write ``teacher/`` and ``student/`` notebooks of ``labs`` (default: all) under ``out_dir``.

    :returns: the paths written.
    """
    import jupytext

    out_dir = Path(out_dir)
    paths = [Path(p) for p in labs] if labs else lab_files()
    if not paths:
        raise FileNotFoundError(f"no lab found under {LABS_DIR}")
    written = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"lab {str(path)!r} does not exist")
        nb = read_lab(path)
        n_solution = sum(SOLUTION_TAG in cell_tags(c) for c in nb.cells)
        n_exercise = sum(EXERCISE_TAG in cell_tags(c) for c in nb.cells)
        for kind, version in (("teacher", nb), ("student", student_notebook(nb))):
            target = out_dir / kind / f"{path.stem}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            jupytext.write(version, str(target), fmt="ipynb")
            written.append(target)
        print(f"{path.stem}: {n_exercise} exercise cells, {n_solution} solution cells stripped for students")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write student and teacher notebooks of the teaching labs.")
    parser.add_argument("out_dir", help="output folder (teacher/ and student/ are created in it)")
    parser.add_argument("--labs", nargs="*", help="lab scripts (default: every demos/labs/lab*_*.py)")
    args = parser.parse_args(argv)
    try:
        written = make_notebooks(args.out_dir, args.labs)
    except ImportError:
        print("make_notebooks: jupytext is missing; install the docs extra: pip install -e \".[docs]\"",
              file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"make_notebooks: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} notebooks under {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
