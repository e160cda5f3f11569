# SPDX-License-Identifier: BSD-3-Clause
"""Errors that the command line reports as one line, without a traceback."""


class InputError(Exception):
    """Bad input: a flag, a value or a file. The message names it and says what was expected."""
