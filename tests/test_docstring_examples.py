"""Runs the ``>>>`` examples of every public object's docstring on the
current backend (every backend in CI), one test per public name.

Public objects: ``keras_cv_layers.__all__``, ``keras_cv_layers.ops.__all__`` and
``keras_cv_layers.utils.__all__``;
layers and ops added to those lists are picked up automatically.  For a
class, the examples of its own methods are run too.  Every public layer class
must have an example.  Examples run in a fresh namespace (they import what
they use, as a user copying them would) with the data_format they pass
explicitly, so they give the same output under any ``keras.json``.
"""

from __future__ import annotations

import doctest
import inspect
import types

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl

OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _public_objects() -> dict[str, object]:
    objects = {}
    for name in kcl.__all__:
        obj = getattr(kcl, name)
        if isinstance(obj, types.ModuleType) or name.startswith("__"):
            continue  # modules (`ops` is listed member by member below), __version__
        if not getattr(obj, "__module__", "").startswith("keras_cv_layers"):
            continue  # re-exported Keras classes (`kcl.Flatten`): Keras' own docs
        objects[name] = obj
    for name in kcl.ops.__all__:
        objects[f"ops.{name}"] = getattr(kcl.ops, name)
    for name in kcl.utils.__all__:
        objects[f"utils.{name}"] = getattr(kcl.utils, name)
    return objects


PUBLIC = _public_objects()


def _is_layer_class(obj: object) -> bool:
    return inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)


def _doctests(name: str, obj: object) -> list[doctest.DocTest]:
    """The doctests of `obj`'s docstring and of its own methods' docstrings."""
    finder = doctest.DocTestFinder(recurse=inspect.isclass(obj), exclude_empty=True)
    module = inspect.getmodule(obj)
    tests = finder.find(obj, name=f"keras_cv_layers.{name}", module=module, globs={})
    return [t for t in tests if t.examples]


def test_public_objects_are_collected():
    assert "Conv2D" in PUBLIC and "LayerNormalization" in PUBLIC
    assert all(not isinstance(obj, types.ModuleType) for obj in PUBLIC.values())


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstring_examples(name):
    obj = PUBLIC[name]
    tests = _doctests(name, obj)
    if _is_layer_class(obj):
        own_doc = inspect.getdoc(obj) or ""
        assert ">>>" in own_doc, (
            f"kcl.{name} has no runnable Example in its docstring (a '>>>' block with "
            "explicit data_format and a deterministic printed output)."
        )
    if not tests:
        pytest.skip(f"{name}: no docstring examples (not a layer class)")
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    policy = keras.config.dtype_policy()
    try:
        for test in tests:
            np.random.seed(0)
            keras.utils.set_random_seed(0)
            test.globs = {"__name__": "__main__"}
            collector = _Collector()
            runner.run(test, out=collector)
            assert runner.failures == 0, (
                f"docstring example of {test.name} failed on backend "
                f"{keras.backend.backend()} ({keras.config.image_data_format()}):\n"
                + collector.text
            )
    finally:
        keras.config.set_dtype_policy(policy)
    assert runner.tries > 0


class _Collector:
    """Collects doctest's failure report (it is written through `out`)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __call__(self, text: str) -> None:
        self.parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def test_missing_example_is_detected():
    """The check above can fail: a layer class without '>>>' is caught."""

    class NoExample(keras.layers.Layer):
        """A layer without an example."""

    assert _is_layer_class(NoExample)
    assert ">>>" not in (inspect.getdoc(NoExample) or "")
    assert _doctests("NoExample", NoExample) == []


def test_failing_example_is_detected():
    """A wrong expected output makes the runner report a failure."""

    def wrong():
        """
        >>> 1 + 1
        3
        """

    (test,) = _doctests("wrong", wrong)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    collector = _Collector()
    runner.run(test, out=collector)
    assert runner.failures == 1 and "Expected" in collector.text
