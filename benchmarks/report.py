"""Benchmark report: the side-by-side ratio table and the PNG bar chart.

Both take the rows that ``run.py`` writes with ``--json`` (one dict per
benchmark and backend: ``backend``, ``name``, ``ratio``, ``target``, ...), so
they also work on a saved file::

    python benchmarks/report.py results.json --png ratios.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence

BACKENDS = ("jax", "tensorflow", "torch")
#: Bar colours per backend.
COLOURS = {"jax": "#4285f4", "tensorflow": "#ff8f00", "torch": "#de382c"}
_OTHER_COLOUR = "#787878"


def _backends(rows: Sequence[dict]) -> list[str]:
    present = {r["backend"] for r in rows}
    return [b for b in BACKENDS if b in present] + sorted(present - set(BACKENDS))


def _names(rows: Sequence[dict]) -> list[str]:
    names: list[str] = []
    for r in rows:
        if r["name"] not in names:
            names.append(r["name"])
    return names


def _ratio(row: dict | None) -> float | None:
    if row is None:
        return None
    ratio = row.get("ratio")
    return ratio if isinstance(ratio, (int, float)) and math.isfinite(ratio) else None


def _status(row: dict | None) -> str:
    """``yes``/``NO`` against the target, ``-`` without one, ``ERR`` for a failed run."""
    if row is None:
        return ""
    if row.get("error"):
        return "ERR"
    ratio, target = _ratio(row), row.get("target")
    if target is None or ratio is None:
        return "-"
    return "yes" if ratio <= target else "NO"


def side_by_side_table(rows: Sequence[dict]) -> str:
    """One line per benchmark: its target, then the ratio and whether it meets
    the target on each backend (``ERR``: the benchmark raised there)."""
    backends = _backends(rows)
    by_key = {(r["name"], r["backend"]): r for r in rows}
    names = _names(rows)
    name_width = max([len("benchmark"), *map(len, names)])
    header = f"{'benchmark':<{name_width}} {'target':>7}" + "".join(
        f" {b[:10]:>10} {'ok':<3}" for b in backends
    )
    lines = [header, "-" * len(header)]
    for name in names:
        target = next(
            (by_key[name, b].get("target") for b in backends if (name, b) in by_key), None
        )
        line = f"{name:<{name_width}} {'-' if target is None else f'<={target:.2f}':>7}"
        for backend in backends:
            row = by_key.get((name, backend))
            ratio = _ratio(row)
            text = "" if row is None else ("error" if ratio is None else f"{ratio:.3f}")
            line += f" {text:>10} {_status(row):<3}"
        lines.append(line.rstrip())
    missed = [f"{r['name']} [{r['backend']}]" for r in rows if _status(r) in ("NO", "ERR")]
    lines.append(
        "ratio = median time / median reference time (lower is better); "
        + (f"missed or failed: {', '.join(missed)}" if missed else "every target met")
    )
    return "\n".join(lines)


def write_bar_chart(rows: Sequence[dict], path: str | os.PathLike) -> str | None:
    """Writes a PNG bar chart of the ratio per benchmark and backend, with each
    benchmark's target as a black tick and parity (1.0) as a grey line;
    ratios above 4 are clipped (their value is printed beside the bar).

    Needs matplotlib (``pip install 'keras-cv-layers[demo]'``); without it
    prints so and returns None.

    Returns:
        The path written, or None.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no bar chart (pip install 'keras-cv-layers[demo]').")
        return None
    rows = list(rows)
    if not rows:
        return None
    backends = _backends(rows)
    names = _names(rows)
    by_key = {(r["name"], r["backend"]): r for r in rows}
    values = [_ratio(r) for r in rows] + [r.get("target") for r in rows]
    largest = max([v for v in values if v is not None] + [1.0])
    scale_max = min(math.ceil(largest * 1.1 * 2) / 2, 4.0)  # clip very slow rows at 4x
    bar = 0.8 / len(backends)

    figure = Figure(figsize=(11, 1.0 + 0.22 * len(backends) * len(names)), layout="constrained")
    axes = figure.subplots()
    for j, backend in enumerate(backends):
        ys, widths, labels = [], [], []
        for i, name in enumerate(names):
            row = by_key.get((name, backend))
            if row is None:
                continue
            y = i + (j - (len(backends) - 1) / 2) * bar
            ratio = _ratio(row)
            if ratio is None:
                axes.text(0.02, y, f"{backend}: error", va="center", color="red", fontsize=7)
                continue
            ys.append(y)
            widths.append(min(ratio, scale_max))
            labels.append(
                f"{ratio:.2f}"
                + (">" if ratio > scale_max else "")
                + (" !" if _status(row) == "NO" else "")
            )
        colour = COLOURS.get(backend, _OTHER_COLOUR)
        bars = axes.barh(ys, widths, height=bar, color=colour, label=backend)
        axes.bar_label(bars, labels, padding=3, fontsize=7)
    target_label = "target"  # the legend entry, on the first tick only
    for i, name in enumerate(names):
        target = next(
            (by_key[name, b].get("target") for b in backends if (name, b) in by_key), None
        )
        if target is not None:
            axes.vlines(
                target, i - 0.45, i + 0.45, colors="black", linewidth=2.5, label=target_label
            )
            target_label = None
    axes.axvline(1.0, color="grey", linewidth=1.2, zorder=1.5)
    axes.set_yticks(range(len(names)), [name[:60] for name in names], fontsize=8)
    axes.set_ylim(len(names) - 0.5, -0.5)  # first benchmark on top, no empty margins
    axes.set_xlim(0, scale_max * 1.12)
    axes.set_xlabel(
        "ratio: time / reference time (1 = as fast as the reference;"
        f" > clipped at {scale_max:g}; ! target missed)"
    )
    axes.grid(axis="x", color="#e6e6e6")
    axes.set_axisbelow(True)
    axes.set_title("keras_cv_layers benchmarks")
    figure.legend(loc="outside lower center", ncols=len(backends) + 1, fontsize=8)

    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/report.py ROWS.json [--png PATH]``."""
    parser = argparse.ArgumentParser(description="Table and bar chart of saved benchmark rows.")
    parser.add_argument("json", help="rows written by run.py --json")
    parser.add_argument("--png", default=None, help="also write the bar chart here")
    args = parser.parse_args(argv)
    with open(args.json) as f:
        rows = json.load(f)
    print(side_by_side_table(rows))
    if args.png:
        written = write_bar_chart(rows, args.png)
        if written:
            print(f"bar chart: {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
