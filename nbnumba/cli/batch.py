# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba-batch`` command (also ``python -m nbnumba.cli.batch``): every line of a job file is one
nanoBragg command line, all run in one process (or split across MPI ranks under ``mpiexec``).

Exit status: the number of failed jobs (capped at 125), 0 if none; 130 when interrupted; 2 for a bad
option, an unreadable job file, a state file that cannot be written, or a job file another batch is
running (its state file is locked). Errors before the jobs run are one line, ``nbnumba-batch: error: ...``."""
from __future__ import annotations

import contextlib
import os
import sys
import time

import click

from nbnumba.cli.main import prepare_command_process
from nbnumba.constants import Compression, Device
from nbnumba.errors import ExitStatus, InputError
from nbnumba.io.atomic import check_writable
from nbnumba.io.nxmx import compression_options
from nbnumba.render.device import resolve_device, select_gpu

PROG = "nbnumba-batch"
EXIT_USAGE = ExitStatus.INPUT_ERROR


class _AsciiInt(click.ParamType):
    """A whole number in ASCII digits within [low, high] (click's int() also reads other scripts' digits)."""

    name = "integer"

    def __init__(self, low, high):
        self.low, self.high = low, high

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            self.fail("expected a whole number, got %r" % value, param, ctx)
        number = int(text)
        if not self.low <= number <= self.high:
            self.fail("%d is not in the range %d to %d" % (number, self.low, self.high), param, ctx)
        return number


class _Progress:
    """One click progress bar on stderr for the batch's jobs (only on a terminal)."""

    def __init__(self, total):
        self._start = time.monotonic()
        self._rate = ""
        self._bar = click.progressbar(length=total, label="jobs", file=sys.stderr, show_pos=True,
                                      item_show_func=lambda _item: self._rate)
        self._bar.__enter__()
        self._done = 0

    def __call__(self, done, total):
        elapsed = time.monotonic() - self._start
        self._rate = "%.2f jobs/s" % (done / elapsed) if elapsed > 0 else ""
        self._bar.update(done - self._done)
        self._done = done

    def close(self):
        self._bar.__exit__(None, None, None)


@click.command(context_settings=dict(help_option_names=["-h", "--help"]))
@click.argument("jobfile", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--seed", "batch_seed", type=_AsciiInt(-2**31, 2**31 - 1), default=1, show_default=True,
              help="Batch seed: a job line without -seed gets a noise seed derived from this and its line "
                   "number (see docs/usage.md).")
@click.option("--log-dir", type=click.Path(file_okay=False), default=None,
              help="Write each job's console lines (what nbnumba would print) to DIR/job-<line>.log; "
                   "without it they are dropped.")
@click.option("--force", is_flag=True, help="Rerun every job, even those the state file records as done.")
@click.option("--device", type=click.Choice(Device.values()), default=None,
              help="Renderer for every job (default: the job line's own choice). Under MPI with cuda, "
                   "a rank uses GPU (its rank on its node) % (GPUs on the node).")
@click.option("--mpi/--no-mpi", "use_mpi", default=None,
              help="Split the jobs across MPI ranks (default: only when started by mpiexec/mpirun).")
@click.option("--hdf5", "hdf5_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every job's float image, in line order, into this one NXmx (HDF5) file, "
                   "once all jobs are done (the jobs must share one detector and beam geometry).")
@click.option("--hdf5-compression", type=click.Choice(Compression.values()), default="gzip",
              show_default=True, help="Compression of the --hdf5 file's images.")
def command(jobfile, batch_seed, log_dir, force, device, use_mpi, hdf5_path, hdf5_compression):
    """Run every nanoBragg command line of JOBFILE (one per line; '#' comment lines and blank lines
    skipped) in one process, writing the files each line names. Relative paths are relative to the
    current folder. Completed jobs are recorded in JOBFILE.done and skipped by a rerun if their
    outputs are unchanged."""
    prepare_command_process(pipeline=True)
    try:
        return batch_main(jobfile, batch_seed, log_dir, force, device, use_mpi, hdf5_path, hdf5_compression)
    except KeyboardInterrupt:
        click.echo("%s: interrupted" % PROG, err=True)
        return ExitStatus.INTERRUPTED


