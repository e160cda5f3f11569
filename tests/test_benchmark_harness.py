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
                    "--workloads", "BENCH-3", "--detpixels", "16", "--no-cold", "--no-memory", "--out", str(out),
                    "--precision", "double,single"], check=True, capture_output=True, timeout=300)
    report = json.loads(out.with_suffix(".json").read_text())
    run = report["workloads"]["BENCH-3"]["threads"]["1"]
    assert report["c_program"] is None and "c" not in run
    assert report["workloads"]["BENCH-3"]["samples"] == 16 * 16
    assert set(run["by_precision"]) == {"double", "single"}
    for precision in ("double", "single"):
        ours = run["by_precision"][precision]
        assert len(ours["ours"]["all"]) == 1 and ours["ours"]["min"] > 0
        assert ours["ours_samples_per_s"] == 16 * 16 / ours["ours"]["min"]
    assert run["ours"] == run["by_precision"]["double"]["ours"]  # the first precision, also at the top level
    assert run["single_vs_double_min"] == run["ours"]["min"] / run["by_precision"]["single"]["ours"]["min"]
    text = out.with_suffix(".md").read_text()
    assert "| BENCH-3 | 1 | double |" in text and "| BENCH-3 | 1 | single |" in text


def test_harness_times_cold_starts_against_the_baseline(tmp_path, monkeypatch):
    """``--cold-workloads`` with ``--baseline-tree``: each workload also started with an empty compilation cache,
    this tree and the baseline (here the same checkout) interleaved, and both reported."""
    monkeypatch.delenv("NB_C_BIN", raising=False)
    out = tmp_path / "bench"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_benchmark.py"), "--reps", "1", "--threads", "1",
                    "--workloads", "BENCH-3", "--detpixels", "16", "--no-memory", "--baseline-tree", str(ROOT),
                    "--cold-workloads", "BENCH-3", "--out", str(out)], check=True, capture_output=True, timeout=600)
    entry = json.loads(out.with_suffix(".json").read_text())["workloads"]["BENCH-3"]
    for key in ("cold_start", "baseline_cold_start"):
        assert len(entry[key]["all"]) == 1 and entry[key]["min"] > 0
    assert len(entry["threads"]["1"]["baseline"]["all"]) == 1
    text = out.with_suffix(".md").read_text()
    assert "- BENCH-3 start-up: warm cache" in text and "- BENCH-3 cold start of the baseline, interleaved:" in text


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


def test_gpu_harness_sweep_bookkeeping(monkeypatch, tmp_path):
    """--sweep: one kernel probe per launch configuration and workload, each with its environment
    knobs, and one table row per configuration (the probes are stood in for: they need a GPU)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_benchmark
    seen = []

    def probe(code, device, reps, *args, cwd=None, env=None):
        seen.append((env["NBNUMBA_CUDA_THREADS_PER_BLOCK"], env["NBNUMBA_CUDA_MAX_REGISTERS"], cwd.name))
        return dict(kernel=[0.004, 0.003] if cwd.name == "BENCH-1" else [0.010])

    monkeypatch.setattr(gpu_benchmark, "child_json", probe)
    workdirs = {"BENCH-1": tmp_path / "BENCH-1", "BENCH-2": tmp_path / "BENCH-2"}
    rows = gpu_benchmark.sweep([("BENCH-1", "-N 1"), ("BENCH-2", "-N 2")], 2, workdirs, {})
    assert len(rows) == len(gpu_benchmark.SWEEP) and len(seen) == 2 * len(gpu_benchmark.SWEEP)
    assert ("64", "96", "BENCH-2") in seen
    assert rows[0] == {"threads_per_block": 64, "max_registers": 0, "BENCH-1": 3.0, "BENCH-2": 10.0}
    table = gpu_benchmark.sweep_md(rows, ["BENCH-1", "BENCH-2"])
    assert "| 64 | compiler's | 3.000 | 10.000 |" in table and "| 256 | 128 | 3.000 | 10.000 |" in table


def test_harness_memory_probe_loads_the_kernel_and_measures(tmp_path, monkeypatch):
    """BENCH-2's memory probe (which loads the kernel by calling it on no pixels, then renders) runs against the
    kernel's current signature, here the single-precision kernel (its sample stream needs LLVM options)."""
    monkeypatch.delenv("NB_C_BIN", raising=False)
    out = tmp_path / "bench"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_benchmark.py"), "--reps", "1", "--threads", "1",
                    "--workloads", "BENCH-2", "--detpixels", "16", "--no-cold", "--out", str(out),
                    "--precision", "single"], check=True, capture_output=True, timeout=600)
    memory = json.loads(out.with_suffix(".json").read_text())["workloads"]["BENCH-2"]["memory"]
    assert memory["peak_rss"] >= memory["rss_after_imports_and_kernel"] > 0
    assert memory["float_image_bytes"] == 16 * 16 * 4
