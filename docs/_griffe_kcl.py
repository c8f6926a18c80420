"""Griffe extension of the documentation build (not part of the package).

The package's docstrings follow Google style as Keras writes it: an
``Example:`` title, a blank line, then ``>>>`` lines at the left margin;
``Call arguments:`` and ``Weights:`` sections; several argument names
sharing one description over two lines.  This rewrites those forms into
the ones griffe's Google parser reads (an ``Examples:`` section, indented),
without touching the package: the text of every docstring is unchanged.
"""

from __future__ import annotations

import re

import griffe

_SECTION = re.compile(
    r"^(Args|Arguments|Weights|Call arguments|Returns|Raises|Example|Examples|Attributes|Note):\s*$"
)
_EXAMPLE = re.compile(r"^Examples?:\s*$")


def _blank(line: str) -> bool:
    return not line.strip()


def _blank_line_before_sections(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if _SECTION.match(line) and out and not _blank(out[-1]):
            out.append("")
        out.append(line)
    return out


def _examples(lines: list[str]) -> list[str]:
    """``Example:`` + blank line + doctest at the margin -> indented ``Examples:``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not _EXAMPLE.match(line):
            out.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and _blank(lines[j]):
            j += 1
        if j >= len(lines) or not lines[j].startswith(">>>"):
            out.append(line)
            i += 1
            continue
        out.append("Examples:")
        while j < len(lines):
            current = lines[j]
            if _blank(current):
                k = j + 1
                while k < len(lines) and _blank(lines[k]):
                    k += 1
                if k < len(lines) and lines[k].startswith(">>>"):
                    out.append("")
                    j += 1
                    continue
                break
            out.append("    " + current)
            j += 1
        out.append("")
        i = j
    return out


def _join_grouped_names(lines: list[str]) -> list[str]:
    """``a, b,\\n    c: text`` (names over several lines, in an argument
    section) -> ``a, b, c: text`` on one line."""
    out: list[str] = []
    in_args = False
    for line in lines:
        if re.match(r"^\S", line):
            in_args = bool(re.match(r"^(Args|Arguments|Call arguments):\s*$", line))
        if (
            in_args
            and out
            and re.match(r"^ {4}\S", line)
            and re.match(r"^ {4}\w[\w ,()=]*,\s*$", out[-1])
            and ":" not in out[-1]
        ):
            out[-1] = out[-1].rstrip() + " " + line.strip()
            continue
        out.append(line)
    return out


_PRODUCT_STAR = re.compile(r"(?<=[\w)'])\*(?=[\w(])")


def _code_shapes(lines: list[str]) -> list[str]:
    """Products such as ``2*offset_groups*kh*kw`` written outside backticks:
    their ``*`` would read as Markdown emphasis -> ``\\*``."""
    out: list[str] = []
    in_code = False  # inside a code span that runs over several lines
    in_doctest = False
    for line in lines:
        if line.lstrip().startswith((">>>", "...")) or (in_doctest and line.strip()):
            in_doctest = True
            out.append(line)
            continue
        in_doctest = False
        parts = line.split("`")
        for i, part in enumerate(parts):
            if i > 0:
                in_code = not in_code
            if not in_code:
                parts[i] = _PRODUCT_STAR.sub(r"\\*", part)
        out.append("`".join(parts))
    return out


def _call_arguments(lines: list[str]) -> list[str]:
    """``Call arguments:`` -> a parameter table titled "Call arguments"."""
    return [
        "Other Parameters: Call arguments" if re.match(r"^Call arguments:\s*$", line) else line
        for line in lines
    ]


def rewrite(text: str) -> str:
    lines = text.splitlines()
    lines = _blank_line_before_sections(lines)
    lines = _examples(lines)
    lines = _join_grouped_names(lines)
    lines = _call_arguments(lines)
    lines = _code_shapes(lines)
    return "\n".join(lines)


class KclDocstrings(griffe.Extension):
    """Rewrites the docstring forms above before griffe parses them."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
