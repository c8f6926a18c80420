"""The rotation example (small configuration): runs, reports, saves/reloads."""

import numpy as np

from keras_cv_layers.examples import ExampleReport, available_examples, rotation


def test_rotation_example_small(tmp_path):
    report = rotation.run(epochs=1, out_dir=str(tmp_path), seed=0, verbose=0, small=True)
    assert isinstance(report, ExampleReport)
    assert report.name == "rotation"
    assert report.max_abs_diff <= 1e-5
    group, plain = report.extras["group"], report.extras["plain"]
    assert report.metric == group["rotated_accuracy"]
    # The p4 model is invariant by construction: no loss under rotation (<= 2 points),
    # whatever its training state.
    assert group["accuracy_drop_points"] <= 2.0
    assert report.extras["invariance_deviation"] <= 1e-5
    assert 0.0 <= plain["rotated_accuracy"] <= 1.0
    # Similar parameter counts (within 25%).
    assert abs(group["params"] - plain["params"]) <= 0.25 * plain["params"]
    assert "rotation" in available_examples()


def test_dataset_is_seeded_and_upright():
    x1, y1 = rotation.make_dataset(20, seed=3)
    x2, y2 = rotation.make_dataset(20, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (20, rotation.IMAGE_SIZE, rotation.IMAGE_SIZE, 1)
    assert y1.dtype == np.int32 and set(np.unique(y1)) <= set(range(rotation.NUM_CLASSES))
    # No glyph is a 90-degree rotation of itself or of another glyph.
    glyphs = rotation._glyph_images()
    for a in range(len(glyphs)):
        for b in range(len(glyphs)):
            for k in (1, 2, 3):
                assert not np.array_equal(np.rot90(glyphs[a], k), glyphs[b])
