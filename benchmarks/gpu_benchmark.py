# SPDX-License-Identifier: BSD-3-Clause
"""GPU benchmark: nbnumba's CUDA kernel and nanoBraggCUDA side by side on BENCH-1/2/3
(shared/docs/benchmarks.md), on the same card in the same call.

For every workload, each repetition runs nanoBraggCUDA (``--cuda-bin``, built by the caller from
bl831/nanoBragg's ``cuda/`` folder outside this repository; ``-precision double``, and once
``-precision single`` for reference) and then nbnumba, interleaved:

- kernel time: nanoBraggCUDA's ``KERNEL_MS`` (its CUDA events around the kernel) against nbnumba's
  ``Result.kernel_seconds`` (CUDA events around the pixel and row-sum kernels), from an in-process
  ``simulate`` after a warm-up run (compilation and cache load are not kernel time);
- whole program: wall time of each program as a fresh process, warm compilation cache;
- images: nbnumba's float image against nanoBraggCUDA's (max |difference| / max, correlation).
  nanoBraggCUDA has no phi carryover, so it agrees with nbnumba's default (spec) mode.

Writes ``<out>.md`` and ``<out>.json`` with the card, driver, versions and git commit.

    python benchmarks/gpu_benchmark.py --cuda-bin /tmp/nanoBraggCUDA --reps 3
    python benchmarks/gpu_benchmark.py --reps 1 --detpixels 32 --device cpu   # harness check, no GPU

``--sweep`` also times nbnumba's kernel on BENCH-1/2 for each launch configuration in ``SWEEP``
(threads per block x register cap, set through $NBNUMBA_CUDA_THREADS_PER_BLOCK and
$NBNUMBA_CUDA_MAX_REGISTERS), to choose the defaults in ``nbnumba/kernels/cuda.py``.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_benchmark import INPUTS, OURS, ROOT, WORKLOADS, git_commit  # noqa: E402

#: nanoBraggCUDA's targets on an H200 (shared/docs/benchmarks.md), kernel ms, "double" (float pairs)
NANOBRAGGCUDA_H200_MS = {"BENCH-1": 3.19, "BENCH-2": 9.95, "BENCH-3": 0.42}
#: launch configurations of --sweep: (threads per block, register cap; 0 = the compiler's choice)
SWEEP = [(threads, registers) for threads in (64, 128, 256) for registers in (0, 64, 96, 128)]
#: issue 5's whole-program target for BENCH-2, warm (s)
BENCH2_WALL_TARGET = 1.5

KERNEL_PROBE = r"""
import json, sys
from nbnumba import simulate
from nbnumba import params_from_argv
params = params_from_argv(sys.argv[3:])[0]
reps = int(sys.argv[2])
simulate(params, device=sys.argv[1])  # compile or load the kernel, create the GPU context
kernel, render = [], []
for _ in range(reps):
    result = simulate(params, device=sys.argv[1])
    kernel.append(result.kernel_seconds)
    render.append(result.seconds)
result.floatimage.tofile("kernel_probe.bin")
print(json.dumps(dict(kernel=kernel, render=render, device=result.device)))
"""

GPU_PROBE = r"""
import json
from numba import cuda
gpu = cuda.get_current_device()
name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
try:
    driver = cuda.cudadrv.driver.driver.get_version()
except Exception:
    driver = None
import numba, numpy
try:
    from importlib.metadata import version
    numba_cuda = version("numba-cuda")
except Exception:
    numba_cuda = None
print(json.dumps(dict(gpu=name, compute_capability=list(gpu.compute_capability), driver=driver,
                      numba=numba.__version__, numba_cuda=numba_cuda, numpy=numpy.__version__)))
"""

COMPARE_PROBE = r"""
import json, sys
import numpy as np
a = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
b = np.fromfile(sys.argv[2], np.float32).astype(np.float64)
print(json.dumps(dict(rel_max_diff=float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300)),
                      correlation=float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None)))
