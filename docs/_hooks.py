"""MkDocs hooks of the documentation build (not part of the package).

- Math: ``pymdownx.arithmatex`` (generic mode) marks the formulas; here they
  become MathML (``latex2mathml``), which the browser renders itself, so the
  site needs no JavaScript from a CDN.
- Benchmarks: ``<!-- bench-table -->`` in a page becomes the table of the
  rows that ``keras-cv-layers bench --json docs/benchmarks/bench.json``
  wrote.
- API coverage: every public name of the package (``kcl.__all__``,
  ``kcl.ops.__all__``, ``kcl.initializers.__all__``, ``kcl.utils.__all__``,
  found by reading the sources, not by importing them) must have its
  ``::: keras_cv_layers.<name>`` entry in ``docs/api/``; a missing one fails
  the build.
"""

from __future__ import annotations

import ast
import html
import json
import math
import re
from pathlib import Path

from latex2mathml.converter import convert as _to_mathml
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_cv_layers"
DOCS = ROOT / "docs"

# ---------------------------------------------------------------- math

_INLINE = re.compile(r'<span class="arithmatex">\\\((.+?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.+?)\\\]</div>', re.S)


def _mathml(tex: str, display: str, page) -> str:
    tex = html.unescape(tex).strip()
    try:
        return _to_mathml(tex, display=display)
    except Exception as error:  # a formula latex2mathml cannot read fails the build
        raise PluginError(f"{page.file.src_uri}: cannot render {tex!r}: {error!r}") from error


def on_page_content(html_text: str, page, config, files) -> str:
    html_text = _BLOCK.sub(
        lambda m: f'<div class="kcl-math">{_mathml(m.group(1), "block", page)}</div>', html_text
    )
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline", page), html_text)


# ---------------------------------------------------------------- benchmarks


def _fmt(value, digits: int = 2) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "–"


def bench_table(rows: list[dict]) -> str:
    """The side-by-side table of ``benchmarks/report.py`` as Markdown."""
    backends = [b for b in ("jax", "tensorflow", "torch") if any(r["backend"] == b for r in rows)]
    names: list[str] = []
    for r in rows:
        if r["name"] not in names:
            names.append(r["name"])
    by = {(r["name"], r["backend"]): r for r in rows}
    head = "| benchmark | reference | target | " + " | ".join(backends) + " |"
    lines = [head, "|---|---|---:|" + "---:|" * len(backends)]
    for name in names:
        target = next((by[(name, b)].get("target") for b in backends if (name, b) in by), None)
        cells = []
        for b in backends:
            r = by.get((name, b))
            if r is None:
                cells.append("")
            elif r.get("error"):
                cells.append("error")
            else:
                ratio = r.get("ratio")
                ok = ""
                if isinstance(ratio, (int, float)) and isinstance(target, (int, float)):
                    ok = " ✓" if ratio <= target else " ✗"
                cells.append(_fmt(ratio) + ok)
        reference = next((by[(name, b)].get("reference") for b in backends if (name, b) in by), "")
        reference = f"`{reference}`" if reference else ""
        target_cell = f"≤ {_fmt(target)}" if isinstance(target, (int, float)) else "–"
        lines.append(f"| `{name}` | {reference} | {target_cell} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- bench-table -->" in markdown:
        path = DOCS / "benchmarks" / "bench.json"
        if path.exists():
            table = bench_table(json.loads(path.read_text()))
        else:
            table = "*No results yet: run the command above.*"
        markdown = markdown.replace("<!-- bench-table -->", table)
    return markdown


# ---------------------------------------------------------------- API coverage


def _all_names(path: Path) -> list:
    """The ``__all__`` list of a module, as written (strings, and
    ``module.__all__`` entries as ``("*", module)``)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            out = []
            for elt in value.elts:
                if isinstance(elt, ast.Constant):
                    out.append(elt.value)
                elif isinstance(elt, ast.Starred):
                    out.append(("*", ast.unparse(elt.value)))
            return out
    return []


def _expand(entries: list, package_dir: Path, family_exports: list[str]) -> list[str]:
    names: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            names.append(entry)
        elif entry[1] == "_FAMILY_EXPORTS":
            names.extend(family_exports)
        else:
            module = entry[1].split(".")[0]
            sub = package_dir / module
            path = sub / "__init__.py" if sub.is_dir() else package_dir / f"{module}.py"
            names.extend(_expand(_all_names(path), package_dir, family_exports))
    return names


def public_names() -> list[str]:
    """Dotted names of every public object, from the sources."""
    families = []
    tree = ast.parse((PACKAGE / "layers" / "__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "FAMILY_EXPORTS":
            for elt in node.value.elts:
                families.append(ast.unparse(elt.value).split(".")[0])
    family_exports = []
    for family in families:
        family_exports += _all_names(PACKAGE / "layers" / family / "__init__.py")
    dotted = []
    modules = {"ops", "initializers", "backend_kernels", "utils"}
    for name in _expand(_all_names(PACKAGE / "__init__.py"), PACKAGE, family_exports):
        if name == "__version__":
            continue
        dotted.append(f"keras_cv_layers.{name}")
    for name in _expand(_all_names(PACKAGE / "ops" / "__init__.py"), PACKAGE / "ops", []):
        dotted.append(f"keras_cv_layers.ops.{name}")
    for name in _all_names(PACKAGE / "initializers.py"):
        dotted.append(f"keras_cv_layers.initializers.{name}")
    for name in _all_names(PACKAGE / "utils" / "__init__.py"):
        if isinstance(name, str):
            dotted.append(f"keras_cv_layers.utils.{name}")
    dotted += [f"keras_cv_layers.{m}" for m in sorted(modules)]
    return sorted(set(dotted))


def documented_names() -> set[str]:
    found = set()
    for path in (DOCS / "api").glob("*.md"):
        text = path.read_text()
        found.update(re.findall(r"^:::\s+(keras[\w.]*)", text, re.M))
        # A Keras class re-exported as is: documented by hand, marked so.
        found.update(re.findall(r"^<!-- api: (keras_cv_layers[\w.]*) -->", text, re.M))
    return found


def is_documented(name: str, documented: set[str]) -> bool:
    """``name`` has an entry: itself, or in the module that defines it
    (``keras_cv_layers.utils.inference.fuse_for_inference`` for the lazy
    ``keras_cv_layers.utils.fuse_for_inference``)."""
    if name in documented:
        return True
    parent, _, last = name.rpartition(".")
    return any(d.endswith("." + last) and d.startswith(parent + ".") for d in documented)


def on_pre_build(config) -> None:
    documented = documented_names()
    missing = [n for n in public_names() if not is_documented(n, documented)]
    if missing:
        raise PluginError(
            "public names without an entry (`::: name`) in docs/api/: " + ", ".join(missing)
        )
