# SPDX-License-Identifier: BSD-3-Clause
"""Multi-column text tables (-sourcefile, -stol), nanoBragg.c's read_text_file read correctly."""
from __future__ import annotations

import math
import os
import re
from typing import Optional

import numpy as np

from nbnumba.errors import InputError

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAN = re.compile(r"[+-]?nan", re.IGNORECASE)
_DELIMITERS = re.compile(r"[ \t,;:!\r\n\v\f]+")


def parse_number(token: str, allow_nan: bool = False) -> Optional[float]:
    """Parse one whitespace-free token as a plain decimal number.

    Parameters
    ----------
    token : str
        The field, e.g. ``"-1.5e3"``.
    allow_nan : bool, optional
        Accept ``nan`` (any case, optional sign) and return NaN for it.

    Returns
    -------
    float or None
        The finite value, NaN for an accepted ``nan``, or None if the token is not a number
        (hexadecimal, ``inf``, ``1_0`` and trailing garbage are refused).
    """
    if _DECIMAL.fullmatch(token):
        value = float(token)
        return value if math.isfinite(value) else None
    if allow_nan and _NAN.fullmatch(token):
        return math.nan
    return None


def read_input(path, what: str) -> bytes:
    """The bytes of an input file; InputError naming ``what`` (e.g. ``-hkl``) and the file otherwise."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc


def read_lines(path, what: str) -> list[str]:
    """Read a text file as a list of lines (UTF-8, undecodable bytes replaced).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        The flag that named it, for messages.

    Returns
    -------
    list of str
        The lines, without line endings.

    Raises
    ------
    InputError
        If the file cannot be opened or read.
    """
    return read_input(path, what).decode("utf-8", errors="replace").splitlines()


def read_text_columns(path, ncols: int, what: str) -> np.ndarray:
    """Read a table of numbers, up to `ncols` per line, the way -sourcefile and -stol files are read.

    Fields are separated by any run of spaces, tabs or the characters ``,;:!``. Blank lines and
    lines whose first non-blank character is ``#`` are skipped. Fields beyond `ncols` are ignored;
    missing trailing fields are NaN (the caller substitutes its defaults), and a field written
    ``nan`` is NaN too.

    Parameters
    ----------
    path : str or os.PathLike
        The text file.
    ncols : int
        Number of columns to return (5 for -sourcefile, 2 for -stol).
    what : str
        The flag that named the file, used in error messages (e.g. ``"-sourcefile"``).

    Returns
    -------
    numpy.ndarray
        float64 array of shape (rows, ncols).

    Raises
    ------
    InputError
        If the file cannot be read, a field is not a number, or there is no data row.
    """
    if ncols < 1:
        raise ValueError("ncols must be at least 1")
    name = os.fspath(path)
    rows = []
    for number, line in enumerate(read_lines(path, what), start=1):
        text = _DELIMITERS.sub(" ", line).strip()
        if not text or text.startswith("#"):
            continue
        row = [math.nan] * ncols
        for column, token in enumerate(text.split(" ")[:ncols]):
            value = parse_number(token, allow_nan=True)
            if value is None:
                raise InputError(
                    f"{what} file {name} line {number}: expected up to {ncols} numbers, got {token!r}")
            row[column] = value
        rows.append(row)
    if not rows:
        raise InputError(f"{what} file {name} has no data")
    return np.array(rows, dtype=np.float64).reshape(len(rows), ncols)
