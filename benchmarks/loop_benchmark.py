# SPDX-License-Identifier: BSD-3-Clause
"""Shell loops side by side: a bash ``for`` loop of N runs of nanoBragg.c (if ``--c-bin`` or ``$NB_C_BIN``
names one), of ``nbnumba`` run directly (no worker), of ``nbnumba`` through the warm worker
(``nbnumba-server start``), and the same N command lines as one ``nbnumba-batch`` job file; optionally
also the direct command of another checkout (``--baseline-tree``, e.g. ``git worktree add /tmp/base
cbfa6bc``). Workloads: BENCH-3 (shared/docs/benchmarks.md), BENCH-3 on a 256x256 detector, and the shape
of nanoBragg's README example (``-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10``, 1024x1024, with an HKL
file of 68,921 reflections and a MOSFLM matrix, writing the README run's default files). The ways run
interleaved within every repetition, all with the same thread count (OMP_NUM_THREADS /
NUMBA_NUM_THREADS), warm Numba cache. Writes ``<out>.md`` and ``<out>.json``: images per second of each
loop (from its minimum and median wall time over the repetitions) and the ratios, and whether the
worker's, the direct runs' and the batch's files are byte-identical.

    python benchmarks/loop_benchmark.py --reps 3 --baseline-tree /tmp/base      # with $NB_C_BIN
    python benchmarks/loop_benchmark.py --reps 1 --images 2 --workloads BENCH-3-256   # smoke run

Every nbnumba command runs this tree's code (PYTHONPATH) under ``--python`` (default: this interpreter).
A user's ``pip install`` gives an interpreter whose start-up processes only its own ``site-packages``; a
development environment often adds import hooks (an editable install's finder, numba-cuda's redirector)
that cost tens of milliseconds per process. To measure what a user gets, pass an interpreter of a plain
virtual environment holding nbnumba's dependencies (``python -m venv V && V/bin/pip install .``). Python
writes and reuses bytecode caches in every way (``PYTHONDONTWRITEBYTECODE`` is cleared: a pip install
compiles the bytecode once).
"""
import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_benchmark import INPUTS, ROOT, WORKLOADS, git_commit, machine, write_report  # noqa: E402


def commands(python, baseline_tree=None):
    """The command lines, for interpreter ``python``: the ``nbnumba`` command as pip installs it (this
    tree's ``scripts/nbnumba``, the client, run by ``python``), the baseline tree's (its
    ``scripts/nbnumba``; for a tree from before the worker, the text of pip's console_scripts wrapper
    around its ``cli.main``), the server, the batch."""
    wrapper = ("import re, sys; from nbnumba.cli.main import main; "
               "sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0]); sys.exit(main())")
    baseline = [python, "-c", wrapper]
    if baseline_tree and (Path(baseline_tree) / "scripts" / "nbnumba").exists():
        baseline = [python, str(Path(baseline_tree).resolve() / "scripts" / "nbnumba")]
    return dict(client=[python, str(ROOT / "scripts" / "nbnumba")],
                baseline=baseline,
                server=[python, "-m", "nbnumba.cli.server"],
                batch=[python, "-c", "from nbnumba.cli.batch import main; main()"])


LOOP_WORKLOADS = {
    "BENCH-3": dict(args=WORKLOADS["BENCH-3"], numbered=True, images=10),
    # 40 images: a loop of ten takes about 0.15 s, too short to time on a shared machine
    "BENCH-3-256": dict(args=WORKLOADS["BENCH-3"].replace("-pixel 0.1", "-pixel 0.4"), numbered=True, images=40),
    # nanoBragg's README: "nanoBragg -hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10" (default files, 1024^2)
    "README": dict(args="-hkl P1.hkl -matrix A.mat -lambda 6.2 -N 10 -noprogress", numbered=False, images=4),
}
WAYS = ("c", "direct", "worker", "batch", "baseline")
LABELS = dict(c="nanoBragg.c, bash loop", direct="nbnumba, bash loop, no worker",
              worker="nbnumba, bash loop, through the worker", batch="nbnumba-batch, one job file",
              baseline="baseline tree's nbnumba, bash loop")


def job_lines(spec, images):
    if not spec["numbered"]:
        return [spec["args"]] * images
    return ["%s -floatfile img_%03d.bin -intfile img_%03d.img" % (spec["args"], k, k) for k in range(images)]


def bash_loop(program, lines, cwd, env):
    """Wall seconds of one bash script running ``program LINE`` for every line, in order."""
    prefix = " ".join(shlex.quote(p) for p in program)
    script = "set -e\n" + "".join("%s %s > /dev/null\n" % (prefix, line) for line in lines)
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("loop of %s failed (%d): %s" % (program[0], proc.returncode, proc.stderr[-2000:]))
    return wall


