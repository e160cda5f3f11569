# SPDX-License-Identifier: BSD-3-Clause
"""Errors that the command line reports as one line, without a traceback, and the exit statuses."""
import enum


class InputError(Exception):
    """Bad input: a flag, a value or a file. The message names it and says what was expected."""


class ExitStatus(enum.IntEnum):
    """Exit statuses of ``nbnumba`` and ``nbnumba-batch`` (a batch also exits with its failed-job count)."""
    OK = 0
    #: the GPU failed under a run (a CUDA driver or launch error)
    CUDA_ERROR = 1
    #: bad input: a flag, a value or a file (reported as one line)
    INPUT_ERROR = 2
    #: interrupted (Ctrl-C), as a shell reports 128 + SIGINT
    INTERRUPTED = 130
