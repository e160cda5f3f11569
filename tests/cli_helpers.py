# SPDX-License-Identifier: BSD-3-Clause
"""What the tests that run the ``nbnumba`` command in this process share: run it and take its output,
and check a refusal, or run it as a child process and act on its output lines (the ``folder``
fixture, a private current folder, is in ``conftest.py``)."""
import contextlib
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from nbnumba.cli.main import main_argv
from nbnumba.errors import ExitStatus


def run_cli(argv, capsys):
    """main_argv in the current folder: (status, stdout, stderr)."""
    status = main_argv(argv)
    out, err = capsys.readouterr()
    return status, out, err


def assert_refused(status, out, err, folder, inputs, *fragments):
    """Exit 2, one 'nbnumba: error:' line (other stderr lines are WARNINGs) holding every fragment, no
    traceback, and no file in `folder` but the inputs. Returns the error line."""
    assert status == ExitStatus.INPUT_ERROR, err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("nbnumba: error: ")]
    assert len(errors) == 1 and all(line.startswith("WARNING: ") for line in lines if line not in errors), err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert sorted(os.listdir(folder)) == sorted(inputs)
    return errors[0]


@contextlib.contextmanager
def command_process(argv, cwd, env):
    """The ``nbnumba`` command (``cli.main``) as a child process: ``(proc, lines)``, its stdout lines in
    a queue (None at the end of the output). Killed on leaving the block if it still runs."""
    proc = subprocess.Popen([sys.executable, "-c", "from nbnumba.cli.main import main; main()"] + list(argv),
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
                              daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)


def read_until(proc, lines, text, timeout):
    """The output lines up to and including the first that holds ``text``; fails the test if the run
    ends before it or ``timeout`` seconds pass."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
        if line is None:
            pytest.fail("the run ended before %r: %s" % (text, proc.stderr.read()))
        seen.append(line)
        if text in line:
            return seen
