# SPDX-License-Identifier: BSD-3-Clause
"""Side-by-side CPU benchmark: nanoBragg.c and nbnumba on BENCH-1/2/3 (shared/docs/benchmarks.md).

For every workload and thread count, each repetition runs the C program (if ``--c-bin`` or
``$NB_C_BIN`` names one) and then nbnumba, whole program, same arguments, same thread count
(OMP_NUM_THREADS / NUMBA_NUM_THREADS), so both see the same machine load. Writes
``<out>.md`` and ``<out>.json``: min and median wall time, the ratio C/nbnumba, samples per second,
peak RSS, warm and cold start (empty compilation cache: the first run of a flag combination) of BENCH-3 or
the workloads ``--cold-workloads`` names, the memory probe of BENCH-2, machine and git commit.
Python writes and reuses bytecode caches (``PYTHONDONTWRITEBYTECODE`` is cleared, as after a pip install).

    python benchmarks/cpu_benchmark.py --reps 5                      # with $NB_C_BIN
    python benchmarks/cpu_benchmark.py --reps 1 --detpixels 32 --workloads BENCH-3 --no-cold --no-memory

``--baseline-tree DIR`` also runs the nbnumba of another checkout (e.g. ``git worktree add /tmp/base
HEAD~1``), interleaved with this one, and reports the ratio baseline / this tree (a refactor's "no
slower than noise" check), cold starts included.

``--precision double,single`` times nbnumba in each precision, interleaved with C in every repetition,
and reports single against double from the same run, and the single-precision image against C's
(``max |difference| / max`` and the correlation; c-parity, so that C's phi carryover is reproduced):

    python benchmarks/cpu_benchmark.py --reps 3 --threads 2 --precision double,single --workloads BENCH-1,BENCH-2
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ROOT / "c_reference" / "inputs"

WORKLOADS = {
    "BENCH-1": "-mat tet.mat -hkl bench.hkl -lambda 1.0 -N 10 -distance 200 -detpixels 1024 -pixel 0.172 "
               "-mosaic 0.2 -mosaic_domains 10 -phi 0 -osc 0.1 -phisteps 4 -oversample 2 -nonoise -nopgm "
               "-noprogress",
    "BENCH-2": "-mat tet.mat -hkl bench.hkl -lambda 1.0 -N 10 -distance 200 -detpixels_x 2463 -detpixels_y 2527 "
               "-pixel 0.172 -oversample 1 -hdivrange 0.1 -vdivrange 0.1 -hdivsteps 3 -vdivsteps 3 -square_div "
               "-mosaic 0.2 -mosaic_domains 10 -nonoise -nopgm -noprogress",
    "BENCH-3": "-hkl cubic.hkl -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -default_F 100 -distance 100 "
               "-detsize 102.4 -pixel 0.1 -nonoise -nopgm -noprogress",
}
#: BENCH-1 with 2 unit cells a side: C's default tricubic interpolation (N <= 2), which its first sample out of
#: the HKL table's range switches off for the rest of the run (not run by default: ``--workloads BENCH-1-N2``)
WORKLOADS["BENCH-1-N2"] = WORKLOADS["BENCH-1"].replace("-N 10", "-N 2")


def command(tree):
    """The ``nbnumba`` command of checkout ``tree`` as pip installs it: its ``scripts/nbnumba`` (run
    directly: ``NBNUMBA_WORKER=0``, see ``run``), or the click command of a checkout from before it."""
    script = Path(tree) / "scripts" / "nbnumba"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "from nbnumba.cli.main import main; main()"]


OURS = command(ROOT)

# run inside a child: RSS after imports and kernel load, then the whole run, then the peak
MEMORY_PROBE = r"""
import sys, gc
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
import numba
from nbnumba import params_from_argv
from nbnumba import run
from nbnumba._jit import llvm_options
from nbnumba.kernels.cpu import make_cpu_kernel
from nbnumba.kernels.pixel import sample_stream_llvm_options
from nbnumba.render.plan import make_plan
from nbnumba.setup import prepare
import numpy as np
params = params_from_argv(sys.argv[1:])[0]
plan = make_plan(prepare(params))
kernel = make_cpu_kernel(plan.flags)
empty = np.zeros((0, 1), np.float32)
with llvm_options(sample_stream_llvm_options(plan.flags)):
    kernel(0, 0, empty, np.zeros(0), np.zeros((0, 0), np.int32), np.zeros((0, 0), np.uint8), plan.mask, plan.passes,
           plan.scalars, plan.vectors, plan.crystal, plan.setup.sources, plan.setup.cells_first,
           plan.setup.cells_carry, plan.fhkl, numba.get_num_threads())
