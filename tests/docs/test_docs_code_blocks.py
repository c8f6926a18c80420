"""Every ```python block of the documentation (docs/**/*.md) runs, on the
current backend, so the docs cannot rot.

The blocks of one page run in order in one namespace (a page is one
script). A block opts out only with a ``<!-- skip: reason -->`` line right
above it, and the reason must name the foreign package whose code the block
shows (torchvision, timm, tensorflow-addons, ...) -- the side-by-side "before"
of a migration guide; the numeric check of each guide runs.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import keras
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE_OPEN = re.compile(r"^```python\s*$")
_SKIP = re.compile(r"^<!--\s*skip:\s*(.*?)\s*-->\s*$")
#: Packages whose code a skipped block may show (not installed with this one).
FOREIGN = (
    "torchvision",
    "timm",
    "tensorflow-addons",
    "tensorflow_addons",
    "keras_layers",
    "pytorch-utils",
    "torch.nn",
)


def code_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """(line number, code, skip reason or None) of each ```python block."""
    lines = path.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if _FENCE_OPEN.match(lines[i]):
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skip = _SKIP.match(previous)
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                i += 1
            blocks.append((start + 1, "\n".join(lines[start:i]), skip.group(1) if skip else None))
        i += 1
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if code_blocks(p))


def test_the_docs_have_code_blocks():
    assert len(PAGES) >= 10, PAGES


@contextlib.contextmanager
def _fast_jax_random():
    """On JAX, the non-partitionable threefry PRNG while the docs run: XLA
    compiles its kernels about 4x faster on CPU (0.8 s instead of 3.5 s per
    weight shape on the CI machine), and the docs compile one per weight
    shape. Only the random streams change; restored afterwards."""
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", False)
    try:
        yield
    finally:
        jax.config.update("jax_threefry_partitionable", previous)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_code_blocks_run(page: Path):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    ran = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(_fast_jax_random())
        ran = _run_page(page, namespace)
    assert ran > 0, f"{page}: every block is skipped"


def _run_page(page: Path, namespace: dict) -> int:
    ran = 0
    try:
        for line, code, skip in code_blocks(page):
            if skip is not None:
                assert any(name in skip for name in FOREIGN), (
                    f"{page}:{line}: a block may be skipped only for a foreign package's "
                    f"code (one of {FOREIGN}); reason given: {skip!r}"
                )
                continue
            try:
                exec(compile(code, f"{page.relative_to(DOCS)}:{line}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"{page.relative_to(DOCS)}, block at line {line}") from error
            ran += 1
    finally:
        keras.config.set_dtype_policy("float32")
    return ran


def test_skip_marker_parsing(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text(
        "# t\n\n<!-- skip: timm code -->\n```python\nimport timm\n```\n\n```python\nx = 1\n```\n"
    )
    blocks = code_blocks(page)
    assert [(b[1], b[2]) for b in blocks] == [("import timm", "timm code"), ("x = 1", None)]
    assert [b[0] for b in blocks] == [5, 9]  # the first code line of each block
