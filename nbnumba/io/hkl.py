# SPDX-License-Identifier: BSD-3-Clause
"""Structure-factor tables: HKL text files (read line by line) and nanoBragg's binary Fdump cache."""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import warnings
from array import array
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_open
from nbnumba.io.textcols import (
    _DECIMAL,
    check_input_size,
    check_parse_memory,
    iter_chunks,
    open_input,
    parse_number,
    read_exactly,
    read_input,
)
from nbnumba.limits import check_bytes, check_hkl_table

_INDEX_MIN, _INDEX_MAX = -2**31, 2**31 - 1
#: an HKL line whose first four fields are plain decimal numbers (what parse_number accepts)
_RECORD = re.compile(r"\s*({0})\s+({0})\s+({0})\s+({0})(?:\s.*)?".format(_DECIMAL.pattern), re.S)


@dataclass
class HKLTable:
    """Structure factors on the integer box h_min..h_max, k_min..k_max, l_min..l_max.

    ``Fhkl[h - h_min, k - k_min, l - l_min]`` is F; the array has one extra zero plane on the
    high side of each axis, as nanoBragg.c allocates and dumps it.
    """

    Fhkl: np.ndarray
    h_min: int
    h_max: int
    k_min: int
    k_max: int
    l_min: int
    l_max: int
    hkls: int

    @property
    def h_range(self) -> int:
        """Number of h values in the box."""
        return self.h_max - self.h_min + 1

    @property
    def k_range(self) -> int:
        """Number of k values in the box."""
        return self.k_max - self.k_min + 1

    @property
    def l_range(self) -> int:
        """Number of l values in the box."""
        return self.l_max - self.l_min + 1


