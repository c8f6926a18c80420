"""The SegNet example trains to >= 0.9 pixel accuracy (small, seeded)."""

import os

import numpy as np

from keras_cv_layers.examples import ExampleReport, segnet


def test_dataset_masks_match_shapes():
    x, y = segnet.make_dataset(16, 16, seed=3)
    assert x.shape == (16, 16, 16, 3) and y.shape == (16, 16, 16)
    assert set(np.unique(y)) <= {0, 1, 2} and (y > 0).any()
    # Shape pixels are bright, background pixels are noise around 0.
    assert x[y > 0].mean() > 0.5 > abs(float(x[y == 0].mean())) + 0.3


def test_run_small_reaches_pixel_accuracy(tmp_path):
    report = segnet.run(epochs=20, out_dir=tmp_path, seed=0, verbose=0, small=True)
    assert isinstance(report, ExampleReport)
    assert report.name == "segnet" and report.metric_name == "val pixel accuracy"
    assert report.metric >= 0.9, report
    assert os.path.isfile(report.model_path) and report.max_abs_diff <= 1e-5
    assert 0.0 <= report.extras["train_pixel_accuracy"] <= 1.0
    if report.figure_path is not None:
        assert os.path.isfile(report.figure_path)
