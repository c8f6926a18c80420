"""The inpainting example runs end to end (small configuration)."""

import os

import numpy as np

from keras_cv_layers.examples import ExampleReport, inpainting


def test_dataset_is_deterministic_and_has_holes():
    images, masks = inpainting.make_dataset(6, seed=3, image_size=16)
    again, masks_again = inpainting.make_dataset(6, seed=3, image_size=16)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(masks, masks_again)
    assert images.shape == masks.shape == (6, 16, 16, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(masks)) == {0.0, 1.0}
    holes = (masks == 0).mean(axis=(1, 2, 3))
    assert np.all(holes > 0.05) and np.all(holes < 0.5)


def test_mean_fill_and_hole_l1():
    images, masks = inpainting.make_dataset(4, seed=0, image_size=16)
    filled = inpainting.mean_fill(images, masks)
    np.testing.assert_array_equal(filled[masks == 1], images[masks == 1])
    assert inpainting.hole_l1(images, images, masks) == 0.0
    assert inpainting.hole_l1(filled, images, masks) > 0.0


def test_run_small(tmp_path):
    report = inpainting.run(epochs=2, out_dir=str(tmp_path), verbose=0, small=True)
    assert isinstance(report, ExampleReport)
    assert report.name == "inpainting"
    assert os.path.exists(report.model_path)
    assert report.max_abs_diff <= 1e-5
    assert np.isfinite(report.metric) and np.isfinite(report.extras["baseline_hole_l1"])
    if report.figure_path is not None:
        assert os.path.exists(report.figure_path)