def main_argv(argv) -> int:
    """Run the command on ``argv`` (the arguments after the program name); returns the exit status.
    Usage errors are one line, ``nbnumba-batch: error: ...``, exit status 2."""
    try:
        status = command.main(args=list(argv), prog_name=PROG, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("%s: interrupted" % PROG, err=True)
        return ExitStatus.INTERRUPTED
    except click.exceptions.ClickException as exc:  # UsageError, BadParameter, NoSuchOption, ...
        message = " ".join(exc.format_message().split())
        click.echo("%s: error: %s" % (PROG, message), err=True)
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    return int(status or 0)


def main():
    """Console-script entry point."""
    sys.exit(main_argv(sys.argv[1:]))


def batch_main(jobfile, batch_seed=1, log_dir=None, force=False, device=None, use_mpi=None, hdf5_path=None,
               hdf5_compression="gzip") -> int:
    """Run the batch and return its exit status (see the module docstring)."""
    from nbnumba import batch  # noqa: PLC0415 -- start-up: numpy and numba, not for --help or usage errors

    if use_mpi is None:
        use_mpi = batch.mpi_launched()
    rank, size, comm = 0, 1, None
    error = None
    try:
        if use_mpi:
            rank, size, comm = batch.mpi_world()
        if comm is not None:
            if resolve_device(device or os.environ.get("NBNUMBA_DEVICE") or "auto") == "cuda":
                # GPU (rank on this node) % (GPUs on this node): ranks sharing a node spread over its GPUs
                # however the launcher places ranks on nodes
                from mpi4py import MPI  # noqa: PLC0415 -- mpi4py: optional (nbnumba[mpi])
                select_gpu(comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank())
        batch.read_jobs(jobfile)  # unreadable file: one error, before any work
        if hdf5_path is not None and rank == 0:
            check_writable(hdf5_path)
            compression_options(hdf5_compression)  # bitshuffle without hdf5plugin: refused now
    except (InputError, OSError) as exc:
        error = str(exc.strerror if isinstance(exc, OSError) else exc)
        if comm is None:
            click.echo("%s: error: %s" % (PROG, error), err=True)
            return EXIT_USAGE
    use_rank_state = comm is not None and size > 1
    # the checks above (some on rank 0 only), the batch lock (rank 0 for all ranks) and a writable state
    # file, before any job: every rank learns whether any rank failed, and all refuse together
    with contextlib.ExitStack() as held:
        if error is None:
            try:
                held.enter_context(batch.batch_guard(jobfile, rank, use_rank_state))
            except InputError as exc:
                error = str(exc)
        if comm is not None:
            error = next((e for e in comm.allgather(error) if e), None)
        if error is not None:
            if rank == 0:
                click.echo("%s: error: %s" % (PROG, error), err=True)
            return EXIT_USAGE
        return _run(batch, jobfile, batch_seed, log_dir, force, device, hdf5_path, hdf5_compression, rank, size,
                    comm, use_rank_state)


def _run(batch, jobfile, batch_seed, log_dir, force, device, hdf5_path, hdf5_compression, rank, size, comm,
         use_rank_state) -> int:
    progress = None
    if rank == 0 and sys.stderr.isatty():
        progress = _Progress(len(batch.read_jobs(jobfile)[rank::size]))
    try:
        summary = batch.run_batch(jobfile, batch_seed=batch_seed, log_dir=log_dir, force=force, device=device,
                                  rank=rank, size=size, use_rank_state=use_rank_state, progress=progress,
                                  locked=True)
    finally:
        if progress is not None:
            progress.close()
    hdf5_failed = 0
    if comm is not None:  # every rank learns the totals: each exits with the batch's status
        ranks = comm.allgather((summary.jobs, summary.done, summary.skipped, summary.failed,
                                summary.seconds, summary.interrupted))
        summary = batch.Summary(*(sum(r[i] for r in ranks) for i in range(4)),
                                seconds=max(r[4] for r in ranks), interrupted=any(r[5] for r in ranks))
    if hdf5_path is not None and rank == 0 and not summary.interrupted:
        hdf5_failed = _write_hdf5(jobfile, hdf5_path, batch_seed, hdf5_compression, device)
    if comm is not None:
        hdf5_failed = comm.bcast(hdf5_failed, root=0)
    summary.failed += hdf5_failed
    if rank == 0:
        click.echo(summary.line(jobfile) + (" (interrupted)" if summary.interrupted else ""))
    if summary.interrupted:
        click.echo("%s: interrupted" % PROG, err=True)
    return batch.exit_status(summary.failed, summary.interrupted)


def _write_hdf5(jobfile, path, batch_seed, compression, device) -> int:
    """Assemble the batch's NXmx file; 1 (counted as a failure) if it could not be written."""
    from nbnumba import batch  # noqa: PLC0415 -- start-up, as in batch_main
    try:
        missing = batch.assemble_hdf5(jobfile, path, batch_seed, compression, device)
    except InputError as exc:
        click.echo("%s: error: --hdf5 %s: %s" % (jobfile, path, exc), err=True)
        return 1
    if missing:
        lines = ", ".join(str(n) for n in missing[:10]) + (", ..." if len(missing) > 10 else "")
        click.echo("%s: error: --hdf5 %s not written: jobs at lines %s are not done" % (jobfile, path, lines),
                   err=True)
        return 1
    return 0


if __name__ == "__main__":
    main()
