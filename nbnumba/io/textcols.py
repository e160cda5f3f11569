# SPDX-License-Identifier: BSD-3-Clause
"""Multi-column text tables (-sourcefile, -stol), nanoBragg.c's read_text_file read correctly."""
from __future__ import annotations

import math
import os
import re
import stat
from typing import Optional

import numpy as np

from nbnumba import limits
from nbnumba.errors import InputError

#: a plain decimal number, ASCII digits only (Python's float() also takes Arabic-Indic and other digits)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NAN = re.compile(r"[+-]?nan", re.IGNORECASE | re.ASCII)
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
        (hexadecimal, ``inf``, ``1_0``, digits other than ASCII 0-9 and trailing garbage are refused).
    """
    if _DECIMAL.fullmatch(token):
        value = float(token)
        return value if math.isfinite(value) else None
    if allow_nan and _NAN.fullmatch(token):
        return math.nan
    return None


#: bytes read at a time from an input file
CHUNK_BYTES = 1 << 20


def open_input(path, what: str):
    """Open an input file for reading bytes; InputError naming ``what`` and the file otherwise.
    Returns ``(handle, regular, size)``: whether it is a regular file, and its size if so (else None)."""
    name = os.fspath(path)
    try:
        handle = open(name, "rb")
    except OSError as exc:
        raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(handle.fileno())
    except OSError as exc:
        handle.close()
        raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc
    regular = stat.S_ISREG(info.st_mode)
    return handle, regular, (info.st_size if regular else None)


def _too_large(what: str, name: str, limit: int) -> InputError:
    return InputError(f"{what} file {name} is larger than {limits.size_text(limit)}, the limit on an input "
                      f"file (set {limits.INPUT_LIMIT_ENV}=BYTES to change it)")


def check_input_size(what: str, name: str, size: int, parse_factor: float = 0.0) -> None:
    """Refuse a regular file larger than :func:`nbnumba.limits.input_limit`, or whose parsing
    (``parse_factor`` bytes of memory per byte) needs more memory than is available, before reading it."""
    limit = limits.input_limit()
    if size > limit:
        raise _too_large(what, name, limit)
    check_parse_memory(what, name, size, parse_factor)


def check_parse_memory(what: str, name: str, nbytes: int, factor: float) -> None:
    """Refuse, before parsing, a text file whose parsing needs more memory than is available."""
    if factor > 0:
        limits.check_bytes(int(nbytes * factor), f"parsing {what} file {name} ({limits.size_text(nbytes)})")


def iter_chunks(handle, what: str, name: str, *, text: bool, limit: Optional[int] = None,
                limit_reason: Optional[str] = None):
    """The file's bytes in chunks, refusing (InputError) more than ``limit`` bytes (default
    :func:`nbnumba.limits.input_limit`) and, for ``text``, a NUL byte or a line longer than
    ``limits.MAX_LINE_BYTES``: an input that never ends (/dev/zero, /dev/urandom, a FIFO) is refused
    after at most that much. ``limit_reason`` replaces the message for a file over ``limit``."""
    limit = limits.input_limit() if limit is None else limit
    max_line = limits.MAX_LINE_BYTES
    total = 0
    run = 0  # bytes since the last newline
    lines = 1  # the line the next byte is on
    while True:
        try:
            chunk = handle.read(CHUNK_BYTES)
        except OSError as exc:
            raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc
        if not chunk:
            return
        start = total
        total += len(chunk)
        if total > limit:
            if limit_reason is not None:
                raise InputError(f"{what} file {name}: {limit_reason}")
            raise _too_large(what, name, limit)
        if text:
            nul = chunk.find(b"\0")
            if nul >= 0:
                raise InputError(f"{what} file {name} is not a text file: it has a NUL byte (at byte {start + nul})")
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
            else:
                if run + first > max_line:
                    raise _long_line(what, name, lines)
                newlines = chunk.count(b"\n")
                lines += newlines
                # a line inside one chunk is shorter than a chunk, which is at most max_line
                run = len(chunk) - chunk.rfind(b"\n") - 1
            if run > max_line:
                raise _long_line(what, name, lines)
        yield chunk


def _long_line(what: str, name: str, line: int) -> InputError:
    return InputError(f"{what} file {name} line {line} is longer than {limits.size_text(limits.MAX_LINE_BYTES)}, "
                      f"the limit on a line (is it a text file?)")


def read_input(path, what: str, *, text: bool = False, limit: Optional[int] = None,
               parse_factor: float = 0.0) -> bytes:
    """The bytes of an input file, bounded: InputError naming ``what`` (e.g. ``-hkl``) and the file if it
    cannot be read, is larger than ``limit`` (default :func:`nbnumba.limits.input_limit`), or, for
    ``text``, has a NUL byte or a line longer than ``limits.MAX_LINE_BYTES``; and, when
    ``parse_factor`` is given, if parsing it (``parse_factor`` bytes of memory per byte of file) would
    need more memory than is available: checked before reading a regular file, after reading a
    device or FIFO."""
    name = os.fspath(path)
    limit = limits.input_limit() if limit is None else limit
    handle, regular, size = open_input(name, what)
    with handle:
        if regular:
            if size > limit:
                raise _too_large(what, name, limit)
            check_parse_memory(what, name, size, parse_factor)
        data = b"".join(iter_chunks(handle, what, name, text=text, limit=limit))
    if not regular:
        check_parse_memory(what, name, len(data), parse_factor)
    return data


def read_exactly(handle, count: int, what: str, name: str) -> bytes:
    """Up to ``count`` bytes from ``handle`` (fewer only at the end of the file)."""
    parts = []
    while count > 0:
        try:
            chunk = handle.read(min(count, CHUNK_BYTES * 64))
        except OSError as exc:
            raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc
        if not chunk:
            break
        parts.append(chunk)
        count -= len(chunk)
    return b"".join(parts)


#: memory per byte of a text file while its lines are parsed into Python lists (an upper bound)
TEXT_PARSE_FACTOR = 40.0


def read_lines(path, what: str, parse_factor: float = TEXT_PARSE_FACTOR) -> list[str]:
    """Read a text file as a list of lines (UTF-8, undecodable bytes replaced), bounded as
    :func:`read_input` with ``text=True``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        The flag that named it, for messages.
    parse_factor : float
        Memory per byte of file its caller's parsing needs (for the check before reading).

    Returns
    -------
    list of str
        The lines, without line endings.

    Raises
    ------
    InputError
        If the file cannot be opened or read, or exceeds a limit.
    """
    return read_input(path, what, text=True, parse_factor=parse_factor).decode("utf-8", errors="replace").splitlines()


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
