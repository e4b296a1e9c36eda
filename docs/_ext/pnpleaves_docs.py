"""Build-time helpers of the pnpleaves documentation (a tiny Sphinx extension).

- :func:`write_generated_pages`: the teaching labs as readable pages (``_generated/labs/*.md``, from
  the jupytext percent scripts under ``demos/labs/``) and the table of contents of the measured-results
  pages that exist (``_generated/results_toctree.md``, included by ``index.md``);
- :class:`DemoOrder`: the order of the gallery, one stage of the toolbox after the other;
- :func:`reexports`: the public names a subpackage re-exports from another documented one (listed, not
  documented twice);
- three fixes applied while reading sources: links from markdown pages to files outside ``docs/``
  (``../README.md``) become downloads; a bare ``|x|`` in a docstring is shown as written rather than
  read as a reST substitution; autosummary's one-line summaries never cut an inline literal in two.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent

#: the gallery order (stage by stage); demos not listed come after, alphabetically
DEMO_ORDER = [
    "demo_generators",
    "demo_naturalness",
    "demo_train_tiny",
    "demo_deblur",
    "demo_super_resolution",
    "demo_inpainting",
    "demo_noise_level",
    "demo_prior_samples",
    "demo_posterior",
    "demo_invariance",
    "demo_denoiser_geometry",
    "demo_two_stage",
]

#: the measured-results and notes pages, in this order, when they exist; any other markdown page at
#: the top of docs/ is listed after them
RESULTS_PAGES = ["results", "history", "training", "frontier", "restoration", "analysis", "two_stage", "reliability"]
#: top-level pages that are not results pages
OWN_PAGES = {"index", "labs"}


class DemoOrder:
    """sphinx-gallery ``within_subsection_order``: :data:`DEMO_ORDER`, then the other demos by name."""

    def __init__(self, src_dir: str):
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        stem = Path(filename).stem
        return (DEMO_ORDER.index(stem), stem) if stem in DEMO_ORDER else (len(DEMO_ORDER), stem)

    def __repr__(self) -> str:  # sphinx-gallery uses it in its config hash
        return f"<{self.__class__.__name__}>"


def results_pages(docs: Path = DOCS) -> list[str]:
    """Docnames of the results pages present in ``docs`` (known ones first, in order)."""
    present = {p.stem for p in docs.glob("*.md")}
    known = [name for name in RESULTS_PAGES if name in present]
    others = sorted(present - set(RESULTS_PAGES) - OWN_PAGES)
    return known + others


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps Sphinx's incremental builds quiet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def lab_page(script: Path) -> str:
    """A MyST page of a lab: its markdown cells, its code, exercises marked, solutions in admonitions."""
    import jupytext

    nb = jupytext.read(str(script), fmt="py:percent")
    rel = Path("..", "..", "..", script.relative_to(ROOT)).as_posix()
    out = [f"% generated from {script.relative_to(ROOT).as_posix()} by docs/_ext/pnpleaves_docs.py: do not edit\n"]
    title_done = False
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        src = cell.source.strip("\n")
        if not src:
            continue
        if cell.cell_type == "markdown":
            if "solution" in tags:
                out.append(f":::{{admonition}} Answers (teacher version)\n:class: tip\n\n{src}\n:::\n")
            else:
                out.append(src + "\n")
            if not title_done and src.startswith("# "):
                out.append(f"Get the lab: {{download}}`{script.name} <{rel}>` (teacher version, runs as a script), "
                           "or make the student and teacher notebooks with "
                           "`python tools/make_notebooks.py notebooks/` (see [the labs](../../labs.md)).\n")
                title_done = True
            continue
        code = f"```python\n{src}\n```\n"
        if "solution" in tags:
            out.append(f":::{{admonition}} Solution\n:class: tip\n\n{code}:::\n")
        elif "exercise" in tags:
            out.append(f":::{{admonition}} Exercise cell (students complete it)\n:class: note\n\n{code}:::\n")
        else:
            out.append(code)
    return "\n".join(out)


def write_generated_pages(docs: Path = DOCS) -> None:
    """Write ``_generated/labs/*.md`` and ``_generated/results_toctree.md`` under ``docs``."""
    gen = docs / "_generated"
    labs = sorted((ROOT / "demos" / "labs").glob("lab*_*.py"))
    for script in labs:
        _write_if_changed(gen / "labs" / f"{script.stem}.md", lab_page(script))
    for stale in (gen / "labs").glob("*.md"):
        if stale.stem not in {s.stem for s in labs}:
            stale.unlink()
    entries = "\n".join(results_pages(docs))
    _write_if_changed(gen / "results_toctree.md",
                      "```{toctree}\n:maxdepth: 1\n:caption: Measured results and notes\n\n" + entries + "\n```\n")
    _write_if_changed(gen / "labs_toctree.md",
                      "```{toctree}\n:maxdepth: 1\n\n"
                      + "\n".join(f"_generated/labs/{s.stem}" for s in labs) + "\n```\n")


def reexports(modules: list[str]) -> dict[str, dict[str, str]]:
    """``{module: {name: canonical module}}`` for public names that an earlier module of ``modules``
    already exports (the same object): they get one page, under the first module."""
    seen: dict[int, str] = {}
    out: dict[str, dict[str, str]] = {}
    for modname in modules:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if obj is None or not callable(obj):
                continue
            if id(obj) in seen:
                out.setdefault(modname, {})[name] = seen[id(obj)]
            else:
                seen[id(obj)] = modname
    return out


def _pngs(folder: Path) -> dict[str, float]:
    return {str(p.resolve()): p.stat().st_mtime for p in Path(folder).resolve().rglob("_out/*.png")}


_SAVED: dict[str, float] = {}


def before_example(gallery_conf, fname, when) -> None:
    """sphinx-gallery ``reset_modules`` hook, run before each example.

    - An example's own ``plt.close(fig)`` is ignored, so that the figure it drew still reaches its
      page; the scraper's ``plt.close("all")`` at the end of each cell still closes everything.
    - The PNG files already under the examples' ``_out/`` folders are noted, so that
      :func:`figures_scraper` shows only the ones this example writes.
    """
    import matplotlib.pyplot as plt

    _SAVED.clear()
    _SAVED.update(_pngs(ROOT / "demos"))
    if getattr(plt.close, "_pnpleaves", False):
        return
    original = plt.close

    def close(fig=None):
        if isinstance(fig, str) and fig == "all":
            original("all")

    close._pnpleaves = True
    plt.close = close




def figures_scraper(block, block_vars, gallery_conf) -> str:
    """sphinx-gallery image scraper: the open matplotlib figures of a cell, as usual; when a cell has
    none, the PNG files it wrote under an ``_out/`` folder next to the example (figures drawn on a
    bare ``matplotlib.figure.Figure`` and saved, which pyplot never sees)."""
    import shutil

    from sphinx_gallery.scrapers import figure_rst, matplotlib_scraper

    rst = matplotlib_scraper(block, block_vars, gallery_conf)
    written = _pngs(ROOT / "demos")
    new = [p for p, t in sorted(written.items()) if _SAVED.get(p) != t]
    _SAVED.update(written)
    if rst.strip() or not new:
        return rst
    paths = []
    for p in new:
        target = Path(next(block_vars["image_path_iterator"]))
        shutil.copyfile(p, target)
        paths.append(target)
    return figure_rst(paths, gallery_conf["src_dir"])


# -- links to files outside docs/ -------------------------------------------------------------------
_LINK = re.compile(r"\]\((?!https?:|mailto:|#|path:|project:|<)([^)\s]+)\)")


def _outside_links(app, docname: str, source: list[str]) -> None:
    """``[text](../README.md)`` -> ``[text](path:../README.md)`` (a download) when the target is a file
    outside the documentation sources: MyST would otherwise look for a page of that name."""
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".md":
        return
    srcdir = Path(app.srcdir).resolve()

    def fix(match: re.Match) -> str:
        target = match.group(1)
        file_part = target.split("#", 1)[0]
        if not file_part:
            return match.group(0)
        resolved = (path.parent / file_part).resolve()
        if resolved.is_file() and srcdir not in resolved.parents:
            return f"](path:{file_part})"
        return match.group(0)

    source[0] = _LINK.sub(fix, source[0])


# -- bare |x| in docstrings -------------------------------------------------------------------------
_PROTECTED = re.compile(r"(``.+?``|:[\w:+.-]+:`[^`]*`|`[^`]*`_*)")


def _escape_bars(line: str) -> str:
    parts = _PROTECTED.split(line)
    for i in range(0, len(parts), 2):  # even indices: outside literals and roles
        parts[i] = re.sub(r"(?<!\\)\|", r"\\|", parts[i])
    return "".join(parts)


def _docstring_bars(app, what, name, obj, options, lines: list[str]) -> None:
    """Escape ``|`` outside literals, roles, math and literal blocks, tables and doctests: in plain
    docstrings ``|x|`` means an absolute value, not a substitution."""
    block_indent = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if stripped.startswith(".. ") or stripped.endswith("::"):
            block_indent = indent
            continue
        if not stripped or stripped[0] in "|+=" or stripped.startswith(">>>") or "|" not in line:
            continue
        lines[i] = _escape_bars(line)


# -- autosummary summaries --------------------------------------------------------------------------
def _patch_extract_summary() -> None:
    """Sphinx 9's ``extract_summary`` re-parses the whole stanza instead of the candidate sentence, so
    a period inside an inline literal (``seed .. seed + n``) cuts the literal in two; extend such a
    summary to the next sentence that closes it."""
    import sphinx.ext.autosummary as autosummary

    original = autosummary.extract_summary
    if getattr(original, "_pnpleaves", False):
        return

    def extract_summary(doc, settings):
        summary = original(doc, settings)
        if summary.count("``") % 2 == 0:
            return summary
        text = " ".join(line.strip() for line in doc if line.strip())
        sentences = autosummary.periods_re.split(text)
        for k in range(1, len(sentences) + 1):
            candidate = ". ".join(sentences[:k]).rstrip(".") + "."
            if candidate.count("``") % 2 == 0:
                return candidate
        return text

    extract_summary._pnpleaves = True
    autosummary.extract_summary = extract_summary


def _always_reread(app, env, added, changed, removed) -> list[str]:
    """The pages that include generated tables of contents are read again on every build."""
    return [doc for doc in ("index", "labs") if doc in env.found_docs]


def setup(app):  # noqa: D103  (a Sphinx extension)
    _patch_extract_summary()
    app.connect("env-get-outdated", _always_reread)
    app.connect("source-read", _outside_links)
    app.connect("autodoc-process-docstring", _docstring_bars)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
