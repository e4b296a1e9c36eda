"""The layout rules of the package, checked on its source with ``ast`` (imports inside functions count).

1. No import cycle among ``pnpleaves`` modules.
2. Layers import only downward: base <- generators, models <- priors <- restoration, sampling, analysis;
   training uses generators, models, priors (files); only ``cli`` imports ``training``; nothing imports
   ``cli`` but ``cli``; nothing in the package imports ``benchmarks``, ``research`` or ``demos``.
3. ``argparse`` only under ``pnpleaves/cli/``; imports inside functions only for optional heavy
   dependencies.
4. No ``_private`` name imported from another module (tests included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pnpleaves"

#: subpackage -> subpackages (and "base") it may import
ALLOWED = {
    "base": {"base"},
    "generators": {"base", "generators"},
    "models": {"base", "models"},
    "priors": {"base", "models", "priors"},
    "restoration": {"base", "models", "priors", "restoration"},
    "sampling": {"base", "models", "priors", "generators", "sampling"},
    "analysis": {"base", "models", "priors", "generators", "restoration", "analysis"},
    "training": {"base", "models", "priors", "generators", "training"},
    "cli": {"base", "models", "priors", "generators", "restoration", "sampling", "analysis", "training", "cli"},
}
#: optional or heavy third-party modules that may be imported inside a function
LAZY_OK = {"bm3d", "matplotlib", "h5py", "imageio", "skimage", "scipy", "tqdm", "torch.distributed",
           "openvino", "onnxruntime"}  # the inference engines: optional extras


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        mods[name] = path
    return mods


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _imports(module: str, path: Path):
    """(imported module, imported names, inside a function?) for every import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []  # a module-level __getattr__ (a lazy re-export of a subpackage's API) counts as top level

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            lazy_export = isinstance(child, ast.FunctionDef) and child.name == "__getattr__" and node is tree
            inside = in_function or (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not lazy_export)
            if isinstance(child, ast.Import):
                out.extend((a.name, [], in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, path, child)
                names = [a.name for a in child.names]
                out.append((base, names, in_function))
                for n in names:  # "from pnpleaves.x import submodule"
                    if f"{base}.{n}" in MODULES:
                        out.append((f"{base}.{n}", [], in_function))
            visit(child, inside)

    visit(tree, False)
    return out


def _internal(target: str) -> str | None:
    """The pnpleaves module a dotted import refers to (longest known prefix), or None."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts = parts[:-1]
    return None


def _layer(module: str) -> str:
    """``base`` for pnpleaves and the modules directly under it, else the subpackage's name."""
    parts = module.split(".")
    if len(parts) == 1 or not (PKG / parts[1]).is_dir():
        return "base"
    return parts[1]


def _graph() -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for m, path in MODULES.items():
        for target, _, _ in _imports(m, path):
            t = _internal(target)
            if t and t != m and not (m == "pnpleaves" and t.startswith("pnpleaves.")):
                graph[m].add(t)
    return graph


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)


def test_layers_import_only_downward():
    bad = []
    for m, targets in _graph().items():
        if m == "pnpleaves":  # the lazy top-level __getattr__ re-exports the public API
            continue
        src = _layer(m)
        for t in targets:
            dst = _layer(t)
            if dst not in ALLOWED[src]:
                bad.append(f"{m} ({src}) imports {t} ({dst})")
    assert not bad, "\n".join(bad)


def test_priors_never_import_training_and_nothing_imports_lab_equipment():
    bad = []
    for m, path in MODULES.items():
        for target, _, _ in _imports(m, path):
            root = target.split(".")[0]
            if root in ("benchmarks", "research", "demos", "tests"):
                bad.append(f"{m} imports {target}")
    assert not bad, "\n".join(bad)


def test_argparse_only_in_cli():
    bad = [m for m, p in MODULES.items() if not m.startswith("pnpleaves.cli")
           and any(t == "argparse" for t, _, _ in _imports(m, p))]
    assert not bad, f"argparse imported outside pnpleaves/cli/: {bad}"


def test_imports_at_module_top_except_optional_heavy_dependencies():
    bad = []
    for m, path in MODULES.items():
        if m == "pnpleaves":
            continue
        for target, _, inside in _imports(m, path):
            if inside and not any(target == ok or target.startswith(ok + ".") for ok in LAZY_OK):
                if target.startswith("pnpleaves") and m.startswith("pnpleaves.cli") and target.startswith("pnpleaves.cli"):
                    continue  # the dispatcher imports the one command that runs
                bad.append(f"{m} imports {target} inside a function")
    assert not bad, "\n".join(bad)


def _files_to_check():
    yield from sorted(PKG.rglob("*.py"))
    yield from sorted((ROOT / "tests").rglob("*.py"))
    for folder in ("benchmarks", "research", "demos"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_private_name_imported_from_another_module():
    bad = []
    for path in _files_to_check():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pnpleaves") or (
                    isinstance(node, ast.ImportFrom) and node.level):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.relative_to(ROOT)}: from {node.module} import {a.name}")
    assert not bad, "\n".join(bad)
