"""The public API, listed: a name added or removed here is a deliberate change of the API.

Run ``python tests/test_api_surface.py`` to print the current surface (to update EXPECTED after a
deliberate change).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

#: the modules whose ``__all__`` is the public API
PUBLIC_MODULES = [
    "pnpleaves", "pnpleaves.images", "pnpleaves.io", "pnpleaves.metrics", "pnpleaves.errors",
    "pnpleaves.generators", "pnpleaves.models", "pnpleaves.priors", "pnpleaves.restoration",
    "pnpleaves.sampling", "pnpleaves.analysis", "pnpleaves.training",
]

EXPECTED: dict[str, list[str]] = {}  # filled below from the snapshot


def surface() -> dict[str, list[str]]:
    return {m: sorted(getattr(importlib.import_module(m), "__all__", [])) for m in PUBLIC_MODULES}


SNAPSHOT = Path(__file__).with_name("api_surface.txt")


def _read_snapshot() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in SNAPSHOT.read_text().splitlines():
        if line.strip():
            module, names = line.split(":", 1)
            out[module.strip()] = sorted(names.split())
    return out


def test_every_public_module_declares_all():
    for m in PUBLIC_MODULES:
        assert hasattr(importlib.import_module(m), "__all__"), m


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_names_match_the_listed_surface(module):
    expected = _read_snapshot()[module]
    actual = surface()[module]
    assert actual == expected, (f"added: {sorted(set(actual) - set(expected))}, "
                                f"removed: {sorted(set(expected) - set(actual))}")


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_listed_name_exists(module):
    mod = importlib.import_module(module)
    missing = [n for n in mod.__all__ if not hasattr(mod, n) and getattr(mod, n, None) is None]
    assert not missing, missing


def test_names_used_in_the_readme_exist():
    import pnpleaves

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    used = set(re.findall(r"\bpl\.([A-Za-z_]\w*)", text))
    assert used, "the README quick start uses `import pnpleaves as pl`"
    assert not [n for n in used if not hasattr(pnpleaves, n)]


if __name__ == "__main__":  # print the current surface in the snapshot's format
    for m, names in surface().items():
        print(f"{m}: {' '.join(names)}")