"""


def child_json(code, *args, cwd=None, env=None, timeout=900):
    done = subprocess.run([sys.executable, "-c", code] + [str(a) for a in args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError("probe failed: %s" % done.stderr.strip()[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(cmd, cwd, env, timeout=900):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], done.returncode, done.stderr.strip()[-2000:]))
    return wall, done


def kernel_ms_of(stderr):
    match = re.search(r"KERNEL_MS\s+([0-9.eE+-]+)", stderr)
    return float(match.group(1)) if match else None


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return dict(min=min(values), median=statistics.median(values), all=values)


def run_workload(name, args, cuda_bin, reps, device, workdir, env):
    argv = args.split()
    result = dict(workload=name, args=args)
    # nbnumba: kernel time in process (after a warm-up that compiles/loads the kernel)
    probe = child_json(KERNEL_PROBE, device, reps, *argv, cwd=workdir, env=env)
    result["nbnumba_kernel_s"] = summary(probe["kernel"])
    result["nbnumba_render_s"] = summary(probe["render"])
    result["nbnumba_device"] = probe["device"]
    ours_wall, theirs_wall, theirs_kernel, theirs_single = [], [], [], []
    for _ in range(reps):
        if cuda_bin:
            wall, done = timed([cuda_bin] + argv + ["-precision", "double", "-floatfile", "theirs.bin"], workdir, env)
            theirs_wall.append(wall)
            theirs_kernel.append(kernel_ms_of(done.stderr))
        wall, _ = timed(OURS + argv + ["--device", device, "-floatfile", "ours.bin"], workdir, env)
        ours_wall.append(wall)
    if cuda_bin:
        _, done = timed([cuda_bin] + argv + ["-precision", "single", "-floatfile", "theirs_single.bin"], workdir, env)
        theirs_single.append(kernel_ms_of(done.stderr))
        result["agreement_double"] = child_json(COMPARE_PROBE, "theirs.bin", "ours.bin", cwd=workdir)
        result["agreement_single"] = child_json(COMPARE_PROBE, "theirs_single.bin", "ours.bin", cwd=workdir)
    result["nbnumba_wall_s"] = summary(ours_wall)
    result["nanobraggcuda_wall_s"] = summary(theirs_wall)
    result["nanobraggcuda_double_kernel_ms"] = summary(theirs_kernel)
    result["nanobraggcuda_single_kernel_ms"] = summary(theirs_single)
    return result


def sweep(workloads, reps, workdirs, env, device="cuda"):
    """nbnumba's kernel time (min, ms) per launch configuration and workload."""
    rows = []
    for threads, registers in SWEEP:
        row = dict(threads_per_block=threads, max_registers=registers)
        sweep_env = dict(env, NBNUMBA_CUDA_THREADS_PER_BLOCK=str(threads), NBNUMBA_CUDA_MAX_REGISTERS=str(registers))
        for name, args in workloads:
            probe = child_json(KERNEL_PROBE, device, reps, *args.split(), cwd=workdirs[name], env=sweep_env)
            row[name] = min(probe["kernel"]) * 1000.0
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def sweep_md(rows, names):
    lines = ["", "## Launch configurations (`--sweep`): nbnumba kernel ms, min", "",
             "| threads per block | register cap | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for row in rows:
        lines.append("| %d | %s | %s |" % (row["threads_per_block"], row["max_registers"] or "compiler's",
                                          " | ".join(fmt(row[name]) for name in names)))
    return "\n".join(lines) + "\n"


def fmt(value, scale=1.0, digits=3):
    if value is None:
        return "n/a"
    return "%.*f" % (digits, value * scale)


def report_md(results, meta):
    lines = ["# GPU benchmark: nbnumba --device cuda and nanoBraggCUDA", "",
             "Generated by `benchmarks/gpu_benchmark.py` at commit `%s` on %s." % (meta["commit"], meta["date"]), "",
             "Card: %s (compute capability %s), driver %s; numba %s, numba-cuda %s, numpy %s; host %s, %s logical "
             "CPUs. nanoBraggCUDA: `%s`, built in the same call. %d repetitions, interleaved; kernel times are "
             "CUDA events (nanoBraggCUDA's `KERNEL_MS`; nbnumba's `Result.kernel_seconds`), whole-program times "
             "are wall times of fresh processes with a warm compilation cache." % (
                 meta.get("gpu"), meta.get("compute_capability"), meta.get("driver"), meta.get("numba"),
                 meta.get("numba_cuda"), meta.get("numpy"), meta["host"], meta["logical_cpus"], meta["cuda_bin"],
                 meta["reps"]), "",
             "| workload | nanoBraggCUDA double, kernel ms (min / median) | nbnumba, kernel ms (min / median) | "
             "kernel ratio (theirs/ours, min) | nanoBraggCUDA single, kernel ms | nanoBraggCUDA wall s (min) | "
             "nbnumba wall s (min / median) | nbnumba vs nanoBraggCUDA double: max diff / max, correlation |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        theirs = r["nanobraggcuda_double_kernel_ms"]
        ours = r["nbnumba_kernel_s"]
        ratio = theirs["min"] / (ours["min"] * 1000.0) if theirs and ours and ours["min"] > 0 else None
        single = r["nanobraggcuda_single_kernel_ms"]
        agree = r.get("agreement_double") or {}
        lines.append("| %s | %s / %s | %s / %s | %s | %s | %s | %s / %s | %s, %s |" % (
            r["workload"], fmt(theirs and theirs["min"]), fmt(theirs and theirs["median"]),
            fmt(ours["min"], 1000.0), fmt(ours["median"], 1000.0), fmt(ratio, digits=2),
            fmt(single and single["min"]), fmt(r["nanobraggcuda_wall_s"] and r["nanobraggcuda_wall_s"]["min"]),
            fmt(r["nbnumba_wall_s"]["min"]), fmt(r["nbnumba_wall_s"]["median"]),
            "%.2g" % agree["rel_max_diff"] if agree else "n/a",
            "%.6f" % agree["correlation"] if agree.get("correlation") is not None else "n/a"))
    lines += ["", "Targets (issue 5): nbnumba's kernel time at most nanoBraggCUDA's double kernel time on BENCH-1 "
              "and BENCH-2 (on an H200: %.2f ms and %.2f ms), and BENCH-2's whole program under %.1f s warm." % (
                  NANOBRAGGCUDA_H200_MS["BENCH-1"], NANOBRAGGCUDA_H200_MS["BENCH-2"], BENCH2_WALL_TARGET)]
    for r in results:
        theirs = r["nanobraggcuda_double_kernel_ms"]
        if theirs and r["workload"] in ("BENCH-1", "BENCH-2"):
            met = r["nbnumba_kernel_s"]["min"] * 1000.0 <= theirs["min"]
            lines.append("- %s kernel: %s" % (r["workload"], "met" if met else "NOT met"))
        if r["workload"] == "BENCH-2":
            met = r["nbnumba_wall_s"]["min"] < BENCH2_WALL_TARGET
            lines.append("- BENCH-2 whole program: %s" % ("met" if met else "NOT met"))
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cuda-bin", default=os.environ.get("NB_CUDA_BIN"),
                        help="nanoBraggCUDA executable (default: $NB_CUDA_BIN; none: nbnumba alone)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workloads", default="BENCH-1,BENCH-2,BENCH-3")
    parser.add_argument("--detpixels", type=int, help="override the detector size (harness checks)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="nbnumba's device (cpu: a harness check without a GPU)")
    parser.add_argument("--sweep", action="store_true", help="also time launch configurations on BENCH-1/2")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "reports" / "gpu_benchmark"))
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    meta = dict(commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M:%S %z"), host=platform.platform(),
                logical_cpus=os.cpu_count(), cuda_bin=args.cuda_bin, reps=args.reps, device=args.device)
    if args.device == "cuda":
        meta.update(child_json(GPU_PROBE, env=env))
    results, workloads, workdirs, sweep_rows = [], [], {}, None
    with tempfile.TemporaryDirectory(prefix="nbnumba-gpu-bench-") as tmp:
        for name in args.workloads.split(","):
            workdir = workdirs[name] = Path(tmp) / name
            workdir.mkdir()
            for input_name in ("tet.mat", "bench.hkl", "cubic.hkl"):
                shutil.copy(INPUTS / input_name, workdir)
            workload = WORKLOADS[name] + (" -detpixels %d" % args.detpixels if args.detpixels else "")
            workloads.append((name, workload))
            results.append(run_workload(name, workload, args.cuda_bin, args.reps, args.device, workdir, env))
            print(json.dumps(results[-1]), flush=True)
        swept = [(name, w) for name, w in workloads if name in ("BENCH-1", "BENCH-2")]
        if args.sweep and args.device == "cuda" and swept:
            sweep_rows = sweep(swept, args.reps, workdirs, env)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(dict(meta=meta, results=results, sweep=sweep_rows), indent=1)
                                        + "\n")
    Path(args.out + ".md").write_text(report_md(results, meta)
                                      + (sweep_md(sweep_rows, [n for n, _ in swept]) if sweep_rows else ""))
    print("wrote %s.md and %s.json" % (args.out, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