def batch_run(batch, lines, cwd, env):
    (cwd / "jobs.txt").write_text("\n".join(lines) + "\n")
    for state in cwd.glob("jobs.txt.done*"):
        state.unlink()
    start = time.perf_counter()
    proc = subprocess.run(batch + ["jobs.txt"], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("nbnumba-batch failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    return wall


def outputs(folder):
    """The deterministic output files of a folder (the README run's noise image has a time-based seed)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix in (".bin", ".img", ".pgm") and p.name != "noiseimage.img"}


def served_jobs(python, env):
    code = "from nbnumba.cli import client; r = client.request('status'); print(-1 if r is None else r['jobs'])"
    return int(subprocess.run([python, "-c", code], env=env, capture_output=True, text=True).stdout)


def stats(times, images):
    return dict(seconds=dict(min=min(times), median=statistics.median(times), all=times),
                images_per_s=dict(from_min=images / min(times), from_median=images / statistics.median(times)))


def run(args):
    c_bin = args.c_bin or os.environ.get("NB_C_BIN")
    if c_bin and not os.access(c_bin, os.X_OK):
        print("no executable C program at %s" % c_bin, file=sys.stderr)
        c_bin = None
    tmp = Path(tempfile.mkdtemp(prefix="nb-loop-bench-"))
    runtime = Path(tempfile.mkdtemp(prefix="nblb", dir="/tmp"))  # the worker's private socket folder
    no_worker = Path(tempfile.mkdtemp(prefix="nblb", dir="/tmp"))  # the direct way: no worker there
    # a compilation cache of its own, filled by the first (untimed) runs, as a user's first run fills it (see
    # cpu_benchmark.py)
    base = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
                PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
                NBNUMBA_CACHE_DIR=str(tmp / "compilation-cache"))
    base.pop("NBNUMBA_WORKER", None)
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # as after a pip install: bytecode compiled once, then reused
    cmd = commands(args.python, args.baseline_tree)
    envs = dict(c=base, direct=dict(base, XDG_RUNTIME_DIR=str(no_worker)),
                worker=dict(base, XDG_RUNTIME_DIR=str(runtime)), batch=base)
    if args.baseline_tree:
        envs["baseline"] = dict(base, PYTHONPATH=str(Path(args.baseline_tree).resolve()),
                                XDG_RUNTIME_DIR=str(no_worker))
    programs = dict(c=[c_bin], direct=cmd["client"], worker=cmd["client"], baseline=cmd["baseline"])
    report = dict(machine=machine(), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                  c_program=c_bin, threads=args.threads, reps=args.reps, baseline_tree=args.baseline_tree,
                  python=args.python,
                  baseline_commit=git_commit(Path(args.baseline_tree)) if args.baseline_tree else None,
                  load_average_start=os.getloadavg(), workloads={})
    started = subprocess.run(cmd["server"] + ["start"], env=envs["worker"], capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError("nbnumba-server start failed: " + started.stderr)
    try:
        for name in args.workloads.split(","):
            spec = LOOP_WORKLOADS[name]
            images = args.images or spec["images"]
            lines = job_lines(spec, images)
            ways = [w for w in WAYS if w in envs and (w != "c" or c_bin) and (w != "baseline" or name == "BENCH-3")]
            folders = {}
            for way in ways:
                folders[way] = tmp / name / way
                folders[way].mkdir(parents=True)
                shutil.copy(INPUTS / "cubic.hkl", folders[way])
                shutil.copy(INPUTS / "bench.hkl", folders[way] / "P1.hkl")
                shutil.copy(INPUTS / "tet.mat", folders[way] / "A.mat")
            # warm: the Numba cache, and the worker's kernels for this workload (not timed)
            for way in ways:
                if way in ("direct", "worker", "baseline"):
                    bash_loop(programs[way], lines[:2], folders[way], envs[way])
            times = {way: [] for way in ways}
            jobs_before = served_jobs(args.python, envs["worker"])
            for rep in range(args.reps):
                for way in ways:
                    if way == "batch":
                        times[way].append(batch_run(cmd["batch"], lines, folders[way], envs[way]))
                    else:
                        times[way].append(bash_loop(programs[way], lines, folders[way], envs[way]))
                print("%s rep %d: %s" % (name, rep, "  ".join("%s %.2f s" % (w, times[w][-1]) for w in ways)),
                      file=sys.stderr, flush=True)
            served = served_jobs(args.python, envs["worker"]) - jobs_before
            entry = dict(arguments=spec["args"], images_per_loop=images, ways={})
            for way in ways:
                entry["ways"][way] = dict(label=LABELS[way], **stats(times[way], images))
            entry["worker_served_every_run"] = served == args.reps * images
            same = outputs(folders["direct"])
            entry["worker_files_identical_to_direct"] = outputs(folders["worker"]) == same
            entry["batch_float_images_identical_to_direct"] = all(
                outputs(folders["batch"]).get(k) == v for k, v in same.items() if k.endswith(".bin"))
            ratios = {}
            for way in ("worker", "direct", "batch"):
                if "c" in times:
                    ratios["%s_vs_c_min" % way] = min(times["c"]) / min(times[way])
                    ratios["%s_vs_c_median" % way] = statistics.median(times["c"]) / statistics.median(times[way])
            if "baseline" in times:
                ratios["direct_time_over_baseline_min"] = min(times["direct"]) / min(times["baseline"])
                ratios["direct_time_over_baseline_median"] = (statistics.median(times["direct"])
                                                              / statistics.median(times["baseline"]))
            entry["ratios"] = ratios
            report["workloads"][name] = entry
    finally:
        subprocess.run(cmd["server"] + ["stop"], env=envs["worker"], capture_output=True)
        report["load_average_end"] = os.getloadavg()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(no_worker, ignore_errors=True)
    return report


def markdown(report):
    m = report["machine"]
    lines = ["# Loop benchmark: shell loops of nanoBragg.c and nbnumba", "",
             "Generated by `benchmarks/loop_benchmark.py` on %s at commit `%s`." % (report["date"], report["commit"]),
             "Machine: %s, %d logical CPUs, %s; Python %s, numpy %s, numba %s. Load average at start %s, at end %s "
             "(the machine is shared, so absolute times are noisy; the ways are interleaved within every "
             "repetition, so compare ratios)." % (
                 m["cpu"], m["logical_cpus"], m["system"], m["python"], m["numpy"], m["numba"],
                 "/".join("%.1f" % v for v in report["load_average_start"]),
                 "/".join("%.1f" % v for v in report["load_average_end"])),
             "%d thread(s) everywhere (OMP_NUM_THREADS / NUMBA_NUM_THREADS); warm Numba cache; %d repetition(s). "
             "A loop is one bash script running the command once per image, stdout to /dev/null; its wall time "
             "includes every process start. C program: %s. Interpreter of every nbnumba command: %s (this tree's "
             "code on PYTHONPATH; bytecode caches written and reused)." % (
                 report["threads"], report["reps"], report["c_program"] or "not run",
                 report.get("python", "the harness's")), ""]
    if report["baseline_tree"]:
        lines += ["Baseline: the direct command of commit `%s` (`%s`), on BENCH-3 only." % (
            report["baseline_commit"], report["baseline_tree"]), ""]
    for name, entry in report["workloads"].items():
        lines += ["## %s (%d images per loop)" % (name, entry["images_per_loop"]), "",
                  "`%s`" % entry["arguments"], "",
                  "| way | loop wall time, min (s) | median (s) | images/s (min) | images/s (median) |",
                  "|---|---|---|---|---|"]
        for way in entry["ways"].values():
            s, r = way["seconds"], way["images_per_s"]
            lines.append("| %s | %.2f | %.2f | %.2f | %.2f |" % (way["label"], s["min"], s["median"], r["from_min"],
                                                                 r["from_median"]))
        lines.append("")
        for key, value in entry["ratios"].items():
            lines.append("- %s: %.2f" % (key.replace("_", " "), value))
        lines += ["- every worker-loop run was served by the worker: %s" % ("yes" if entry["worker_served_every_run"]
                                                                           else "NO"),
                  "- the worker loop's files are byte-identical to the direct loop's: %s"
                  % ("yes" if entry["worker_files_identical_to_direct"] else "NO"),
                  "- the batch's float images are byte-identical to the direct loop's: %s"
                  % ("yes" if entry["batch_float_images_identical_to_direct"] else "NO"), ""]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=None, help="images per loop (default: per workload)")
    parser.add_argument("--workloads", default=",".join(LOOP_WORKLOADS))
    parser.add_argument("--c-bin", default=None, help="nanoBragg.c binary (default: $NB_C_BIN; never committed)")
    parser.add_argument("--baseline-tree", default=None, help="another checkout whose direct command to time too")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of every nbnumba command (default: this one; see above)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "loop_benchmark"))
    args = parser.parse_args(argv)
    report = run(args)
    write_report(args.out, report, markdown(report))


if __name__ == "__main__":
    main()