table_bytes = plan.fhkl.nbytes
del plan
gc.collect()
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark
    reset = True
except OSError:
    reset = False
base = status("VmRSS")
run.run(params, log=lambda line: None)
print(base, status("VmHWM"), table_bytes, int(reset))
"""


def child_python(code, *args, cwd=None, env=None):
    """Run ``code`` in a fresh interpreter and return its stdout. The harness itself imports neither
    numpy nor numba: a forked child starts with its parent's peak-RSS mark, which would then show
    in every ``ru_maxrss``."""
    return subprocess.run([sys.executable, "-c", code] + [str(a) for a in args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True).stdout


SETUP_PROBE = r"""
import sys
from nbnumba import params_from_argv
from nbnumba.setup import prepare
setup = prepare(params_from_argv(sys.argv[1:])[0])
print(int(setup.rendered().sum()) * setup.n_steps * setup.steps.detector_thicksteps,
      setup.detector.fpixels * setup.detector.spixels * 4)
"""

DIFF_PROBE = r"""
import sys
import numpy as np
c = np.fromfile(sys.argv[1], np.float32).astype(np.float64)
ours = np.fromfile(sys.argv[2], np.float32).astype(np.float64)
print(float(np.abs(c - ours).max() / max(np.abs(c).max(), 1e-300)), float(np.corrcoef(c, ours)[0, 1]))
"""

PRECISIONS = ("double", "single")

VERSIONS_PROBE = "import numpy, numba; print(numpy.__version__, numba.__version__)"


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    numpy_version, numba_version = child_python(VERSIONS_PROBE).split()
    return dict(cpu=model, logical_cpus=os.cpu_count(), system=platform.platform(),
                python=platform.python_version(), numpy=numpy_version, numba=numba_version)


def git_commit(root=ROOT):
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def timed(cmd, cwd, env):
    """Wall seconds and peak RSS (bytes) of one run; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], proc.returncode, err[-2000:]))
    return wall, usage.ru_maxrss * 1024


def summary(times):
    return dict(min=min(times), median=statistics.median(times), all=times)


def image_difference(cwd, c_file, our_file, env):
    """max |C - ours| / max |C| of two float images."""
    return image_agreement(cwd, c_file, our_file, env)[0]


def image_agreement(cwd, c_file, our_file, env):
    """(max |C - ours| / max |C|, correlation) of two float images."""
    rel, corr = child_python(DIFF_PROBE, c_file, our_file, cwd=cwd, env=env).split()
    return float(rel), float(corr)


