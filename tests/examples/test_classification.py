"""The classification example (the demo's classifier) runs end to end."""

import os

import numpy as np

from keras_cv_layers import demo
from keras_cv_layers.examples import classification


def test_dataset_labels_match_blob_quadrant():
    x, y = classification.make_dataset(32, seed=5)
    half = x.shape[1] // 2
    brightest = x.sum(-1).reshape(len(x), -1).argmax(-1)
    rows, cols = np.divmod(brightest, x.shape[1])
    np.testing.assert_array_equal((rows >= half) * 2 + (cols >= half), y)


def test_run_small_through_the_demo_runner(tmp_path, capsys):
    reports = demo.run_all(
        epochs=1, out_dir=tmp_path, only=["classification"], small=True, verbose=0
    )
    (report,) = reports
    assert report["ok"], report
    assert report["name"] == "classification"
    assert report["model_path"] == os.path.join(str(tmp_path), "classification.keras")
    assert os.path.isfile(report["model_path"]) and report["max_abs_diff"] <= 1e-5
    assert 0.0 <= report["metric"] <= 1.0 and report["metric_name"] == "val accuracy"
    if report["figure_path"] is not None:
        assert os.path.isfile(report["figure_path"])
    assert "1 of 1 example(s) passed" in capsys.readouterr().out
