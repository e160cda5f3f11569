# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba`` command: hands argv untouched to the nanoBragg flag parser, then runs the simulation.
Exit status: 0 success, 2 bad input, 1 a CUDA error on the GPU, 130 interrupted, otherwise what the
simulation returns."""
from __future__ import annotations

import os
import sys
import textwrap
import warnings

import click

from nbnumba.cli.flags import FLAGS, GROUPS, IGNORED
from nbnumba.errors import InputError

EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130
#: the GPU failed (a CUDA driver or launch error; see --device)
EXIT_CUDA_ERROR = 1

_HELP_FLAGS = ("-h", "--help")
_NAME_COLUMN = 32
_WIDTH = 100


def _version() -> str:
    try:
        from nbnumba import __version__
        return str(__version__)
    except ImportError:
        from importlib import metadata
        try:
            return metadata.version("nbnumba")
        except metadata.PackageNotFoundError:
            return "0.1.0.dev0"


def usage_text() -> str:
    """The help text: every flag, with its values, aliases and help, grouped as in nanoBragg.c's usage text.

    Returns
    -------
    str
        The text, without a trailing newline.
    """
    lines = [
        "usage: nbnumba -mat auto.mat -hkl Fs.hkl [flags]",
        "       nbnumba -cell a b c al be ga -misset RX RY RZ -default_F F [flags]",
        "",
        "Flags are nanoBragg.c's, matched exactly (no abbreviations); values follow their flag and may be",
        "negative. Later flags override earlier ones.",
    ]
    for group in GROUPS:
        lines += ["", f"{group}:"]
        for flag in (f for f in FLAGS if f.group == group):
            head = "  " + ", ".join(flag.names[:1] + tuple(a for a in flag.aliases if a.startswith("--")))
            if flag.metavar:
                head += " " + flag.metavar
            text = flag.help
            short_aliases = [a for a in flag.aliases if not a.startswith("--")]
            if short_aliases:
                text += f" [alias: {', '.join(short_aliases)}]"
            if flag.status == IGNORED and "ignored" not in text:
                text += " [ignored]"
            body = textwrap.wrap(text, _WIDTH - _NAME_COLUMN)
            if len(head) < _NAME_COLUMN - 1:
                lines.append(head.ljust(_NAME_COLUMN) + body[0])
            else:
                lines += [head, " " * _NAME_COLUMN + body[0]]
            lines += [" " * _NAME_COLUMN + more for more in body[1:]]
    return "\n".join(lines)


def main_argv(argv: list[str]) -> int:
    """Run nbnumba on a list of nanoBragg arguments, as the command line does.

    Parameters
    ----------
    argv : list of str
        The arguments after the program name.

    Returns
    -------
    int
        The exit status: 0 for success (and for -h/--help, --version), 2 for bad input
        (reported on stderr as one line), 130 when interrupted, else the simulation's status.
    """
    argv = [str(token) for token in argv]
    if any(token in _HELP_FLAGS for token in argv):
        click.echo(usage_text())
        return 0
    if "--version" in argv:
        click.echo(f"nbnumba {_version()}")
        return 0
    try:
        from nbnumba.cli.parse import params_from_argv

        params, parse_warnings = params_from_argv(argv)
        for warning in parse_warnings:
            click.echo(f"WARNING: {warning}", err=True)
        from nbnumba.frontend import run

        with warnings.catch_warnings():
            # NaN or infinite pixels (e.g. -fluence 1e300) are written as nanoBragg.c writes them;
            # numpy's floating-point RuntimeWarnings about them would only add Python noise to stderr
            warnings.simplefilter("ignore", RuntimeWarning)
            status = run(params)
    except InputError as exc:
        click.echo(f"nbnumba: error: {exc}", err=True)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        click.echo("nbnumba: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the GPU failing under us (driver, launch): one line, no traceback
        from nbnumba.device import is_cuda_error
        if not is_cuda_error(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"nbnumba: error: CUDA: {type(exc).__name__}: {first}", err=True)
        return EXIT_CUDA_ERROR
    return int(status or 0)


class PassThroughCommand(click.Command):
    """A click command whose arguments all reach ``argv`` untouched: click's option parser never sees them.

    Click would otherwise split unknown single-dash flags into letters (``-hkl`` -> ``-h -k -l``)
    when they start like a known option, and it drops a ``--`` token.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["argv"] = tuple(args)
        ctx.args = []
        return []


@click.command(
    cls=PassThroughCommand,
    context_settings=dict(ignore_unknown_options=True, allow_extra_args=True, help_option_names=[]),
    add_help_option=False,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def main(argv):
    """Simulate an X-ray diffraction image, as nanoBragg.c does (see ``nbnumba -h`` for the flags)."""
    _skip_scipy_blas()
    sys.exit(main_argv(list(argv)))


def _skip_scipy_blas():
    """Start-up of the command: when numba loads its compiled-code support it imports SciPy's BLAS
    if SciPy is installed (about 0.2 s), for numpy.linalg in compiled code, which nbnumba never
    uses. The command is its own process and nothing in it needs SciPy, so it marks SciPy absent
    (unless something imported it already). Library users (``nbnumba.simulate``) are unaffected."""
    if "scipy" not in sys.modules and os.environ.get("NBNUMBA_ALLOW_SCIPY", "") in ("", "0"):
        sys.modules["scipy"] = None
