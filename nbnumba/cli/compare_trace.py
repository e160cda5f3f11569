# SPDX-License-Identifier: BSD-3-Clause
"""``nbnumba-compare --trace A.json B.json [--rtol R] [--atol A]``: line up two ``--trace-pixel`` traces
(or JSON lines printed by an instrumented nanoBragg.c) and report, per quantity, the first sample whose
values differ beyond the tolerance (``nbnumba.outputs.trace.diff_traces``).

Exit status: 0 the traces agree, 1 they differ, 2 bad usage or an unreadable trace."""
from __future__ import annotations

import click

from nbnumba.errors import InputError
from nbnumba.outputs.trace import DEFAULT_ATOL, DEFAULT_RTOL, diff_report, diff_traces, read_trace

PROG = "nbnumba-compare"


@click.command(context_settings=dict(help_option_names=["-h", "--help"]))
@click.option("--trace", "paths", nargs=2, required=True, metavar="A.json B.json",
              help="the two traces to line up (--trace-pixel files, or JSON lines from an instrumented C build)")
@click.option("--rtol", type=click.FloatRange(min=0.0), default=DEFAULT_RTOL, show_default=True,
              help="relative tolerance: values differ when |a - b| > atol + rtol * max(|a|, |b|)")
@click.option("--atol", type=click.FloatRange(min=0.0), default=DEFAULT_ATOL, show_default=True,
              help="absolute tolerance")
def command(paths, rtol, atol):
    """Report the first sample where two pixel traces differ, per quantity."""
    path_a, path_b = paths
    a, b = read_trace(path_a), read_trace(path_b)
    differences = diff_traces(a, b, rtol, atol)
    for line in diff_report(differences, path_a, path_b, rtol, atol, a, b):
        click.echo(line)
    return 1 if differences else 0


def main_argv(argv: list[str]) -> int:
    """Run the trace comparison on ``argv`` (the arguments after the program name); the exit status."""
    try:
        return int(command.main(args=list(argv), prog_name=PROG, standalone_mode=False) or 0)
    except click.exceptions.UsageError as exc:
        click.echo(f"{PROG}: error: {exc.format_message()}", err=True)
        return 2
    except InputError as exc:
        click.echo(f"{PROG}: error: {exc}", err=True)
        return 2
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo(f"{PROG}: interrupted", err=True)
        return 130
