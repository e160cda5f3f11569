# SPDX-License-Identifier: BSD-3-Clause
"""Smoke test of benchmarks/cpu_benchmark.py: a tiny BENCH-3, one repetition, nbnumba only."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_harness_runs_without_c_and_writes_its_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("NB_C_BIN", raising=False)
    out = tmp_path / "bench"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_benchmark.py"), "--reps", "1", "--threads", "1",
                    "--workloads", "BENCH-3", "--detpixels", "16", "--no-cold", "--no-memory", "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    report = json.loads(out.with_suffix(".json").read_text())
    run = report["workloads"]["BENCH-3"]["threads"]["1"]
    assert report["c_program"] is None and "c" not in run
    assert report["workloads"]["BENCH-3"]["samples"] == 16 * 16
    assert len(run["ours"]["all"]) == 1 and run["ours"]["min"] > 0
    assert run["ours_samples_per_s"] == 16 * 16 / run["ours"]["min"]
    assert "| BENCH-3 | 1 |" in out.with_suffix(".md").read_text()


def test_batch_harness_runs_without_c_and_writes_its_reports(tmp_path, monkeypatch):
    monkeypatch.delenv("NB_C_BIN", raising=False)
    out = tmp_path / "batch"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "batch_benchmark.py"), "--jobs", "3", "--threads", "1",
                    "--detpixels", "16", "--out", str(out)], check=True, capture_output=True, timeout=300)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["c_program"] is None and set(report["ways"]) == {"batch", "separate"}
    assert report["batch_images_identical_to_separate"] is True
    assert report["ways"]["batch"]["images_per_s"] == 3 / report["ways"]["batch"]["seconds"]["min"]
    assert "| one nbnumba-batch process |" in out.with_suffix(".md").read_text()
