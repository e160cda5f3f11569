# SPDX-License-Identifier: BSD-3-Clause
"""Many nanoBragg command lines in one process: the job file, per-line seeds, the resume state and the
MPI split. ``nbnumba-batch`` (nbnumba/cli/batch.py) is the command around :func:`run_batch`.

A job file holds one nanoBragg command line per line (``#`` comment lines and blank lines skipped, a
trailing backslash continues a line); each is parsed as the ``nbnumba`` command parses its arguments and
run through :func:`nbnumba.run.run`, so it writes the same files. Relative paths are relative to the
folder the batch runs in, as in the shell loop the job file replaces.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import re
import shlex
import stat
import sys
import time
import traceback
import warnings
from typing import Callable, Optional

import numpy as np

from nbnumba.errors import ExitStatus, InputError
from nbnumba.io import atomic
from nbnumba.io.atomic import atomic_open, forget_listings
from nbnumba.io.hkl import cached_tables
from nbnumba.io.nxmx import NXmxWriter
from nbnumba.io.textcols import read_input
from nbnumba.mpi import MPI_ENV_VARS
from nbnumba.outputs.registry import output_paths
from nbnumba.run import run
from nbnumba.setup import params_from_argv, prepare

#: program names a job line may start with (dropped): nanoBragg's and ours, or a path ending in either
PROGRAM_NAMES = ("nanoBragg", "nbnumba")
#: seeds are drawn from 1 .. 2**31 - 1, so ``-seed S`` of a job line reproduces them
SEED_MODULUS = 2**31 - 1
#: the suffix of the state file next to the job file (``jobs.txt.done``; ``jobs.txt.done.rank<r>`` per MPI rank)
STATE_SUFFIX = ".done"
#: exit statuses above this are reserved for the shell (126, 127, signals)
MAX_FAILURE_STATUS = 125


@dataclasses.dataclass
class Job:
    """One command line of a job file."""
    #: the job file's line number (1-based) where the command starts
    line: int
    #: the command as written (continuation lines joined)
    text: str
    #: its arguments after the program name, or None if the line could not be split
    argv: Optional[list] = None
    #: why the line could not be split
    error: Optional[str] = None


#: memory per byte of a job file while its lines are split into jobs (an upper bound)
JOB_FILE_PARSE_FACTOR = 40.0


def read_jobs(path) -> list:
    """The jobs of a job file, in line order.

    Each non-blank line not starting with ``#`` is one command line, split as a POSIX shell splits
    words (``shlex.split``: quotes and backslashes, no variables, no globbing, no ``#`` comments after a
    command). A line ending in a backslash continues on the next line. A leading program name
    (``nanoBragg``, ``nbnumba`` or a path ending in either) is dropped. A command that is not valid
    UTF-8 is a job that fails with an error naming its line (its file names could not be written as
    given); the file is read with the input limits (size, line length, no NUL byte)."""
    data = read_input(path, "job", text=True, parse_factor=JOB_FILE_PARSE_FACTOR)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")  # bad bytes become lone surrogates
    raw = text.splitlines()
    jobs = []
    pending, first = None, 0
    for number, text in enumerate(raw, start=1):
        if pending is None:
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            pending, first = text, number
        else:
            pending = pending[:-1] + " " + text
        if pending.rstrip().endswith("\\") and not pending.rstrip().endswith("\\\\"):
            pending = pending.rstrip()
            continue
        jobs.append(_split(first, pending.strip()))
        pending = None
    if pending is not None:
        jobs.append(_split(first, pending.rstrip("\\").strip()))
    return jobs


_SURROGATE = re.compile("[\udc80-\udcff]")


def _split(line: int, text: str) -> Job:
    bad = _SURROGATE.search(text)
    if bad is not None:
        byte = ord(bad.group()) - 0xDC00
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return Job(line, shown, error="the line is not valid UTF-8 (byte 0x%02x at character %d); write its "
                                      "file names in UTF-8" % (byte, bad.start() + 1))
    try:
        argv = shlex.split(text)
    except ValueError as exc:  # unbalanced quotes, a lone trailing backslash
        return Job(line, text, error="cannot split the line into arguments: %s" % exc)
    if argv and os.path.basename(argv[0]) in PROGRAM_NAMES:
        argv = argv[1:]
    return Job(line, text, argv=argv)


def job_seed(batch_seed: int, line: int) -> int:
    """The seed of job line ``line`` when it gives no ``-seed``: the first 8 bytes of
    SHA-256("nbnumba-batch seed <batch_seed> line <line>") as a big-endian integer, modulo 2**31 - 1,
    plus 1. It depends only on the batch seed and the line number, not on which jobs run, in what order
    or on which MPI rank. ``-seed S`` on that line gives the same noise image."""
    digest = hashlib.sha256(("nbnumba-batch seed %d line %d" % (batch_seed, line)).encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") % SEED_MODULUS + 1


def job_key(job: Job, batch_seed: int) -> str:
    """What a state record must match for a job to count as done: the line's text and the batch seed."""
    return hashlib.sha256(json.dumps([job.text, batch_seed]).encode("utf-8")).hexdigest()


