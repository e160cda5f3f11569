# SPDX-License-Identifier: BSD-3-Clause
"""MOSFLM orientation matrices (-mat): the reciprocal cell vectors a*, b*, c*."""
from __future__ import annotations

import math
import os

from nbnumba.errors import InputError
from nbnumba.io.textcols import iter_chunks, open_input, parse_number

Vec3 = tuple[float, float, float]


#: the most bytes read from a -mat file while looking for its three matrix lines (a MOSFLM matrix file
#: is a few hundred bytes; later lines are never read)
MATRIX_HEAD_BYTES = 1024**2


def _head_lines(name: str):
    """The lines of the first ``MATRIX_HEAD_BYTES`` of a -mat file (UTF-8, undecodable bytes replaced),
    read as needed: a file that never ends (/dev/zero, a FIFO) is refused within that many bytes."""
    handle, _, _ = open_input(name, "-mat")
    with handle:
        pending = b""
        for chunk in iter_chunks(handle, "-mat", name, text=True, limit=MATRIX_HEAD_BYTES,
                                 limit_reason="no 3 lines of 3 numbers (the MOSFLM A matrix) in its first "
                                              "1 MiB"):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield from line.decode("utf-8", errors="replace").splitlines() or [""]
        if pending:
            yield from pending.decode("utf-8", errors="replace").splitlines() or [""]


def read_mosflm_matrix(path, lambda0: float) -> tuple[Vec3, Vec3, Vec3]:
    """Read a*, b*, c* from the first three lines of a MOSFLM matrix file.

    Line i holds the i-th (x, y, z) component of a*, b* and c*, so the file's columns are the
    vectors. The MOSFLM A matrix is scaled by the wavelength; each vector is multiplied by
    ``1e-10/lambda0`` to give 1/Angstrom. Later lines (U matrix, cell, ...) are ignored.

    Parameters
    ----------
    path : str or os.PathLike
        The matrix file.
    lambda0 : float
        The wavelength in metres.

    Returns
    -------
    tuple of three 3-tuples of float
        a*, b*, c* in 1/Angstrom.

    Raises
    ------
    InputError
        If the file cannot be read, or its first three non-blank lines do not each hold three
        finite numbers, or `lambda0` is not positive.
    """
    name = os.fspath(path)
    if not (math.isfinite(lambda0) and lambda0 > 0.0):
        raise InputError(f"-mat {name}: the wavelength must be > 0 to scale the matrix, got {lambda0:g} m")
    rows = []
    for number, line in enumerate(_head_lines(name), start=1):
        fields = line.split()
        if not fields:
            continue
        values = [parse_number(token) for token in fields]
        if len(values) != 3 or None in values:
            raise InputError(f"{name} line {number}: expected 3 numbers (a row of the MOSFLM A matrix), "
                             f"got {line.strip()!r}")
        rows.append(values)
        if len(rows) == 3:
            break
    if len(rows) < 3:
        raise InputError(f"{name}: expected 3 lines of 3 numbers (the MOSFLM A matrix), found {len(rows)}")
    scale = 1e-10 / lambda0
    a_star, b_star, c_star = (tuple(rows[i][column] * scale for i in range(3)) for column in range(3))
    return a_star, b_star, c_star