def run(args):
    work = Path(tempfile.mkdtemp(prefix="nbnumba-bench-"))
    for name in os.listdir(INPUTS):
        shutil.copy(INPUTS / name, work / name)
    env_base = dict(os.environ)
    # as after a pip install, which compiles the package's bytecode once: a development environment
    # with PYTHONDONTWRITEBYTECODE set would compile every module from source in every run (~0.1 s)
    env_base.pop("PYTHONDONTWRITEBYTECODE", None)
    env_base["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env_base["NBNUMBA_WORKER"] = "0"  # direct runs: never hand them to a warm worker the user started
    # a compilation cache of its own, filled by the command's first (untimed) runs, as a user's first run fills
    # it: a cache the tests filled can hold kernels that run at other speeds (one compiled after a test had
    # compiled a physics helper on its own ran BENCH-1's shape 15% faster, and 2.5x slower in that process)
    env_base["NBNUMBA_CACHE_DIR"] = str(work / "compilation-cache")
    c_bin = args.c_bin or os.environ.get("NB_C_BIN")
    if c_bin and not os.access(c_bin, os.X_OK):
        print("no executable C program at %s: nbnumba only" % c_bin, file=sys.stderr)
        c_bin = None
    report = dict(machine=machine(), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                  c_program=c_bin, baseline_tree=args.baseline_tree,
                  baseline_commit=git_commit(Path(args.baseline_tree)) if args.baseline_tree else None,
                  repetitions=args.reps, precision=args.precision, load_average_start=os.getloadavg(), workloads={})
    precisions = args.precision.split(",")
    if not precisions or any(p not in PRECISIONS for p in precisions) or len(set(precisions)) < len(precisions):
        raise SystemExit("--precision: a comma-separated list of %s, not %r" % ("/".join(PRECISIONS), args.precision))
    threads = [int(t) for t in args.threads.split(",")]
    base_tree = Path(args.baseline_tree).resolve() if args.baseline_tree else None
    base_command = command(base_tree) if base_tree else None
    for name in args.workloads.split(","):
        argv = WORKLOADS[name].split()
        if args.detpixels:
            argv += ["-detpixels", str(args.detpixels)]
        n_samples, image_bytes = (int(v) for v in child_python(SETUP_PROBE, *argv, cwd=work, env=env_base).split())
        entry = dict(arguments=" ".join(argv), samples=n_samples, threads={})
        report["workloads"][name] = entry
        # per precision; the default (double) is left out of the command, so that a --baseline-tree without
        # the flag runs too
        argv_of = {p: argv + ["-floatfile", "ours.bin", "-intfile", "ours.img"]
                   + ([] if p == "double" else ["--precision", p]) for p in precisions}
        ours_argv = argv_of[precisions[0]]
        c_argv = argv + ["-floatfile", "c.bin", "-intfile", "c.img"]
        for t in threads:
            env = dict(env_base, OMP_NUM_THREADS=str(t), NUMBA_NUM_THREADS=str(t))
            for p in precisions:
                timed(OURS + argv_of[p], work, env)  # compile or load once, outside the timings
            base_env = None
            if base_tree:
                base_env = dict(env, PYTHONPATH=str(base_tree))
                timed(base_command + ours_argv, work, base_env)
            rows = dict(c=[], c_rss=[], base=[], **{"ours_" + p: [] for p in precisions},
                        **{"rss_" + p: [] for p in precisions})
            for rep in range(args.reps):
                if base_env is not None:
                    rows["base"].append(timed(base_command + ours_argv, work, base_env)[0])
                if c_bin:
                    wall, rss = timed([c_bin] + c_argv, work, env)
                    rows["c"].append(wall)
                    rows["c_rss"].append(rss)
                    if t == min(threads) and rep == 0:
                        # C's phi carryover restarts in every OpenMP thread: compare images with
                        # the C run on the fewest threads (c-parity reproduces single-threaded C)
                        shutil.copy(work / "c.bin", work / "c_ref.bin")
                        entry["c_image_threads"] = t
                for p in precisions:
                    wall, rss = timed(OURS + argv_of[p], work, env)
                    rows["ours_" + p].append(wall)
                    rows["rss_" + p].append(rss)
                print("%s %d thread(s) rep %d: %s%s" % (
                    name, t, rep, "  ".join("ours (%s) %.3f s" % (p, rows["ours_" + p][-1]) for p in precisions),
                    "  C %.3f s" % rows["c"][-1] if c_bin else ""), file=sys.stderr, flush=True)
            result = dict(by_precision={})
            if c_bin:
                result.update(c=summary(rows["c"]), c_peak_rss=max(rows["c_rss"]))
                result["c_samples_per_s"] = entry["samples"] / result["c"]["min"]
            for p in precisions:
                ours = dict(ours=summary(rows["ours_" + p]), ours_peak_rss=max(rows["rss_" + p]))
                ours["ours_samples_per_s"] = entry["samples"] / ours["ours"]["min"]
                if c_bin:
                    ours["speedup_min"] = result["c"]["min"] / ours["ours"]["min"]
                    ours["speedup_median"] = result["c"]["median"] / ours["ours"]["median"]
                result["by_precision"][p] = ours
            # the first precision also at the top level (earlier reports' layout)
            result.update(result["by_precision"][precisions[0]])
            if "double" in precisions and "single" in precisions:
                single, double = rows["ours_single"], rows["ours_double"]
                result["single_vs_double_min"] = min(double) / min(single)
                result["single_vs_double_median"] = statistics.median(double) / statistics.median(single)
            if rows["base"]:
                result["baseline"] = summary(rows["base"])
                result["vs_baseline_min"] = result["baseline"]["min"] / result["ours"]["min"]
                result["vs_baseline_median"] = result["baseline"]["median"] / result["ours"]["median"]
            entry["threads"][str(t)] = result
        if c_bin:
            # the images: C's, and ours in c-parity mode (C's phi carryover) and in the default mode
            timed(OURS + ours_argv + ["--phi-carryover-mode", "c-parity"], work, env_base)
            entry["max_rel_diff_c_parity_vs_c"] = image_difference(work, "c_ref.bin", "ours.bin", env_base)
            timed(OURS + ours_argv, work, env_base)
            entry["max_rel_diff_default_vs_c"] = image_difference(work, "c_ref.bin", "ours.bin", env_base)
            if "single" in precisions:
                timed(OURS + argv_of["single"] + ["--phi-carryover-mode", "c-parity"], work, env_base)
                rel, corr = image_agreement(work, "c_ref.bin", "ours.bin", env_base)
                entry["single_c_parity_vs_c"] = dict(max_rel_diff=rel, correlation=corr)
        if name in args.cold_workloads.split(",") and not args.no_cold:
            cold, base_cold = [], []
            for _ in range(args.cold_reps):
                ways = [(cold, OURS, env_base["PYTHONPATH"])]
                if base_tree:
                    ways.append((base_cold, base_command, str(base_tree)))
                for times, program, path in ways:
                    cache = tempfile.mkdtemp(prefix="nbnumba-cold-cache-")
                    env = dict(env_base, NBNUMBA_CACHE_DIR=cache, NUMBA_NUM_THREADS=str(max(threads)), PYTHONPATH=path)
                    times.append(timed(program + ours_argv, work, env)[0])
                    shutil.rmtree(cache, ignore_errors=True)
            entry["cold_start"] = summary(cold)
            if base_cold:
                entry["baseline_cold_start"] = summary(base_cold)
        if name == "BENCH-2" and not args.no_memory:
            out = child_python(MEMORY_PROBE, *ours_argv, cwd=work, env=env_base).split()
            base, peak, table, reset = (int(v) for v in out[-4:])
            image = image_bytes
            entry["memory"] = dict(rss_after_imports_and_kernel=base, peak_rss=peak, increase=peak - base,
                                   float_image_bytes=image, hkl_table_bytes=table,
                                   bound_3x_image_plus_table=3 * (image + table), peak_mark_reset=bool(reset))
    report["load_average_end"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    return report


def markdown(report):
    m = report["machine"]
    lines = ["# CPU benchmark: nbnumba vs nanoBragg.c", "",
             "Generated by `benchmarks/cpu_benchmark.py` on %s at commit `%s`." % (report["date"], report["commit"]),
             "Machine: %s, %d logical CPUs, %s; Python %s, numpy %s, numba %s." % (
                 m["cpu"], m["logical_cpus"], m["system"], m["python"], m["numpy"], m["numba"]),
             "C program: %s. %d repetitions per row, C and nbnumba interleaved; whole-program wall times "
             "(start-up, set-up, output files included) of the `nbnumba` command run directly "
             "(`scripts/nbnumba`, `NBNUMBA_WORKER=0`); nbnumba with a warm compilation cache, %s "
             "precision, spec mode. Load average at start %s, at end %s." % (
                 report["c_program"] or "not run", report["repetitions"],
                 " and ".join(report.get("precision", "double").split(",")),
                 " ".join("%.2f" % v for v in report["load_average_start"]),
                 " ".join("%.2f" % v for v in report["load_average_end"])),
             "",
             "| workload | threads | precision | samples | C min / median (s) | nbnumba min / median (s) "
             "| speed-up (min, median) | nbnumba samples/s | C samples/s | peak RSS nbnumba / C (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in report["workloads"].items():
        for t, r in entry["threads"].items():
            c = r.get("c")
            for p, o in r.get("by_precision", {report.get("precision", "double"): r}).items():
                lines.append("| %s | %s | %s | %.1f M | %s | %.3f / %.3f | %s | %.3g | %s | %.0f / %s |" % (
                    name, t, p, entry["samples"] / 1e6, "%.3f / %.3f" % (c["min"], c["median"]) if c else "-",
                    o["ours"]["min"], o["ours"]["median"],
                    "%.2fx, %.2fx" % (o["speedup_min"], o["speedup_median"]) if c else "-",
                    o["ours_samples_per_s"], "%.3g" % r["c_samples_per_s"] if c else "-",
                    o["ours_peak_rss"] / 1e6, "%.0f" % (r["c_peak_rss"] / 1e6) if c else "-"))
    if report.get("baseline_tree"):
        lines += ["", "Against the baseline checkout `%s` (commit `%s`), interleaved in the same run:" % (
            report["baseline_tree"], report["baseline_commit"]), "",
            "| workload | threads | baseline min / median (s) | this tree min / median (s) "
            "| baseline / this (min, median) |",
            "|---|---|---|---|---|"]
        for name, entry in report["workloads"].items():
            for t, r in entry["threads"].items():
                b = r["baseline"]
                lines.append("| %s | %s | %.3f / %.3f | %.3f / %.3f | %.3fx, %.3fx |" % (
                    name, t, b["min"], b["median"], r["ours"]["min"], r["ours"]["median"], r["vs_baseline_min"],
                    r["vs_baseline_median"]))
    lines.append("")
    for name, entry in report["workloads"].items():
        ts = sorted(entry["threads"], key=int)
        if len(ts) > 1:
            lo, hi = entry["threads"][ts[0]], entry["threads"][ts[-1]]
            lines.append("- %s scaling, nbnumba %s -> %s threads: %.2fx (min times)%s." % (
                name, ts[0], ts[-1], lo["ours"]["min"] / hi["ours"]["min"],
                "; C: %.2fx" % (lo["c"]["min"] / hi["c"]["min"]) if "c" in lo else ""))
        for t, r in entry["threads"].items():
            if "single_vs_double_min" in r:
                lines.append("- %s on %s thread(s), single precision against double (same run): %.2fx (min), %.2fx "
                             "(median)." % (name, t, r["single_vs_double_min"], r["single_vs_double_median"]))
        if "single_c_parity_vs_c" in entry:
            a = entry["single_c_parity_vs_c"]
            lines.append("- %s single-precision image (c-parity) vs C on %d thread(s): max |difference| / max %.3g, "
                         "correlation %.10f." % (name, entry["c_image_threads"], a["max_rel_diff"], a["correlation"]))
        if "max_rel_diff_c_parity_vs_c" in entry:
            lines.append("- %s image vs C on %d thread(s), max |difference| / max: %.3g in c-parity mode, %.3g in "
                         "the default mode (which differs from C by design where C's phi-0 carryover applies)." % (
                             name, entry["c_image_threads"], entry["max_rel_diff_c_parity_vs_c"],
                             entry["max_rel_diff_default_vs_c"]))
        if "cold_start" in entry:
            warm = min(r["ours"]["min"] for r in entry["threads"].values())
            lines.append("- %s start-up: warm cache %.3f s (min over thread counts), cold (empty cache) %.1f s "
                         "min / %.1f s median." % (name, warm, entry["cold_start"]["min"],
                                                   entry["cold_start"]["median"]))
            if "baseline_cold_start" in entry:
                base = entry["baseline_cold_start"]
                lines.append("- %s cold start of the baseline, interleaved: %.1f s min / %.1f s median (baseline / "
                             "this: %.2fx, %.2fx)." % (name, base["min"], base["median"],
                                                        base["min"] / entry["cold_start"]["min"],
                                                        base["median"] / entry["cold_start"]["median"]))
        if "memory" in entry:
            mem = entry["memory"]
            lines.append("- %s memory: peak RSS %.0f MB; RSS after imports and kernel load %.0f MB; increase %.0f MB "
                         "against the bound 3 x (float image %.1f MB + HKL table %.2f MB) = %.0f MB%s." % (
                             name, mem["peak_rss"] / 1e6, mem["rss_after_imports_and_kernel"] / 1e6,
                             mem["increase"] / 1e6, mem["float_image_bytes"] / 1e6, mem["hkl_table_bytes"] / 1e6,
                             mem["bound_3x_image_plus_table"] / 1e6,
                             "" if mem["peak_mark_reset"] else " (peak mark not resettable: includes set-up)"))
    return "\n".join(lines) + "\n"


def write_report(out, report, text):
    """``OUT.json`` (the report) and ``OUT.md`` (its text), and the text on stdout: every benchmark's ending."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(text)
    sys.stdout.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c-bin", help="nanoBragg.c executable (default: $NB_C_BIN; none: nbnumba only)")
    ap.add_argument("--baseline-tree", help="another nbnumba checkout to time against (e.g. the previous commit)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--precision", default="double",
                    help="nbnumba's --precision, or several comma-separated (double,single), each timed in every "
                         "repetition (the C program is always double)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--workloads", default="BENCH-1,BENCH-2,BENCH-3")
    ap.add_argument("--detpixels", type=int, help="override the detector size (smoke tests)")
    ap.add_argument("--cold-reps", type=int, default=1)
    ap.add_argument("--cold-workloads", default="BENCH-3",
                    help="comma-separated workloads also started with an empty compilation cache")
    ap.add_argument("--no-cold", action="store_true", help="skip the empty-cache starts")
    ap.add_argument("--no-memory", action="store_true", help="skip the BENCH-2 memory probe")
    ap.add_argument("--out", default=str(ROOT / "reports" / "cpu_benchmark"), help="writes OUT.md and OUT.json")
    args = ap.parse_args(argv)
    report = run(args)
    write_report(args.out, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
