# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba-batch`` command (also ``python -m nbnumba.cli.batch``): every line of a job file is one
nanoBragg command line, all run in one process (or split across MPI ranks under ``mpiexec``).

Exit status: the number of failed jobs (capped at 125), 0 if none; 130 when interrupted; 2 for a bad
option or an unreadable job file."""
from __future__ import annotations

import os
import sys
import time

import click

from nbnumba.constants import Compression, Device
from nbnumba.errors import ExitStatus, InputError


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
@click.option("--seed", "batch_seed", type=click.IntRange(-2**31, 2**31 - 1), default=1, show_default=True,
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
def main(jobfile, batch_seed, log_dir, force, device, use_mpi, hdf5_path, hdf5_compression):
    """Run every nanoBragg command line of JOBFILE (one per line; '#' comment lines and blank lines
    skipped) in one process, writing the files each line names. Relative paths are relative to the
    current folder. Completed jobs are recorded in JOBFILE.done and skipped by a rerun if their
    outputs are unchanged."""
    from nbnumba.cli.main import _skip_scipy_blas
    _skip_scipy_blas()
    try:
        status = batch_main(jobfile, batch_seed, log_dir, force, device, use_mpi, hdf5_path, hdf5_compression)
    except KeyboardInterrupt:
        click.echo("nbnumba-batch: interrupted", err=True)
        status = ExitStatus.INTERRUPTED
    sys.exit(status)


def batch_main(jobfile, batch_seed=1, log_dir=None, force=False, device=None, use_mpi=None, hdf5_path=None,
               hdf5_compression="gzip") -> int:
    """Run the batch and return its exit status (see the module docstring)."""
    from nbnumba import batch

    if use_mpi is None:
        use_mpi = batch.mpi_launched()
    rank, size, comm = 0, 1, None
    try:
        if use_mpi:
            rank, size, comm = batch.mpi_world()
        if comm is not None:
            from nbnumba.render.device import resolve_device, select_gpu
            if resolve_device(device or os.environ.get("NBNUMBA_DEVICE") or "auto") == "cuda":
                # GPU (rank on this node) % (GPUs on this node): ranks sharing a node spread over its GPUs
                # however the launcher places ranks on nodes
                from mpi4py import MPI
                select_gpu(comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank())
        batch.read_jobs(jobfile)  # unreadable file: one error, before any work
        if hdf5_path is not None and rank == 0:
            from nbnumba.io.atomic import check_writable
            from nbnumba.io.nxmx import compression_options
            check_writable(hdf5_path)
            compression_options(hdf5_compression)  # bitshuffle without hdf5plugin: refused now
    except (InputError, OSError) as exc:
        click.echo("nbnumba-batch: error: %s" % (exc.strerror if isinstance(exc, OSError) else exc), err=True)
        return ExitStatus.INPUT_ERROR
    progress = None
    if rank == 0 and sys.stderr.isatty():
        progress = _Progress(len(batch.read_jobs(jobfile)[rank::size]))
    try:
        summary = batch.run_batch(jobfile, batch_seed=batch_seed, log_dir=log_dir, force=force, device=device,
                                  rank=rank, size=size, use_rank_state=comm is not None and size > 1,
                                  progress=progress)
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
        click.echo("nbnumba-batch: interrupted", err=True)
    return batch.exit_status(summary.failed, summary.interrupted)


def _write_hdf5(jobfile, path, batch_seed, compression, device) -> int:
    """Assemble the batch's NXmx file; 1 (counted as a failure) if it could not be written."""
    from nbnumba import batch
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