def _allocate(name: str, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        return np.zeros(shape, dtype=np.float64)
    except (MemoryError, ValueError) as exc:
        raise InputError(f"{name}: index box {shape[0] - 1} x {shape[1] - 1} x {shape[2] - 1} "
                         f"is too large to hold in memory") from exc


def read_hkl(path, default_F: float = 0.0) -> HKLTable:
    """Read an HKL text file of ``h k l F`` lines into a padded table.

    Blank lines and lines starting with ``#`` are skipped; columns after F are ignored; indices
    may be written ``1`` or ``1.0`` but must be integers. Cells of the box that no line sets hold
    `default_F` (the spare padding planes stay 0); a later line for the same h,k,l wins.

    Parameters
    ----------
    path : str or os.PathLike
        The HKL file.
    default_F : float, optional
        Value of the cells no line sets.

    Returns
    -------
    HKLTable
        The table; ``hkls`` is the number of lines read.

    Raises
    ------
    InputError
        If the file cannot be read, a line does not start with four finite numbers, an index is
        not an integer, or there is no reflection.
    """
    name = os.fspath(path)
    key = _table_key(name, default_F)
    if key is not None and key in _TABLES:
        _TABLES.move_to_end(key)
        return _TABLES[key]
    values = _read_values(name)
    hkl = values[:, :3]
    amplitudes = values[:, 3]
    indices = hkl.astype(np.int64)
    low = indices.min(axis=0)
    high = indices.max(axis=0)
    ranges = high - low + 1
    # refuse a box too large for memory before allocating it (one line h=100000 is a 1e5-wide box)
    check_hkl_table(name, int(ranges[0]), int(ranges[1]), int(ranges[2]))
    table = _allocate(name, tuple(int(r) + 1 for r in ranges))
    if default_F != 0.0:
        table[:ranges[0], :ranges[1], :ranges[2]] = default_F
    offsets = indices - low
    table[offsets[:, 0], offsets[:, 1], offsets[:, 2]] = amplitudes
    result = HKLTable(table, int(low[0]), int(high[0]), int(low[1]), int(high[1]),
                      int(low[2]), int(high[2]), len(hkl))
    if key is not None:
        _TABLES[key] = result
        while len(_TABLES) > _TABLES_KEPT:
            _TABLES.popitem(last=False)
    return result


#: tables parsed while ``cached_tables`` is active, keyed by ``_table_key`` (None: no caching)
_TABLES = None
_TABLES_KEPT = 4


@contextlib.contextmanager
def cached_tables(kept: int = 4):
    """Within this block ``read_hkl`` returns the table it parsed before for the same file (same real
    path, size and modification time) and ``default_F``, keeping the ``kept`` most recent tables: a
    batch of jobs reading one HKL file parses it once. Callers must not modify the tables."""
    global _TABLES, _TABLES_KEPT
    saved = _TABLES, _TABLES_KEPT
    _TABLES, _TABLES_KEPT = OrderedDict(), kept
    try:
        yield
    finally:
        _TABLES, _TABLES_KEPT = saved


def cached_table_keys() -> list:
    """The keys (real path, size, modification time, default_F) of the tables ``cached_tables`` holds
    now, oldest first (the warm worker, ``nbnumba.cli.server``, parses its jobs' files once more itself)."""
    return list(_TABLES or ())


def _table_key(name: str, default_F: float):
    if _TABLES is None:
        return None
    try:
        info = os.stat(name)
    except OSError:
        return None  # the reader reports it
    if not stat.S_ISREG(info.st_mode):
        return None  # a FIFO or device gives other bytes each time
    return os.path.realpath(name), info.st_size, info.st_mtime_ns, float(default_F)


#: memory per byte of HKL text while numpy's reader parses it: its (n, 4) float64 result (32 bytes per
#: line of at least 8 bytes) while it grows, and a copy of the text for a device or FIFO
HKL_FAST_FACTOR = 6.0
#: memory per byte of HKL text while the line-by-line reader parses it: the text, the str of each line
#: and the values
HKL_LINES_FACTOR = 12.0
#: a '#' right after a character that is not white space (``1 2 3 4#x``): numpy's reader would drop
#: the rest of the line, the line-by-line reader refuses it
_GLUED_HASH = re.compile(rb"[^ \t\r\n\v\f]#")
_SPACE = b" \t\r\n\v\f"


def _read_values(name: str):
    """The (n, 4) h k l F values of an HKL file: by numpy's C reader when every line is blank, a
    ``#`` comment or four plain decimal numbers, else line by line (with errors naming the line).
    The file is read with the input limits (size, line length, no NUL byte, memory to parse it)."""
    handle, regular, size = open_input(name, "-hkl")
    glued = False
    data = None
    with handle:
        if regular:
            check_input_size("-hkl", name, size, HKL_FAST_FACTOR)
        chunks = []
        previous = b"\n"
        for chunk in iter_chunks(handle, "-hkl", name, text=True):
            if not glued and b"#" in chunk:
                glued = (_GLUED_HASH.search(chunk) is not None
                         or (chunk[:1] == b"#" and previous not in _SPACE))
            previous = chunk[-1:]
            if not regular:
                chunks.append(chunk)
        if not regular:
            data = b"".join(chunks)
            del chunks
            check_parse_memory("-hkl", name, len(data), HKL_FAST_FACTOR)
    values = None if glued else _read_plain_hkl(name if data is None else data)
    if values is None:
        if data is None:
            data = read_input(name, "-hkl", text=True)
        check_parse_memory("-hkl", name, len(data), HKL_LINES_FACTOR)
        values = _read_hkl_lines(name, data)
    return values


def _read_plain_hkl(source):
    """The (n, 4) h k l F values of a plain HKL file (a file name, or its bytes), parsed by numpy's C
    reader: every line blank, a ``#`` comment line, or at least four decimal numbers (then anything
    after white space), integer indices within 32 bits, finite values. None for anything else: the
    line-by-line reader then reads it (and words the error)."""
    if not isinstance(source, str):
        source = io.TextIOWrapper(io.BytesIO(source), encoding="latin-1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.loadtxt(source, dtype=np.float64, comments="#", usecols=(0, 1, 2, 3), ndmin=2)
    except Exception:  # noqa: BLE001 - any failure means: not a plain file, read it line by line
        return None
    indices = values[:, :3]
    if (values.shape[0] == 0 or not np.isfinite(values).all() or (indices != np.floor(indices)).any()
            or (indices < _INDEX_MIN).any() or (indices > _INDEX_MAX).any()):
        return None
    return values


def _read_hkl_lines(name: str, data: bytes = None):
    """The (n, 4) h k l F values of an HKL file (its bytes, or read now) line by line, with errors
    naming the line."""
    if data is None:
        data = read_input(name, "-hkl", text=True, parse_factor=HKL_LINES_FACTOR)
    lines = data.decode("utf-8", errors="replace").splitlines()
    flat = array("d")  # h k l F of each reflection line
    numbers = array("q")  # their line numbers
    for number, line in enumerate(lines, start=1):
        match = _RECORD.fullmatch(line)  # the common case: four plain decimal numbers, then anything
        if match is not None:
            flat.extend(map(float, match.groups()))
            numbers.append(number)
            continue
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        values = [parse_number(token) for token in fields[:4]]
        if len(fields) < 4 or None in values:
            raise InputError(f"{name} line {number}: expected 4 numbers (h k l F), got {line.strip()!r}")
        flat.extend(map(float, fields[:4]))  # (whitespace _RECORD does not know)
        numbers.append(number)
    if not numbers:
        raise InputError(f"{name}: no reflections (expected lines of h k l F)")
    values = np.frombuffer(flat, dtype=np.float64).reshape(-1, 4).copy()
    del flat
    finite = np.isfinite(values).all(axis=1)  # a decimal like 1e999 overflows
    if not finite.all():
        row = int(np.argmin(finite))
        raise InputError(f"{name} line {numbers[row]}: expected 4 numbers (h k l F), "
                         f"got {lines[numbers[row] - 1].strip()!r}")
    for axis in range(3):
        column = values[:, axis]
        bad = (column != np.floor(column)) | (column < _INDEX_MIN) | (column > _INDEX_MAX)
        if bad.any():
            row = int(np.argmax(bad))
            value = column[row]
            if value != math.floor(value):
                raise InputError(f"{name} line {numbers[row]}: expected an integer index {'hkl'[axis]}, "
                                 f"got {value:g}")
            raise InputError(f"{name} line {numbers[row]}: index {'hkl'[axis]} = {value:g} is out of range for "
                             f"a 32-bit integer (nanoBragg.c reads indices with %d)")
    return values


def write_fdump(path, table: HKLTable) -> bool:
    """Write the Fdump cache of `table` (header line, form feed, padded native float64 array).

    Parameters
    ----------
    path : str or os.PathLike
        The dump file (nanoBragg's default is ``Fdump.bin``).
    table : HKLTable
        The table to save.

    Returns
    -------
    bool
        True if the file was written, False if it could not be (nanoBragg only warns then).
    """
    expected = (table.h_range + 1, table.k_range + 1, table.l_range + 1)
    if tuple(table.Fhkl.shape) != expected:
        raise ValueError(f"Fhkl has shape {table.Fhkl.shape}, expected {expected}")
    head = "%d %d %d %d %d %d\n\f" % (table.h_min, table.h_max, table.k_min, table.k_max,
                                      table.l_min, table.l_max)
    data = np.ascontiguousarray(table.Fhkl, dtype=np.float64)
    try:
        with atomic_open(path) as handle:
            handle.write(head.encode("ascii"))
            handle.write(memoryview(data).cast("B"))
    except (InputError, OSError):
        return False
    return True


def _read_into(handle, view, what: str, name: str) -> int:
    """Fill ``view`` from ``handle`` as far as the file goes; the number of bytes read."""
    filled = 0
    while filled < len(view):
        try:
            count = handle.readinto(view[filled:])
        except OSError as exc:
            raise InputError(f"{what} file {name} cannot be read: {exc.strerror or exc}") from exc
        if not count:
            break
        filled += count
    return filled


def read_fdump(path) -> HKLTable:
    """Read an Fdump cache written by nanoBragg.c or by :func:`write_fdump`.

    Parameters
    ----------
    path : str or os.PathLike
        The dump file.

    Returns
    -------
    HKLTable
        The table; ``hkls`` is h_range*k_range*l_range, as nanoBragg.c sets it.

    Raises
    ------
    InputError
        If the file cannot be read, its header is not six integers followed by a newline and a
        form feed, or its size does not match the box the header describes.
    """
    name = os.fspath(path)
    what = "structure-factor cache"
    expect = "expected 'h_min h_max k_min k_max l_min l_max' then a newline and a form feed"
    handle, regular, size = open_input(name, what)
    with handle:
        head = read_exactly(handle, 257, what, name)
        end = head.find(b"\n", 0, 256)
        if end < 0 or head[end + 1:end + 2] != b"\f":
            raise InputError(f"{name}: not an Fdump file ({expect})")
        try:
            bounds = [int(token) for token in head[:end].decode("ascii").split()]
        except (UnicodeDecodeError, ValueError):
            bounds = []
        if len(bounds) != 6:
            raise InputError(f"{name}: not an Fdump file ({expect})")
        h_min, h_max, k_min, k_max, l_min, l_max = bounds
        shape = (h_max - h_min + 2, k_max - k_min + 2, l_max - l_min + 2)
        if min(shape) < 2:
            raise InputError(f"{name}: Fdump header gives an empty index range ({expect} with min <= max)")
        need = 8 * shape[0] * shape[1] * shape[2]
        found = None if size is None else size - (end + 2)
        if found is not None and found != need:
            raise InputError(f"{name}: Fdump file is truncated or garbled: expected {need} bytes of "
                             f"float64 data after the header, found {found}")
        check_bytes(need, f"the Fdump file {name} with the index box {shape[0] - 1} x {shape[1] - 1} x "
                          f"{shape[2] - 1} (h x k x l)")
        # one buffer for the table (numpy uses it in place), one byte more to see a longer file
        buffer = bytearray(need + 1)
        start = head[end + 2:end + 2 + need + 1]
        buffer[:len(start)] = start
        found = len(start) + _read_into(handle, memoryview(buffer)[len(start):], what, name)
    if found != need:
        shown = f"more than {need}" if found > need else str(found)
        raise InputError(f"{name}: Fdump file is truncated or garbled: expected {need} bytes of "
                         f"float64 data after the header, found {shown}")
    table = np.frombuffer(buffer, dtype=np.float64, count=need // 8).reshape(shape)
    return HKLTable(table, h_min, h_max, k_min, k_max, l_min, l_max,
                    (shape[0] - 1) * (shape[1] - 1) * (shape[2] - 1))

