# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba-compare`` command: run a nanoBragg.c binary and nbnumba on the same flags and compare the images.

    nbnumba-compare [--c-bin PATH] [--out DIR] [thresholds] -- <nanoBragg flags...>

Each program runs as a separate process in its own fresh folder, so neither sees the other's files and
nothing is written into the caller's folder but the report. Input files named by the flags (``-hkl``,
``-mat``, ``-img``, ...) are passed as absolute paths; ``-dump`` (and a ``Fdump.bin`` read by default) is
copied into each run folder; the output flags are replaced by ``-floatfile float.bin -intfile int.img
-nonoise -nopgm``. The report (``summary.json``, ``c.png``, ``nbnumba.png``, ``diff.png``) goes to ``--out``.

Each program runs in a process group of its own, with a time limit (``--timeout``, default one hour):
one that runs over it, and both programs when the comparison is interrupted (Ctrl-C, SIGTERM, SIGHUP),
are killed with their whole group, and the temporary run folders are removed. ``--keep`` copies the run
folders to ``OUT/c_run`` and ``OUT/nbnumba_run`` and refuses to start when either exists; nothing this
command did not create is ever deleted.

Exit status: 0 every threshold met, 1 a threshold not met (or the images differ in size), 2 bad usage or
input, or a program that failed to run or ran over its time; 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM or SIGHUP).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import numpy as np

import nbnumba
from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_write
from nbnumba.io.png import write_png
from nbnumba.io.raw import read_float_image
from nbnumba.io.smv import read_smv
from nbnumba.io.textcols import parse_number

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + 15
#: default time limit of each program run, in seconds
DEFAULT_TIMEOUT_S = 3600.0
#: how long a program gets to end after SIGTERM before it is killed
KILL_GRACE_S = 2.0
#: the run folders' names (also their names under --out with --keep)
RUN_FOLDERS = ("c_run", "nbnumba_run")

PROG = "nbnumba-compare"
FLOAT_NAME = "float.bin"
INT_NAME = "int.img"
DEFAULT_DUMP = "Fdump.bin"
#: flags whose file is only read: passed to both programs as absolute paths
INPUT_FILE_FLAGS = ("-mat", "-hkl", "-img", "-mask", "-sourcefile", "-stol", "-4stol", "-Q")
#: flags that name an output image: replaced by the comparison's own names
OUTPUT_FILE_FLAGS = ("-floatfile", "-intfile", "-noisefile", "-pgmfile")
COMPARABLE_FRACTION = 0.5  # a spot's nbnumba maximum must reach half the C spot's value to count as near
LOG_DECADES = 3.0  # the C and nbnumba PNGs show 3 decades below the brighter image's maximum
SUMMARY_NAME = "summary.json"
PNG_NAMES = {"c": "c.png", "nbnumba": "nbnumba.png", "difference": "diff.png"}


