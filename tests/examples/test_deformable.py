"""The deformable example runs end to end (small configuration)."""

import os

import numpy as np

from keras_cv_layers.examples import ExampleReport, deformable


def test_deformable_example_small(tmp_path):
    report = deformable.run(epochs=1, out_dir=str(tmp_path), verbose=0, small=True)
    assert isinstance(report, ExampleReport)
    assert report.name == "deformable"
    assert 0.0 <= report.metric <= 1.0
    assert report.max_abs_diff <= 1e-5
    assert os.path.exists(report.model_path)
    assert report.extras == {"baseline_conv2d_accuracy": None}  # no baseline when small
    if report.figure_path is not None:
        assert os.path.getsize(report.figure_path) > 0


def test_sampling_locations_of_a_fresh_model_are_the_regular_grid():
    model = deformable.build_model()
    x, _ = deformable.make_data(2, np.random.default_rng(0))
    locs = deformable.sampling_locations(model, x)
    assert locs.shape == (2, 9, 2)
    np.testing.assert_allclose(locs[0], locs[1])
    assert np.allclose(np.diff(np.unique(locs[0][:, 0])), 2.0)
