"""Generates `fixtures/torchvision_deform_conv2d.npz` with torchvision.

Run with an interpreter that has torch + torchvision (not needed by the
tests, which only read the `.npz`):

    python tests/deformable/make_fixtures.py

Arrays are stored as torchvision takes them (NCHW, weight (F, C/groups, kh,
kw)); the tests convert layouts.  Keras "same" padding with an odd total
(extra pad at the end) is expressed for torchvision by zero-padding the input
explicitly and passing `padding=0`: samples that land in that pad read zeros,
exactly as out-of-range samples do.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import torch
import torchvision

OUT = pathlib.Path(__file__).parent / "fixtures" / "torchvision_deform_conv2d.npz"

#: (name, (B, C, H, W), filters, (kh, kw), strides, padding, dilation,
#:  offset_groups, groups, modulated, offset_std)
CASES = [
    ("plain_valid", (2, 4, 7, 6), 3, (3, 3), (1, 1), "valid", (1, 1), 1, 1, False, 2.0),
    ("same_stride2_og2_mod", (2, 4, 8, 7), 4, (3, 3), (2, 2), "same", (1, 1), 2, 1, True, 2.0),
    (
        "same_dilation2_groups2_mod",
        (1, 4, 7, 8),
        6,
        (3, 3),
        (1, 1),
        "same",
        (2, 2),
        1,
        2,
        True,
        1.5,
    ),
    (
        "valid_stride2_dilation2_og2_groups2",
        (2, 4, 9, 9),
        4,
        (3, 3),
        (2, 2),
        "valid",
        (2, 2),
        2,
        2,
        False,
        2.0,
    ),
    (
        "rect_kernel_far_outside_mod",
        (1, 6, 6, 5),
        2,
        (2, 3),
        (1, 2),
        "same",
        (1, 1),
        3,
        1,
        True,
        6.0,
    ),
    ("og4_groups2_stride1_same", (1, 8, 5, 5), 4, (3, 3), (1, 1), "same", (1, 1), 4, 2, False, 1.0),
]


def same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def main() -> None:
    rng = np.random.default_rng(1234)
    arrays = {}
    for name, shape, filters, ksize, strides, padding, dilation, og, groups, mod, std in CASES:
        b, c, h, w = shape
        kh, kw = ksize
        if padding == "same":
            pt, pb = same_pads(h, kh, strides[0], dilation[0])
            pl, pr = same_pads(w, kw, strides[1], dilation[1])
        else:
            pt = pb = pl = pr = 0
        ho = (h + pt + pb - (kh - 1) * dilation[0] - 1) // strides[0] + 1
        wo = (w + pl + pr - (kw - 1) * dilation[1] - 1) // strides[1] + 1
        x = rng.normal(size=shape).astype("float32")
        weight = rng.normal(size=(filters, c // groups, kh, kw)).astype("float32")
        bias = rng.normal(size=(filters,)).astype("float32")
        offset = (rng.normal(scale=std, size=(b, 2 * og * kh * kw, ho, wo))).astype("float32")
        mask = rng.uniform(size=(b, og * kh * kw, ho, wo)).astype("float32") if mod else None
        xt = torch.nn.functional.pad(torch.from_numpy(x), (pl, pr, pt, pb))
        # torchvision's groups are implied by weight.shape[1] (C / groups).
        out = torchvision.ops.deform_conv2d(
            xt,
            torch.from_numpy(offset),
            torch.from_numpy(weight),
            torch.from_numpy(bias),
            stride=strides,
            padding=(0, 0),
            dilation=dilation,
            mask=None if mask is None else torch.from_numpy(mask),
        ).numpy()
        meta = np.array(
            [kh, kw, *strides, *dilation, og, groups, int(mod), int(padding == "same")], "int32"
        )
        arrays[f"{name}/x"] = x
        arrays[f"{name}/offset"] = offset
        arrays[f"{name}/weight"] = weight
        arrays[f"{name}/bias"] = bias
        if mask is not None:
            arrays[f"{name}/mask"] = mask
        arrays[f"{name}/out"] = out
        arrays[f"{name}/meta"] = meta
    arrays["torchvision_version"] = np.array(torchvision.__version__)
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(CASES)} cases)")


if __name__ == "__main__":
    main()