def job_params(job: Job, batch_seed: int, device: Optional[str] = None):
    """The job's Params (the ``nbnumba`` command's parser) with the batch's seed and device; and the
    parser's warnings. A line without ``-seed`` gets ``job_seed`` as its noise seed, and the same number
    as its ``-misset_seed`` when it has none (both are time-based in nanoBragg.c)."""
    if job.error is not None:
        raise InputError(job.error)
    params, parse_warnings = params_from_argv(list(job.argv))
    seed = job_seed(batch_seed, job.line)
    if params.seed is None:
        params.seed = seed
    if params.misset_seed is None:
        params.misset_seed = seed
    if device is not None:
        params.device = device
    params.progress_meter = False  # one bar for the batch, none per image
    return params, parse_warnings


# ---------------------------------------------------------------------------------------------- state

def state_path(jobfile, rank: Optional[int] = None) -> str:
    """The state file a process appends to: ``JOBFILE.done``, or ``JOBFILE.done.rank<r>`` for MPI rank r."""
    base = os.fspath(jobfile) + STATE_SUFFIX
    return base if rank is None else "%s.rank%d" % (base, rank)


def state_files(jobfile) -> list:
    """Every state file of a job file: the single-process one and those of any MPI ranks."""
    base = os.fspath(jobfile) + STATE_SUFFIX
    return ([base] if os.path.exists(base) else []) + sorted(glob.glob(glob.escape(base) + ".rank*"))


def read_records(jobfile) -> dict:
    """State records by line number (every record of the line, any state file). A line that is not a
    complete JSON record (the tail of a write cut off by a kill) is ignored."""
    records = {}
    for path in state_files(jobfile):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for text in handle:
                try:
                    record = json.loads(text)
                    line = int(record["line"])
                except (ValueError, KeyError, TypeError):
                    continue
                records.setdefault(line, []).append(record)
    return records


def open_state(path) -> int:
    """Open (create if missing) a state file for appending; InputError if it cannot be written (a
    read-only file system, no permission): checked before any job runs. Returns the descriptor."""
    try:
        return os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise InputError("cannot write the state file %s: %s" % (path, exc.strerror or exc)) from exc


def lock_batch(jobfile) -> int:
    """Take the job file's batch lock: an exclusive ``flock`` on its state file ``JOBFILE.done``
    (created if missing), held until the returned descriptor is closed (or the process ends, however
    it ends). InputError if the state file cannot be written, or if another batch holds the lock
    (two batches on one job file would redo each other's work and interleave their records). Under
    MPI rank 0 takes it for all ranks."""
    path = state_path(jobfile)
    fd = open_state(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError("%s is being run by another nbnumba-batch (it holds the lock on %s); wait for it "
                         "to end or stop it" % (jobfile, path)) from None
    except OSError:  # a file system without locks (some network file systems): run unlocked
        pass
    return fd


@contextlib.contextmanager
def batch_guard(jobfile, rank: int = 0, use_rank_state: bool = False):
    """For the life of the block: the batch lock (rank 0), and this rank's state file checked writable."""
    fd = lock_batch(jobfile) if rank == 0 else None
    try:
        if use_rank_state:
            os.close(open_state(state_path(jobfile, rank)))
        yield
    finally:
        if fd is not None:
            os.close(fd)


def file_digest(path) -> tuple:
    """(size, sha256 hex) of a file."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            size += len(block)
    return size, sha.hexdigest()


def verified(record: dict, key: str, outputs: list, shared=frozenset()) -> bool:
    """True if ``record`` is for this line text and batch seed, lists exactly ``outputs`` (absolute
    paths) and every one of them still has the recorded size and SHA-256, except the ``shared``
    paths (written by several lines: the last line to run wins, so they cannot be checked)."""
    try:
        files = record["outputs"]
        if record["key"] != key or sorted(entry["path"] for entry in files) != sorted(outputs):
            return False
        return all(entry["path"] in shared or _intact(entry) for entry in files)
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _intact(entry: dict) -> bool:
    """An output as recorded: a regular file of the recorded size and SHA-256, or (recorded as a
    ``stream``: ``-floatfile /dev/null``, a FIFO) still a device or FIFO, whose bytes are gone."""
    if entry.get("stream"):
        return is_stream(entry["path"])
    return (os.path.isfile(entry["path"]) and os.path.getsize(entry["path"]) == entry["size"]
            and file_digest(entry["path"]) == (entry["size"], entry["sha256"]))


def is_stream(path) -> bool:
    """True if ``path`` (followed through symlinks) is a character or block device or a FIFO: an output
    written straight into, which cannot be read back (reading a FIFO would wait for a writer)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)


