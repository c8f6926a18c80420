"""The ``export`` example: trains, fuses, exports to ONNX, runs onnxruntime
(marker `export`: the `export` nox session, which has onnxruntime), and the
demo's handling of its missing requirements (every session)."""

from __future__ import annotations

import pytest

from keras_cv_layers import demo
from keras_cv_layers.examples import export


@pytest.mark.export
def test_run_small_exports_and_matches(tmp_path):
    pytest.importorskip("onnxruntime")
    report = export.run(epochs=1, out_dir=tmp_path, verbose=0, small=True)
    assert report["onnx_max_abs_diff"] <= 1e-4
    assert report["fused_max_abs_diff"] <= 1e-4
    assert report["onnx_bytes"] > 0 and report["onnx_fused_bytes"] > 0
    assert (tmp_path / "export_fused.onnx").is_file()


def test_demo_skips_it_without_the_extra_unless_asked(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo, "missing_requirements", lambda module: ["onnxruntime"])
    # Not asked for: skipped, not failed (every example "missing" here, so none runs).
    assert demo.run_all(out_dir=tmp_path, verbose=0, small=True) == []
    assert "skipped: needs onnxruntime" in capsys.readouterr().out
    # Asked for by name: a failed row that says what to install.
    (row,) = demo.run_all(only=["export"], out_dir=tmp_path, verbose=0, small=True)
    assert not row["ok"] and "keras-cv-layers[export]" in row["error"]


def test_missing_requirements_reads_requires():
    assert demo.missing_requirements(None) == []
    assert set(demo.missing_requirements(export)) <= set(export.REQUIRES)
