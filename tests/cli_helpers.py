# SPDX-License-Identifier: BSD-3-Clause
"""What the tests that run the ``nbnumba`` command in this process share: run it and take its output,
and check a refusal (the ``folder`` fixture, a private current folder, is in ``conftest.py``)."""
import os

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
