"""The blocks example (MBConv, SEBlock, MultiHeadedSpatialAttention, Blur2D)
learns the stripe orientation (small, seeded)."""

import os

import numpy as np

from keras_cv_layers.examples import ExampleReport, blocks


def test_dataset_stripes_follow_the_label():
    x, y = blocks.make_dataset(64, seed=3)
    assert x.shape == (64, blocks.SIZE, blocks.SIZE, 1) and x.dtype == np.float32
    assert set(np.unique(y)) == {0, 1, 2, 3}
    # 0 degrees: horizontal stripes (rows differ, columns agree); 90: vertical.
    centre = slice(blocks.SIZE // 2 - 3, blocks.SIZE // 2 + 3)
    for label, row_axis_varies in ((0, True), (2, False)):
        patches = x[y == label][:, centre, centre, 0]
        along_rows = np.abs(np.diff(patches, axis=1)).mean()
        along_cols = np.abs(np.diff(patches, axis=2)).mean()
        assert (along_rows > 1.5 * along_cols) == row_axis_varies, (label, along_rows, along_cols)


def test_run_small_learns_the_orientation(tmp_path):
    report = blocks.run(epochs=8, out_dir=tmp_path, seed=0, verbose=0, small=True)
    assert isinstance(report, ExampleReport)
    assert report.name == "blocks" and report.metric_name == "test accuracy"
    assert report.metric >= 0.9, report
    assert os.path.isfile(report.model_path) and report.max_abs_diff <= 1e-5
    assert 0.0 <= report.extras["train_accuracy"] <= 1.0 and report.epochs == 8
    if report.figure_path is not None:
        assert os.path.getsize(report.figure_path) > 0


def test_se_gates_are_per_image_channel_gates(tmp_path):
    model = blocks.build_model(width=4)
    x, _ = blocks.make_dataset(3, seed=1)
    gates = blocks.se_gates(model, x)
    assert gates.shape == (3, 8)
    assert np.all((gates > 0) & (gates < 1))
