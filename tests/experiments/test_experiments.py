"""The experiments on real data (``keras-cv-layers experiments``), small
configuration: every experiment runs end to end through the CLI, once for
the module, and its table, JSON and PNG are checked.  No claim about the
layers is asserted here (the full run's results are in docs/experiments.md).
"""

import json
import math
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from keras_cv_layers import cli  # noqa: E402
from keras_cv_layers.experiments import (  # noqa: E402
    EXPERIMENTS,
    MissingDependencyError,
    _common,
    antialias,
    deformable,
    inpainting,
    normalization,
    rotation,
    run_experiments,
)

#: The row labels each experiment's table must hold (small configuration).
EXPECTED_ROWS = {
    "normalization": [label for label, _ in normalization.VARIANTS],
    "rotation": list(rotation.SMALL_MODELS),
    "antialias": list(antialias.MODELS),
    "inpainting": ["mean fill (no network)", "Conv2D U-Net", "PartialConv2D U-Net"],
    "deformable": list(deformable.MODELS),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """All experiments, small, one seed, run once through the CLI."""
    out = tmp_path_factory.mktemp("experiments")
    status = cli.main(
        ["experiments", "--small", "--seeds", "1", "--out", str(out), "--verbose", "0"]
    )
    assert status == 0
    with open(out / "results.json", encoding="utf-8") as handle:
        return out, json.load(handle)


def test_every_experiment_ran(results):
    _, summary = results
    assert [e["name"] for e in summary["experiments"]] == list(EXPERIMENTS)
    assert summary["small"] is True and summary["seeds"] == 1


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_table_has_all_rows_and_finite_numbers(results, name):
    _, summary = results
    (experiment,) = [e for e in summary["experiments"] if e["name"] == name]
    assert [row["label"] for row in experiment["rows"]] == EXPECTED_ROWS[name]
    keys = [column["key"] for column in experiment["columns"]]
    for row in experiment["rows"]:
        assert sorted(row["values"]) == sorted(keys)
        for key in keys:
            runs = row["values"][key]["runs"]
            assert len(runs) == 1 and all(math.isfinite(v) for v in runs), (row["label"], key)
        assert isinstance(row["params"], int) and row["params"] >= 0
    table = experiment["table_markdown"].splitlines()
    assert len(table) == 2 + len(EXPECTED_ROWS[name])
    assert all(label in table[2 + i] for i, label in enumerate(EXPECTED_ROWS[name]))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_files_written(results, name):
    out, _ = results
    with open(out / f"{name}.json", encoding="utf-8") as handle:
        assert json.load(handle)["name"] == name
    assert (out / f"{name}.md").read_text(encoding="utf-8").startswith("## ")
    with open(out / f"{name}.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_parses_only_and_rejects_unknown_names(capsys):
    args = cli.build_parser().parse_args(
        ["experiments", "--only", "rotation", "antialias", "--seeds", "2", "--small"]
    )
    assert (args.only, args.seeds, args.small, args.out) == (
        ["rotation", "antialias"],
        2,
        True,
        "kcl_experiments",
    )
    with pytest.raises(SystemExit) as error:
        cli.main(["experiments", "--only", "nosuchexperiment"])
    assert error.value.code == 2
    assert "nosuchexperiment" in capsys.readouterr().err


def test_missing_dependency_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"keras-cv-layers\[experiments\]"):
        run_experiments(only=["antialias"], small=True, seeds=1, verbose=0)
    assert cli.main(["experiments", "--only", "antialias", "--small", "--verbose", "0"]) == 2
    assert "keras-cv-layers[experiments]" in capsys.readouterr().err


def test_image_helpers():
    image = np.zeros((1, 5, 5, 1), "float32")
    image[0, 1, 3, 0] = 1.0  # row 1, column 3: upper right
    shifted = _common.shift(image, 2, -1)
    assert shifted[0, 3, 2, 0] == 1.0 and shifted.sum() == 1.0
    assert _common.shift(image, 0, 2).sum() == 0.0  # shifted out
    # rotate() by 90 degrees agrees with rot90 (counter-clockwise).
    np.testing.assert_allclose(_common.rotate(image, [90.0]), _common.rot90(image, 1), atol=1e-6)
    assert _common.rot90(image, 1)[0, 1, 1, 0] == 1.0  # upper right -> upper left
    x, y = _common.digits(16, canvas=20)
    assert x.shape == (1797, 20, 20, 1) and y.shape == (1797,)
    assert x.min() >= 0.0 and x.max() <= 1.0 and x[:, :2].max() == 0.0


def test_table_and_epochs_helpers():
    row = _common.Row("model", {"params": 7})
    row.add(acc=0.5)
    row.add(acc=0.7)
    table = _common.format_table([_common.Column("acc", "accuracy", 2)], [row], {"params": "n"})
    assert table.splitlines()[-1] == "| model | 7 | 0.60 ± 0.10 |"
    assert _common.epochs_to([0.5, 0.96, 0.97], 0.95) == 2.0
    assert _common.epochs_to([0.5, 0.6], 0.95) == 3.0
    masks = inpainting.free_form_masks(4, 16, np.random.default_rng(0))
    assert masks.shape == (4, 16, 16, 1) and 0.0 < masks.mean() < 1.0
