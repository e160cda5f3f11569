# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba`` command: hands argv untouched to the nanoBragg flag parser, then runs the simulation
(``nbnumba.run``). Exit status (``nbnumba.errors.ExitStatus``): 0 success, 2 bad input, 1 a CUDA error
on the GPU; interrupted (Ctrl-C, SIGTERM, SIGHUP), the process cleans up, prints "nbnumba: interrupted"
and dies by that signal, as nanoBragg.c does (``main_argv`` returns 130).

The command's entry point is ``nbnumba.cli.client.main``, which hands the run to a warm worker if one is
running (``nbnumba.cli.server``) and else calls ``run_command`` here. Click is imported only where it is
used (the progress bar, the ``main`` click command kept for ``python -c`` and click's test runner)."""
from __future__ import annotations

import gc
import os
import signal
import sys
import textwrap
import time
import warnings

from nbnumba._version import __version__
from nbnumba.argv.flags import FLAGS, GROUPS, IGNORED
from nbnumba.errors import ExitStatus, InputError

_HELP_FLAGS = ("-h", "--help")
_NAME_COLUMN = 32
_WIDTH = 100


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
        "Flags are nanoBragg.c's; another spelling that nanoBragg.c's substring matching takes (-oscillation)",
        "is taken as its flag, with a warning. Values follow their flag and may be negative; later flags win.",
        "",
        "Running nbnumba many times (a shell loop)? Start the warm worker once: `nbnumba-server start`.",
        "Each nbnumba command then hands its run to it (same output, files and exit status, a fraction",
        "of the start-up time); it exits after 15 idle minutes (`nbnumba-server stop|status`;",
        "NBNUMBA_WORKER=0 turns it off for a command). See docs/usage.md.",
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
    if not argv:  # as nanoBragg.c, the usage on stdout; C exits 9, the status nbnumba gives bad input as 2
        _echo(usage_text())
        return ExitStatus.INPUT_ERROR
    if any(token in _HELP_FLAGS for token in argv):
        _echo(usage_text())
        return 0
    if "--version" in argv:
        _echo(f"nbnumba {__version__}")
        return 0
    # the pipeline imports numpy and numba (about 0.25 s): not for -h and --version
    if _command_process:
        _load_quickly()
    from nbnumba.render.device import is_cuda_error  # noqa: PLC0415 -- start-up, see above
    from nbnumba.run import run  # noqa: PLC0415 -- start-up, see above
    from nbnumba.setup import params_from_argv  # noqa: PLC0415 -- start-up, see above

    _resume_collector()
    try:
        params, parse_warnings = params_from_argv(argv)
        for warning in parse_warnings:
            _echo(f"WARNING: {warning}", err=True)
        progress = progress_meter(params)
        try:
            with warnings.catch_warnings():
                # NaN or infinite pixels (e.g. -fluence 1e300) are written as nanoBragg.c writes them;
                # numpy's floating-point RuntimeWarnings about them would only add Python noise to stderr
                warnings.simplefilter("ignore", RuntimeWarning)
                run(params, log=_print, progress=progress)
        finally:
            if progress is not None:
                progress.close()
    except InputError as exc:
        _echo(f"nbnumba: error: {exc}", err=True)
        return ExitStatus.INPUT_ERROR
    except KeyboardInterrupt:
        _echo("nbnumba: interrupted", err=True)
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # the GPU failing under us (driver, launch): one line, no traceback
        if not is_cuda_error(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _echo(f"nbnumba: error: CUDA: {type(exc).__name__}: {first}", err=True)
        return ExitStatus.CUDA_ERROR
    return ExitStatus.OK


def _print(line):
    sys.stdout.write(line + "\n")


def _echo(text, err=False):
    """Click's ``echo`` for our plain text lines, without importing click: one line and a flush."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


class _ProgressBar:
    """The render's progress on stderr (C prints "N% done" lines instead): a click progress bar over
    detector rows, shown once a render has taken longer than ``DELAY`` seconds, and only on a
    terminal."""
    DELAY = 0.5

    def __init__(self):
        self._clock = time.monotonic
        self._start = self._clock()
        self._bar = None

    def __call__(self, done_rows, total_rows):
        if self._bar is None:
            if self._clock() - self._start < self.DELAY or done_rows >= total_rows:
                return
            import click  # noqa: PLC0415 -- start-up: click only once a bar is shown

            self._bar = click.progressbar(length=total_rows, label="rendering", file=sys.stderr)
            self._bar.__enter__()
            self._done = 0
        self._bar.update(done_rows - self._done)
        self._done = done_rows
        if done_rows >= total_rows:
            self.close()

    def close(self):
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def progress_meter(params):
    """A progress callback for the render, or None: off with -noprogress, with -printout (as in C)
    and when stderr is not a terminal."""
    if not params.progress_meter or params.printout or not sys.stderr.isatty():
        return None
    return _ProgressBar()


#: the signal that interrupted this process (``run_command`` re-raises it once it has cleaned up)
_interrupted_by = None


def _interrupt(signum, _frame):
    global _interrupted_by
    _interrupted_by = signum
    raise KeyboardInterrupt


def catch_signals():
    """Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt (so the run cleans up: no partial file) and
    are remembered for ``end_by_signal``. Python itself leaves SIGTERM and SIGHUP deadly at once."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIG_IGN stays
            signal.signal(signum, _interrupt)


def interrupting_signal():
    """The signal that interrupted the run (SIGINT when none was recorded)."""
    return _interrupted_by or signal.SIGINT


def run_command(argv):
    """The ``nbnumba`` process run directly: ``main_argv``, then leave the process without the
    interpreter's teardown once the output is flushed (the files are closed by then), or, if
    interrupted, die by the signal as nanoBragg.c does, so a shell loop stops at the first Ctrl-C."""
    from nbnumba.cli.client import end_process  # noqa: PLC0415 -- start-up: the client is stdlib only

    _pause_collector()
    try:
        catch_signals()
        prepare_command_process()
        status = int(main_argv(list(argv)))
    except KeyboardInterrupt:  # during start-up, before main_argv's own handler
        _echo("nbnumba: interrupted", err=True)
        status = ExitStatus.INTERRUPTED
    if status == ExitStatus.INTERRUPTED:
        end_process("signal", interrupting_signal())
    end_process("exit", status)


def _click_command():
    """The ``main`` click command (``python -c "from nbnumba.cli.main import main; main()"``, click's test
    runner): ``main_argv`` with sys.exit, an interrupt re-raised as its signal."""
    import click  # noqa: PLC0415 -- start-up: click only for this command object

    class PassThroughCommand(click.Command):
        """A click command whose arguments all reach ``argv`` untouched: click's option parser never
        sees them. Click would otherwise split unknown single-dash flags into letters (``-hkl`` ->
        ``-h -k -l``) when they start like a known option, and it drops a ``--`` token."""

        def parse_args(self, ctx, args):
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
        global _interrupted_by
        prepare_command_process()
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        _interrupted_by = None
        catch_signals()
        try:
            status = int(main_argv(list(argv)))
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        if status == ExitStatus.INTERRUPTED and _interrupted_by is not None:
            from nbnumba.cli.client import end_process  # noqa: PLC0415 -- start-up: stdlib only
            end_process("signal", _interrupted_by)
        sys.exit(status)

    return main


def __getattr__(name):
    # ``main``, the click command, is built on first use: importing this module needs no click
    if name == "main":
        command = globals()["main"] = _click_command()
        return command
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


#: set by ``prepare_command_process``: this process runs only nbnumba
_command_process = False


def prepare_command_process(pipeline=False):
    """Start-up of a process that runs only nbnumba: the ``nbnumba`` command, ``nbnumba-batch``, the warm
    worker. Library users (``nbnumba.simulate``) are unaffected.

    - When numba loads its compiled-code support it imports SciPy's BLAS if SciPy is installed (about
      0.2 s), for numpy.linalg in compiled code, which nbnumba never uses: SciPy is marked absent
      (unless something imported it already, or ``NBNUMBA_ALLOW_SCIPY=1``).
    - Compiled functions load from the cache without numba's target refresh (about 0.2 s,
      ``nbnumba._jit.load_cached_code_quickly``): at once with ``pipeline`` (a process that imports the
      pipeline anyway), else once ``main_argv`` needs the pipeline (not for -h and --version, which
      import no numba)."""
    global _command_process
    _command_process = True
    if "scipy" not in sys.modules and os.environ.get("NBNUMBA_ALLOW_SCIPY", "") in ("", "0"):
        sys.modules["scipy"] = None
    if pipeline:
        _load_quickly()


#: set by ``_pause_collector``: the cyclic garbage collector is off until the pipeline is imported
_collector_paused = False


def _pause_collector():
    """Start-up of the ``nbnumba`` command run directly: no cyclic garbage collection while numpy, numba
    and the pipeline are imported. They create about 90,000 objects that the collector tracks, and it
    would run some 150 times over them meanwhile (45-65 ms of a direct run here); ``main_argv`` resumes it
    once they are imported (``_resume_collector``). The client turns it off before it imports this
    module."""
    global _collector_paused
    _collector_paused = True
    gc.disable()


def _resume_collector():
    """After ``_pause_collector``: the imported objects are moved out of the collector's sight
    (``gc.freeze``: they live as long as the process anyway) and collection resumes, so the set-up and
    the run collect only their own objects (about 5 ms)."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def _load_quickly():
    from nbnumba._jit import load_cached_code_quickly  # noqa: PLC0415 -- start-up: imports numba

    load_cached_code_quickly()