def shared_outputs(jobs, batch_seed: int, device: Optional[str] = None) -> dict:
    """Output files that more than one job line writes (e.g. a shell loop's lines that all keep the
    default ``intimage.img``): {absolute path: [line numbers]}. Lines that do not parse are left out."""
    writers = {}
    for job in jobs:
        try:
            params, _ = job_params(job, batch_seed, device)
        except InputError:
            continue
        for path in {os.path.abspath(p) for p in output_paths(params)}:
            writers.setdefault(path, []).append(job.line)
    return {path: lines for path, lines in writers.items() if len(lines) > 1}


def append_record(path, record: dict) -> None:
    """Append one JSON line to the state file and fsync it. A record cut short by an earlier kill is
    ended with a newline first, so it stays one unreadable line and this record the next."""
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write((json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------------------------------------- MPI

def mpi_launched() -> bool:
    """True when an MPI launcher started this process (its environment variables are set)."""
    return any(name in os.environ for name in MPI_ENV_VARS)


def mpi_world():
    """(rank, size, comm) from mpi4py's COMM_WORLD (imported only here)."""
    try:
        from mpi4py import MPI  # noqa: PLC0415 -- mpi4py: optional (nbnumba[mpi])
    except ImportError as exc:
        raise InputError("--mpi: mpi4py is not installed (pip install 'nbnumba[mpi]')") from exc
    comm = MPI.COMM_WORLD
    return comm.Get_rank(), comm.Get_size(), comm


# ---------------------------------------------------------------------------------------------- the batch

@dataclasses.dataclass
class Summary:
    """Counts of a batch (one rank's, or all ranks' summed)."""
    jobs: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def line(self, jobfile) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        return ("%s: %d jobs: %d done, %d skipped (verified), %d failed; %d images in %.2f s (%.2f images/s)"
                % (jobfile, self.jobs, self.done, self.skipped, self.failed, self.done, self.seconds, rate))


def exit_status(failed: int, interrupted: bool = False) -> int:
    """130 if interrupted, else the number of failed jobs capped at 125 (0: all done)."""
    return ExitStatus.INTERRUPTED if interrupted else min(failed, MAX_FAILURE_STATUS)


def _write_log(log_dir, job: Job, lines) -> None:
    if log_dir is None or lines is None:
        return
    with contextlib.suppress(InputError, OSError):
        with atomic_open(os.path.join(log_dir, "job-%d.log" % job.line)) as handle:
            handle.write(("\n".join(lines) + "\n").encode("utf-8", "replace"))


def run_job(job: Job, params, state_file, key: str, log_lines: list, rank: int) -> dict:
    """Render one job (writing its files as the ``nbnumba`` command does), then append its state record."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN pixels are written as C writes them
        run(params, log=log_lines.append)
    outputs = []
    for path in output_paths(params):
        if is_stream(path):  # written into a device or FIFO: nothing to read back
            outputs.append({"path": os.path.abspath(path), "stream": True})
            continue
        size, digest = file_digest(path)
        outputs.append({"path": os.path.abspath(path), "size": size, "sha256": digest})
    record = {"line": job.line, "key": key, "seed": params.seed, "outputs": outputs, "rank": rank,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    append_record(state_file, record)
    return record


def run_batch(jobfile, batch_seed: int = 1, log_dir=None, force: bool = False, device: Optional[str] = None,
              rank: int = 0, size: int = 1, use_rank_state: bool = False,
              report: Callable[[str], None] = None, progress: Optional[Callable] = None,
              locked: bool = False) -> Summary:
    """Run this rank's share of the job file: jobs ``i`` (in line order) with ``i % size == rank``.

    A job whose state record matches its line and whose outputs are intact is skipped (unless
    ``force``); a job that fails is reported through ``report`` as ``JOBFILE:LINE: error: ...`` and
    the batch goes on. ``progress(done_jobs, total_jobs)`` is called after each job. Unless ``locked``
    (the caller holds :func:`batch_guard`), the batch lock is taken for the run: InputError, before
    any job, if another batch runs the job file or the state file cannot be written."""
    if not locked:
        with batch_guard(jobfile, rank, use_rank_state):
            return run_batch(jobfile, batch_seed, log_dir, force, device, rank, size, use_rank_state, report,
                             progress, locked=True)
    if report is None:
        def report(message):
            sys.stderr.write(message + "\n")
    forget_listings()  # each output folder is listed once in this batch (for temporaries of killed runs)
    all_jobs = read_jobs(jobfile)
    jobs = all_jobs[rank::size]
    state_file = state_path(jobfile, rank if use_rank_state else None)
    records = {} if force else read_records(jobfile)
    shared = shared_outputs(all_jobs, batch_seed, device)
    if shared and rank == 0:
        path, lines = sorted(shared.items(), key=lambda item: item[1])[0]
        report("%s: warning: %d output file(s) are written by several lines (e.g. %s by lines %s): the last "
               "line to run wins, and a rerun cannot verify them" % (
                   jobfile, len(shared), os.path.relpath(path), ", ".join(str(n) for n in lines[:5])
                   + (", ..." if len(lines) > 5 else "")))
    summary = Summary(jobs=len(jobs))
    if log_dir is not None:
        os.makedirs(log_dir, exist_ok=True)
    start = time.monotonic()
    with cached_tables():
        for index, job in enumerate(jobs):
            log_lines = ["# %s:%d: %s" % (jobfile, job.line, job.text)]
            try:
                params, parse_warnings = job_params(job, batch_seed, device)
                log_lines += ["WARNING: %s" % w for w in parse_warnings]
                outputs = [os.path.abspath(p) for p in output_paths(params)]
                key = job_key(job, batch_seed)
                atomic.remove_stale_temps(outputs + ([params.dumpfilename] if params.hklfilename else []))
                if any(verified(r, key, outputs, shared) for r in records.get(job.line, ())):
                    summary.skipped += 1
                    log_lines = None  # keep the log of the run that made the files
                else:
                    run_job(job, params, state_file, key, log_lines, rank)
                    summary.done += 1
            except KeyboardInterrupt:
                summary.interrupted = True
                log_lines.append("interrupted")
                _write_log(log_dir, job, log_lines)
                break
            except InputError as exc:
                summary.failed += 1
                report("%s:%d: error: %s" % (jobfile, job.line, exc))
                log_lines.append("nbnumba: error: %s" % exc)
            except Exception as exc:  # a failing job must not stop the others; its log keeps the traceback
                summary.failed += 1
                report("%s:%d: error: unexpected %s: %s" % (jobfile, job.line, type(exc).__name__, exc))
                log_lines += traceback.format_exc().splitlines()
            _write_log(log_dir, job, log_lines)
            if progress is not None:
                progress(index + 1, len(jobs))
    summary.seconds = time.monotonic() - start
    return summary


# ---------------------------------------------------------------------------------------------- one NXmx file

def assemble_hdf5(jobfile, path, batch_seed: int = 1, compression: str = "gzip", device=None) -> list:
    """Write every job's float image, in line order, into one NXmx file ``path`` (atomically: a
    temporary file renamed at the end). The images are read back from the jobs' ``-floatfile``s, each
    checked against its state record, so a resumed batch assembles the same file. Returns the line
    numbers of jobs that are not done (then no file is written); raises InputError if the jobs do not
    share one detector and beam geometry."""
    records = read_records(jobfile)
    ready, missing = [], []
    with cached_tables():
        for job in read_jobs(jobfile):
            try:
                params, _ = job_params(job, batch_seed, device)
            except InputError:
                missing.append(job.line)
                continue
            outputs = [os.path.abspath(p) for p in output_paths(params)]
            if any(verified(r, job_key(job, batch_seed), outputs) for r in records.get(job.line, ())):
                ready.append(params)
            else:
                missing.append(job.line)
        shared = shared_outputs(read_jobs(jobfile), batch_seed, device)
        for params in ready:
            if is_stream(params.floatfilename):
                raise InputError("-floatfile %s is a device or FIFO: the images are read back from each line's "
                                 "-floatfile, which must be a file" % params.floatfilename)
            lines = shared.get(os.path.abspath(params.floatfilename))
            if lines:
                raise InputError("lines %s all write -floatfile %s: each line needs its own -floatfile"
                                 % (", ".join(str(n) for n in lines[:5]), params.floatfilename))
        if missing or not ready:
            return missing
        atomic.remove_stale_temps([path])
        writer = None
        try:
            for params in ready:
                setup = prepare(params)
                image = np.fromfile(params.floatfilename, dtype=np.float32).reshape(setup.detector.shape)
                if writer is None:
                    writer = NXmxWriter(path, setup, dtype="float32", compression=compression)
                writer.append(image, setup)
            writer.commit()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    return []
