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
#: Bar colours per backend (RGB).
COLOURS = {"jax": (66, 133, 244), "tensorflow": (255, 143, 0), "torch": (222, 56, 44)}
_OTHER_COLOUR = (120, 120, 120)


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
    benchmark's target as a black tick and parity (1.0) as a grey line.

    Needs Pillow (``pip install 'keras-cv-layers[demo]'``); without it prints
    so and returns None.

    Returns:
        The path written, or None.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        print("Pillow is not installed: no bar chart (pip install 'keras-cv-layers[demo]').")
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

    bar_h, gap, label_w, plot_w, margin, top = 12, 10, 330, 520, 12, 46
    group_h = bar_h * len(backends) + gap
    width = margin + label_w + plot_w + 70
    height = top + group_h * len(names) + 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    x0 = margin + label_w

    def x_of(value: float) -> int:
        return x0 + int(plot_w * min(value, scale_max) / scale_max)

    draw.text((margin, 6), "keras_cv_layers benchmarks: time / reference time", fill="black")
    legend_x = margin
    for backend in backends:
        colour = COLOURS.get(backend, _OTHER_COLOUR)
        draw.rectangle([legend_x, 24, legend_x + 10, 34], fill=colour)
        draw.text((legend_x + 14, 23), backend, fill="black")
        legend_x += 110
    draw.line([legend_x, 29, legend_x + 12, 29], fill="black", width=3)
    draw.text((legend_x + 16, 23), "target", fill="black")

    bottom = top + group_h * len(names)
    tick, step = 0.0, 0.5 if scale_max <= 4 else 1.0
    while tick <= scale_max + 1e-9:
        x = x_of(tick)
        draw.line([x, top - 4, x, bottom], fill=(160, 160, 160) if tick == 1.0 else (230, 230, 230))
        draw.text((x - 8, bottom + 4), f"{tick:g}", fill="black")
        tick += step
    draw.text(
        (x0 + plot_w // 2 - 30, bottom + 20), "ratio (1 = as fast as the reference)", fill="black"
    )

    for i, name in enumerate(names):
        y = top + i * group_h
        draw.text((margin, y + (group_h - gap) // 2 - 6), name[:52], fill="black")
        target = None
        for j, backend in enumerate(backends):
            row = by_key.get((name, backend))
            if row is None:
                continue
            target = row.get("target") if target is None else target
            ratio = _ratio(row)
            by = y + j * bar_h
            if ratio is None:
                draw.text((x0 + 4, by), f"{backend}: error", fill=(200, 0, 0))
                continue
            colour = COLOURS.get(backend, _OTHER_COLOUR)
            draw.rectangle([x0, by + 1, max(x_of(ratio), x0 + 1), by + bar_h - 2], fill=colour)
            label = f"{ratio:.2f}" + (">" if ratio > scale_max else "")
            if _status(row) == "NO":
                label += " !"
            draw.text((x_of(ratio) + 4, by), label, fill="black")
        if target is not None:
            tx = x_of(target)
            draw.line([tx, y - 2, tx, y + group_h - gap + 2], fill="black", width=3)

    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    image.save(path)
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
