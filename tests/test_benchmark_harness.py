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


STAND_IN_CUDA = '''#!{python}
# stand-in for nanoBraggCUDA: nbnumba on the CPU with the flags it was given, and a KERNEL_MS line
import subprocess, sys
args = sys.argv[1:]
if "-precision" in args:
    del args[args.index("-precision"):args.index("-precision") + 2]
subprocess.run([sys.executable, "-c", "from nbnumba.cli.main import main; main()", "--device", "cpu"] + args,
               check=True, capture_output=True)
print("KERNEL_MS 2.5", file=sys.stderr)
'''


def test_gpu_harness_runs_with_a_stand_in_and_writes_its_reports(tmp_path):
    """The GPU benchmark's bookkeeping, on the CPU: nbnumba's kernel time, the baseline's KERNEL_MS,
    both wall times and the image comparison, for a stand-in baseline that renders the same image."""
    stand_in = tmp_path / "nanoBraggCUDA"
    stand_in.write_text(STAND_IN_CUDA.format(python=sys.executable))
    stand_in.chmod(0o755)
    out = tmp_path / "gpu"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_benchmark.py"), "--reps", "2", "--device", "cpu",
                    "--workloads", "BENCH-3", "--detpixels", "16", "--cuda-bin", str(stand_in), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    report = json.loads(out.with_suffix(".json").read_text())
    (result,) = report["results"]
    assert result["nanobraggcuda_double_kernel_ms"]["all"] == [2.5, 2.5]
    assert len(result["nbnumba_kernel_s"]["all"]) == 2 and result["nbnumba_kernel_s"]["min"] > 0
    assert len(result["nbnumba_wall_s"]["all"]) == 2 and result["nbnumba_device"] == "cpu"
    assert result["agreement_double"]["rel_max_diff"] == 0.0
    ratio = 2.5 / (result["nbnumba_kernel_s"]["min"] * 1000.0)
    assert "| BENCH-3 | 2.500 / 2.500 | %.3f / " % (result["nbnumba_kernel_s"]["min"] * 1000.0) in \
        out.with_suffix(".md").read_text()
    assert "| %.2f |" % ratio in out.with_suffix(".md").read_text()