class ProgramFailed(InputError):
    """A program exited with a non-zero status; ``folder`` holds its files and output."""

    def __init__(self, message: str, folder: Path):
        super().__init__(message)
        self.folder = folder


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like KeyboardInterrupt, so that the programs are stopped and the
    temporary folders removed; exit status 143."""


class CompareFailure(Exception):
    """The images cannot be compared (different sizes); reported as a failed comparison, exit 1."""


# ---------------------------------------------------------------- argv rewriting


def _flag_name(token: str, names) -> str | None:
    """The main name of the flag `token` spells (an alias, or a spelling nanoBragg.c's substring matching
    takes: ``-matfile`` for ``-mat``) when it is one of `names`, else None."""
    from nbnumba.argv.flags import BY_NAME  # noqa: PLC0415 -- start-up: the compare command's own import
    from nbnumba.argv.spellings import taken_as  # noqa: PLC0415 -- start-up, as above
    flag = BY_NAME.get(token)
    if flag is None and token.startswith("-"):
        try:
            flag = taken_as(token)
        except InputError:  # refused: both programs get it as written and nbnumba reports it
            flag = None
    return flag.name if flag is not None and flag.name in names else None


def run_argv(argv: list[str], cwd: str) -> tuple[list[str], list[str]]:
    """The nanoBragg argv each program gets in its own run folder, and the files to copy there.

    Input file names become absolute (relative to `cwd`, the caller's folder); ``-dump FILE`` becomes
    ``-dump <basename>`` with FILE copied into the run folder (as is ``Fdump.bin`` when neither
    ``-hkl`` nor ``-dump`` is given, since nanoBragg then reads it from its folder); output-image
    flags are dropped and ``-floatfile float.bin -intfile int.img -nonoise -nopgm`` appended.

    Parameters
    ----------
    argv : list of str
        The nanoBragg flags as the user gave them.
    cwd : str
        The folder relative file names are taken from.

    Returns
    -------
    (list of str, list of str)
        The rewritten argv and the absolute paths of the files to copy into each run folder.
    """
    out: list[str] = []
    copies: list[str] = []
    has_hkl = has_dump = False
    index = 0
    while index < len(argv):
        token = argv[index]
        has_value = index + 1 < len(argv)
        if _flag_name(token, OUTPUT_FILE_FLAGS) and has_value:
            index += 2
            continue
        if _flag_name(token, INPUT_FILE_FLAGS) and has_value:
            has_hkl = has_hkl or _flag_name(token, INPUT_FILE_FLAGS) == "-hkl"
            out += [token, os.path.join(cwd, argv[index + 1])]
            index += 2
            continue
        if _flag_name(token, ("-dump",)) and has_value:
            has_dump = True
            source = os.path.join(cwd, argv[index + 1])
            name = os.path.basename(source) or DEFAULT_DUMP
            if os.path.isfile(source):
                copies.append(source)
            out += [token, name]
            index += 2
            continue
        out.append(token)
        index += 1
    if not has_hkl and not has_dump and os.path.isfile(os.path.join(cwd, DEFAULT_DUMP)):
        copies.append(os.path.join(cwd, DEFAULT_DUMP))
    out += ["-floatfile", FLOAT_NAME, "-intfile", INT_NAME, "-nonoise", "-nopgm"]
    return out, copies


# ---------------------------------------------------------------- running the two programs


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _stop_group(process: subprocess.Popen) -> None:
    """End ``process`` and everything in its process group: SIGTERM, then SIGKILL after KILL_GRACE_S."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # what the group leader left behind


def run_program(label: str, command: list[str], folder: Path, env: dict, copies: list[str],
                timeout: float | None = None) -> dict:
    """Run one program to completion in `folder`, in a process group of its own; its stdout and
    stderr go to files there. Over ``timeout`` seconds, or on any exception while it runs
    (KeyboardInterrupt, Terminated), the whole group is killed.

    Returns
    -------
    dict
        ``seconds`` (wall-clock time of the whole process) and ``exit_code``.

    Raises
    ------
    InputError
        If the program cannot be started, exits with a non-zero status or runs over ``timeout``
        (ProgramFailed, with the folder, for the last two).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for source in copies:
        shutil.copy(source, folder / os.path.basename(source))
    start = time.perf_counter()
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        try:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise InputError(f"cannot run {label} {command[0]}: {exc.strerror or exc}") from exc
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise ProgramFailed(f"{label} did not finish within {timeout:g} s (--timeout); it was stopped",
                                folder) from None
        except BaseException:
            _stop_group(process)
            raise
    seconds = time.perf_counter() - start
    if returncode != 0:
        text = (folder / "stderr.txt").read_text(errors="replace") or (folder / "stdout.txt").read_text(
            errors="replace")
        raise ProgramFailed(f"{label} failed with exit status {returncode}: {_last_line(text)}", folder)
    return {"seconds": seconds, "exit_code": returncode}


def _c_binary(c_bin: str | None) -> str:
    path = c_bin or os.environ.get("NB_C_BIN")
    if not path:
        raise InputError("no nanoBragg binary: give --c-bin PATH or set NB_C_BIN")
    found = shutil.which(path) if os.sep not in path else path
    if not found or not os.path.isfile(found):
        raise InputError(f"--c-bin/NB_C_BIN {path}: no such file")
    if not os.access(found, os.X_OK):
        raise InputError(f"--c-bin/NB_C_BIN {path}: not executable")
    return os.path.abspath(found)


def _environments(threads: int | None) -> tuple[dict, dict]:
    """Environments of the C run and the nbnumba run: same thread count, this nbnumba first on the path."""
    c_env = dict(os.environ)
    ours_env = dict(os.environ)
    root = str(Path(nbnumba.__file__).resolve().parent.parent)
    ours_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ours_env["NBNUMBA_WORKER"] = "0"  # run (and time) it here, not in a warm worker
    if threads is not None:
        c_env["OMP_NUM_THREADS"] = str(threads)
        ours_env["NUMBA_NUM_THREADS"] = str(threads)
        ours_env["OMP_NUM_THREADS"] = str(threads)
    return c_env, ours_env


# ---------------------------------------------------------------- metrics


def local_maxima(image):
    """Pixels that are positive and not smaller than any of their 8 neighbours (edges padded with -inf).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Slow and fast indices of the maxima, in raster order.
    """
    data = np.asarray(image, dtype=np.float64)
    padded = np.pad(data, 1, mode="constant", constant_values=-np.inf)
    height, width = data.shape
    neighbours = np.full(data.shape, -np.inf)
    for ds in (0, 1, 2):
        for df in (0, 1, 2):
            if ds == 1 and df == 1:
                continue
            np.maximum(neighbours, padded[ds:ds + height, df:df + width], out=neighbours)
    return np.nonzero((data > 0) & (data >= neighbours))


def brightest_spots(image, count: int):
    """The `count` brightest local maxima of `image`, brightest first (earlier raster position on ties).

    A maximum next to (8-neighbourhood) a brighter one already chosen is skipped: a plateau counts once.

    Returns
    -------
    list of (int, int)
        (slow, fast) pixel indices.
    """
    slow, fast = local_maxima(image)
    order = np.argsort(-np.asarray(image, dtype=np.float64)[slow, fast], kind="stable")
    chosen: list[tuple[int, int]] = []
    for index in order:
        if len(chosen) == count:
            break
        s, f = int(slow[index]), int(fast[index])
        if any(abs(s - cs) <= 1 and abs(f - cf) <= 1 for cs, cf in chosen):
            continue
        chosen.append((s, f))
    return chosen


def match_spots(c_image, c_spots, ours_image, window: int) -> list[dict]:
    """Match each C spot to the nearest comparable local maximum of `ours_image` within +-`window` pixels.

    Comparable: at least COMPARABLE_FRACTION of the C spot's value, so that the weak fringe maxima around
    a spot do not catch a displaced spot (nor does a brighter neighbouring spot catch an undisplaced one).
    Nearest by Euclidean distance; on a tie the brighter, then the earlier in raster order. When no
    maximum in the window is comparable, the brightest one is taken.

    Returns
    -------
    list of dict
        Per spot: ``c`` and ``nbnumba`` positions as ``{"slow", "fast"}`` (``nbnumba`` None when no
        maximum lies in the window), ``offset`` (nbnumba minus C, None when unmatched) and ``distance``.
    """
    c = np.asarray(c_image, dtype=np.float64)
    ours = np.asarray(ours_image, dtype=np.float64)
    slow, fast = local_maxima(ours)
    matches = []
    for s, f in c_spots:
        near = (np.abs(slow - s) <= window) & (np.abs(fast - f) <= window)
        entry = {"c": {"slow": s, "fast": f}, "nbnumba": None, "offset": None, "distance": None}
        if near.any():
            cand_s, cand_f = slow[near], fast[near]
            distance = np.hypot(cand_s - s, cand_f - f)
            value = ours[cand_s, cand_f]
            comparable = value >= COMPARABLE_FRACTION * c[s, f]
            if comparable.any():
                best = min(np.flatnonzero(comparable), key=lambda i: (distance[i], -value[i], i))
            else:
                best = min(range(len(value)), key=lambda i: (-value[i], distance[i], i))
            ms, mf = int(cand_s[best]), int(cand_f[best])
            entry.update(nbnumba={"slow": ms, "fast": mf}, offset={"slow": ms - s, "fast": mf - f},
                         distance=float(distance[best]))
        matches.append(entry)
    return matches


def correlation(c_image, ours_image) -> float:
    """Pearson correlation in float64; for an image of constant value: 1.0 if the images are equal, else NaN."""
    a = np.asarray(c_image, dtype=np.float64).ravel()
    b = np.asarray(ours_image, dtype=np.float64).ravel()
    da, db = a - a.mean(), b - b.mean()
    norm = math.sqrt(float(da @ da) * float(db @ db))
    if norm == 0.0:
        return 1.0 if np.array_equal(a, b) else math.nan
    return float(da @ db) / norm


def image_metrics(c_image, ours_image, spots: int, window: int) -> dict:
    """Every number of the comparison except run times (see :func:`compare_images`)."""
    c64 = np.asarray(c_image, dtype=np.float64)
    ours64 = np.asarray(ours_image, dtype=np.float64)
    delta = np.abs(ours64 - c64)
    max_abs = float(delta.max())
    c_peak = float(np.abs(c64).max())
    c_sum, ours_sum = float(c64.sum()), float(ours64.sum())
    matches = match_spots(c64, brightest_spots(c64, spots), ours64, window)
    distances = [m["distance"] for m in matches if m["distance"] is not None]
    return {
        "correlation": correlation(c64, ours64),
        "max_abs_diff": max_abs,
        "max_rel_diff": max_abs / c_peak if c_peak > 0 else (0.0 if max_abs == 0 else math.inf),
        "c_sum": c_sum,
        "nbnumba_sum": ours_sum,
        "sum_ratio": ours_sum / c_sum if c_sum != 0 else (1.0 if ours_sum == 0 else math.inf),
        "c_max": float(c64.max()),
        "nbnumba_max": float(ours64.max()),
        "spots": matches,
        "unmatched_spots": sum(m["nbnumba"] is None for m in matches),
        "max_spot_offset": max(distances) if distances else None,
    }


# ---------------------------------------------------------------- pictures


def log_grey(image, top: float):
    """uint8 picture of `image`: 255 * log10(1 + 10**LOG_DECADES * x / top) / LOG_DECADES, clipped to 0..255."""
    data = np.clip(np.asarray(image, dtype=np.float64), 0.0, None)
    if top <= 0:
        return np.zeros(data.shape, dtype=np.uint8)
    grey = 255.0 * np.log10(1.0 + 10.0 ** LOG_DECADES * data / top) / LOG_DECADES
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def difference_grey(delta):
    """uint8 picture of a signed difference: 128 is 0; 128 +- 127 * sqrt(|delta| / max|delta|) (signed)."""
    data = np.asarray(delta, dtype=np.float64)
    top = float(np.abs(data).max())
    if top == 0:
        return np.full(data.shape, 128, dtype=np.uint8)
    grey = 128.0 + 127.0 * np.sign(data) * np.sqrt(np.abs(data) / top)
    return np.clip(np.rint(grey), 1, 255).astype(np.uint8)


def write_pictures(out: Path, c_image, ours_image) -> dict:
    """Write c.png, nbnumba.png (same log scale) and diff.png (nbnumba - C) into `out`."""
    c64 = np.asarray(c_image, dtype=np.float64)
    ours64 = np.asarray(ours_image, dtype=np.float64)
    top = max(float(c64.max()), float(ours64.max()))
    write_png(out / PNG_NAMES["c"], log_grey(c64, top))
    write_png(out / PNG_NAMES["nbnumba"], log_grey(ours64, top))
    write_png(out / PNG_NAMES["difference"], difference_grey(ours64 - c64))
    return {
        "files": dict(PNG_NAMES),
        "c_nbnumba_scale": f"255*log10(1+1e{LOG_DECADES:g}*x/{top:.6g})/{LOG_DECADES:g}",
        "difference_scale": f"128+127*sign(d)*sqrt(|d|/{float(np.abs(ours64 - c64).max()):.6g}), d = nbnumba - C",
    }


# ---------------------------------------------------------------- the comparison


def _json_safe(value):
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def read_images(c_folder: Path, ours_folder: Path):
    """Width and height from nbnumba's SMV image; both float images of that size (C's checked against it)."""
    smv = read_smv(ours_folder / INT_NAME, "nbnumba -intfile")
    width, height = smv.width, smv.height
    ours = read_float_image(ours_folder / FLOAT_NAME, width, height)
    c_path = c_folder / FLOAT_NAME
    if not c_path.is_file():
        raise InputError(f"nanoBragg.c wrote no -floatfile {FLOAT_NAME}")
    c_bytes = c_path.stat().st_size
    if c_bytes != 4 * width * height:
        raise CompareFailure(f"image sizes differ: nbnumba wrote {width} x {height} pixels "
                             f"({4 * width * height} bytes), nanoBragg.c {c_bytes} bytes")
    c_image = read_float_image(c_path, width, height)
    header_same = None
    c_int = c_folder / INT_NAME
    if c_int.is_file():
        header_same = c_int.read_bytes()[:smv.header_size] == smv.header.encode("latin-1")
    return width, height, c_image, ours, header_same


def checks_of(summary: dict, thresholds: dict) -> dict:
    """Which thresholds the summary meets (NaN/None never meets one)."""
    corr = summary["correlation"]
    rel = summary["max_rel_diff"]
    offset = summary["max_spot_offset"]
    return {
        "correlation": corr is not None and not math.isnan(corr) and corr >= thresholds["min_correlation"],
        "max_rel_diff": rel is not None and rel <= thresholds["max_rel_diff"],
        "spots": summary["unmatched_spots"] == 0 and (offset is None or offset <= thresholds["max_spot_offset"]),
    }


def check_thresholds(thresholds: dict) -> None:
    """InputError unless every threshold is a finite number (a NaN or infinite one cannot be met or
    reported)."""
    for key in ("min_correlation", "max_rel_diff", "max_spot_offset"):
        value = thresholds[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"--{key.replace('_', '-')}: expected a finite number, got {value!r}")


def compare(argv: list[str], c_bin: str | None, out: str, thresholds: dict, spots: int = 10, window: int = 3,
            threads: int | None = None, keep: bool = False, nbnumba_args: tuple[str, ...] = (),
            echo=click.echo, timeout: float | None = DEFAULT_TIMEOUT_S) -> int:
    """Run both programs on `argv`, write the report into `out`, print a summary; returns the exit status.
    Each program may run ``timeout`` seconds (None: no limit).

    Raises
    ------
    InputError
        Bad usage, a missing binary, or a program that failed.
    """
    if not argv:
        raise InputError("no nanoBragg flags: give them after --, e.g. nbnumba-compare -- -cell 100 100 100 "
                         "90 90 90 -default_F 100 -N 5")
    check_thresholds(thresholds)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"--timeout: expected a positive number of seconds (0 for none), got {timeout}")
    binary = _c_binary(c_bin)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    if keep:
        for name in RUN_FOLDERS:
            if os.path.lexists(out_dir / name):
                raise InputError(f"--keep: {out_dir / name} already exists; remove it or choose another --out "
                                 f"(nbnumba-compare never deletes what it did not create)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from exc
    cwd = os.getcwd()
    program_argv, copies = run_argv(list(argv), cwd)
    ours_argv = program_argv + list(nbnumba_args)
    c_env, ours_env = _environments(threads)
    summary = {
        "argv": list(argv), "c_bin": binary, "c_argv": program_argv,
        "nbnumba_argv": ours_argv, "threads": threads,
        "thresholds": dict(thresholds), "spot_count": spots, "spot_window": window,
    }
    with tempfile.TemporaryDirectory(prefix="nbnumba-compare-") as work:
        c_folder, ours_folder = (Path(work) / name for name in RUN_FOLDERS)
        try:
            echo(f"{PROG}: running {binary} ...")
            c_run = run_program("nanoBragg.c", [binary] + program_argv, c_folder, c_env, copies, timeout)
            echo(f"{PROG}: running nbnumba ...")
            ours_run = run_program("nbnumba", [sys.executable, "-m", "nbnumba"] + ours_argv, ours_folder,
                                   ours_env, copies, timeout)
        except ProgramFailed as exc:
            kept = _keep_runs(True, out_dir, exc.folder)
            where = f" (its output: {kept[0]})" if kept else ""
            raise InputError(f"{exc}{where}") from exc
        summary.update(c_seconds=c_run["seconds"], nbnumba_seconds=ours_run["seconds"])
        try:
            width, height, c_image, ours_image, header_same = read_images(c_folder, ours_folder)
        except CompareFailure as exc:
            summary.update(passed=False, failure=str(exc))
            _keep_runs(keep, out_dir, c_folder, ours_folder)
            _write_summary(out_dir, summary)
            echo(f"{PROG}: FAIL: {exc}", err=True)
            return EXIT_FAIL
        summary.update(width=width, height=height, smv_header_identical=header_same)
        summary.update(image_metrics(c_image, ours_image, spots, window))
        summary["pictures"] = write_pictures(out_dir, c_image, ours_image)
        _keep_runs(keep, out_dir, c_folder, ours_folder)
    summary = _json_safe(summary)
    summary["checks"] = checks_of(summary, thresholds)
    summary["passed"] = all(summary["checks"].values())
    _write_summary(out_dir, summary)
    for line in report_lines(summary):
        echo(line)
    echo(f"wrote {out_dir / SUMMARY_NAME}, " + ", ".join(str(out_dir / n) for n in PNG_NAMES.values()))
    return EXIT_PASS if summary["passed"] else EXIT_FAIL


def _keep_runs(keep: bool, out_dir: Path, *folders: Path) -> list:
    """Copy run folders into ``out_dir`` under their own names; where that name is taken (by anything:
    nothing is ever deleted or overwritten), under a new name ``NAME-XXXXXXXX``. Returns the copies."""
    kept = []
    if not keep:
        return kept
    for folder in folders:
        target = out_dir / folder.name
        try:
            target.mkdir()
        except FileExistsError:
            target = Path(tempfile.mkdtemp(prefix=folder.name + "-", dir=out_dir))
        except OSError as exc:
            raise InputError(f"cannot copy the run folder to {target}: {exc.strerror or exc}") from exc
        try:
            shutil.copytree(folder, target, dirs_exist_ok=True)
        except (OSError, shutil.Error) as exc:
            raise InputError(f"cannot copy the run folder to {target}: {exc}") from exc
        kept.append(target)
    return kept


def _write_summary(out_dir: Path, summary: dict) -> None:
    atomic_write(out_dir / SUMMARY_NAME, (json.dumps(_json_safe(summary), indent=1, allow_nan=False)
                                          + "\n").encode())


def _fmt(value, spec=".6g") -> str:
    return "n/a" if value is None else format(value, spec)


def report_lines(s: dict) -> list[str]:
    """The printed summary: one line per quantity, with each threshold and whether it is met."""
    t, ok = s["thresholds"], s["checks"]
    verdict = {True: "ok", False: "NOT MET"}
    header = {True: "identical", False: "differs", None: "n/a (C wrote no -intfile)"}
    offsets = [m["distance"] for m in s["spots"] if m["distance"] is not None]
    return [
        f"image            {s['width']} x {s['height']} pixels",
        f"                 {'nanoBragg.c':>14} {'nbnumba':>14}",
        f"run time (s)     {s['c_seconds']:14.3f} {s['nbnumba_seconds']:14.3f}",
        f"sum              {_fmt(s['c_sum'], '14.7g')} {_fmt(s['nbnumba_sum'], '14.7g')}"
        f"   ratio nbnumba/C = {_fmt(s['sum_ratio'], '.9g')}",
        f"max              {_fmt(s['c_max'], '14.7g')} {_fmt(s['nbnumba_max'], '14.7g')}",
        f"correlation      {_fmt(s['correlation'], '.9f')}   (min {t['min_correlation']:g}) "
        f"{verdict[ok['correlation']]}",
        f"max |diff|       {_fmt(s['max_abs_diff'], '.4g')} = {_fmt(s['max_rel_diff'], '.3g')} of max(C)   "
        f"(max {t['max_rel_diff']:g}) {verdict[ok['max_rel_diff']]}",
        f"brightest spots  {len(offsets)} of {len(s['spots'])} matched within {s['spot_window']} px, largest "
        f"offset {_fmt(s['max_spot_offset'], '.3g')} px   (max {t['max_spot_offset']:g}) {verdict[ok['spots']]}",
        f"SMV header       {header[s['smv_header_identical']]}",
        "PASS" if s["passed"] else "FAIL",
    ]


# ---------------------------------------------------------------- command line


class _Number(click.ParamType):
    """A finite decimal number in ASCII digits (click's float() also takes nan, inf and other scripts'
    digits); ``integer`` for whole numbers; at least ``low``."""

    def __init__(self, integer: bool = False, low: float | None = None):
        self.integer, self.low = integer, low
        self.name = "integer" if integer else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            number = parse_number(str(value).strip())
            if number is None or (self.integer and number != int(number)):
                self.fail(f"expected a finite {'whole number' if self.integer else 'number'}, got {value!r}",
                          param, ctx)
        if self.integer:
            number = int(number)
        if self.low is not None and number < self.low:
            self.fail(f"expected at least {self.low:g}, got {value}", param, ctx)
        return number


@click.command(context_settings=dict(help_option_names=["-h", "--help"]))
@click.option("--c-bin", metavar="PATH", help="nanoBragg binary (default: $NB_C_BIN)")
@click.option("--out", default="compare_out", show_default=True, metavar="DIR",
              help="folder for summary.json, c.png, nbnumba.png, diff.png (created if missing)")
@click.option("--min-correlation", type=_Number(), default=0.999, show_default=True,
              help="fail below this Pearson correlation of the float images")
@click.option("--max-rel-diff", type=_Number(), default=1e-3, show_default=True,
              help="fail above this max |nbnumba - C| / max |C|")
@click.option("--max-spot-offset", type=_Number(), default=1.0, show_default=True,
              help="fail when a bright C spot's nbnumba maximum is further away (pixels) or missing")
@click.option("--spots", type=_Number(integer=True, low=1), default=10, show_default=True,
              help="number of brightest C spots (3x3 local maxima) to match")
@click.option("--spot-window", type=_Number(integer=True, low=0), default=3, show_default=True,
              help="search half-width (pixels) for a spot's nbnumba maximum")
@click.option("--threads", type=_Number(integer=True, low=1), default=None,
              help="threads for both programs (OMP_NUM_THREADS / NUMBA_NUM_THREADS; default: as set)")
@click.option("--timeout", type=_Number(low=0), default=DEFAULT_TIMEOUT_S, show_default=True, metavar="SECONDS",
              help="time limit of each program run; one that runs over it is killed with its process group "
                   "(exit status 2); 0: no limit")
@click.option("--nbnumba-args", default="", metavar="TEXT",
              help="extra arguments for nbnumba only, e.g. '--phi-carryover-mode c-parity'")
@click.option("--keep", is_flag=True, help="copy both run folders (images, stdout, stderr) into --out as c_run and "
                                            "nbnumba_run (refused if either exists)")
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def command(c_bin, out, min_correlation, max_rel_diff, max_spot_offset, spots, spot_window, threads, timeout,
            nbnumba_args, keep, argv):
    """Run a nanoBragg.c binary and nbnumba on the same flags (given after --) and compare the images."""
    thresholds = {"min_correlation": min_correlation, "max_rel_diff": max_rel_diff,
                  "max_spot_offset": max_spot_offset}
    try:
        extra = tuple(shlex.split(nbnumba_args))
    except ValueError as exc:
        raise InputError(f"--nbnumba-args: {exc}") from exc
    try:
        return compare(list(argv), c_bin, out, thresholds, spots, spot_window, threads, keep, extra,
                       timeout=timeout if timeout > 0 else None)
    except KeyboardInterrupt:
        raise _Interrupted() from None  # past click, which would print an empty line for it


class _Interrupted(BaseException):
    """Ctrl-C, carried past click's own KeyboardInterrupt handling."""


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _terminate_on_signals():
    """SIGTERM and SIGHUP raise Terminated for the block (main thread only), so that the programs are
    killed and the temporary folders removed on the way out."""
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
                saved[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def main_argv(argv: list[str]) -> int:
    """Run the command on `argv` (the arguments after the program name); returns the exit status."""
    if "--trace" in argv:  # nbnumba-compare --trace A.json B.json: line up two --trace-pixel traces
        from nbnumba.cli import compare_trace  # noqa: PLC0415 -- start-up: it loads the render plan (numba)
        return compare_trace.main_argv(argv)
    try:
        with _terminate_on_signals():
            status = command.main(args=list(argv), prog_name=PROG, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.NoSuchOption as exc:
        click.echo(f"{PROG}: error: {exc.format_message()} (nanoBragg flags go after --)", err=True)
        return EXIT_INPUT_ERROR
    except click.exceptions.UsageError as exc:
        click.echo(f"{PROG}: error: {' '.join(exc.format_message().split())}", err=True)
        return EXIT_INPUT_ERROR
    except InputError as exc:
        click.echo(f"{PROG}: error: {exc}", err=True)
        return EXIT_INPUT_ERROR
    except (KeyboardInterrupt, _Interrupted):
        click.echo(f"{PROG}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Terminated:
        click.echo(f"{PROG}: terminated", err=True)
        return EXIT_TERMINATED
    return int(status or 0)


def main():
    """Console-script entry point."""
    sys.exit(main_argv(sys.argv[1:]))


if __name__ == "__main__":
    main()
