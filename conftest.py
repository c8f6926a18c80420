"""Session-wide test setup: backend choice/reporting, seeds, markers.

The backend comes from KERAS_BACKEND or a keras.json under KERAS_HOME (as in
Keras' own CI).  When tensorflow and torch are both installed, torch is
imported first: importing them the other way round can segfault.
"""

import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  (must precede tensorflow)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return (
        f"keras {keras.__version__}, backend={keras.backend.backend()}, "
        f"image_data_format={keras.config.image_data_format()}"
    )


@pytest.fixture(autouse=True)
def _deterministic():
    """Seeds numpy and Keras, and resets global state around every test."""
    np.random.seed(1234)
    keras.utils.set_random_seed(1234)
    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)
    # free_memory=False: the full gc.collect() costs 0.2-0.5 s per test with
    # all three frameworks loaded.
    keras.backend.clear_session(free_memory=False)
