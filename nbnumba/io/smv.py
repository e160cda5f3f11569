# SPDX-License-Identifier: BSD-3-Clause
"""SMV (ADSC) images: the 512-byte header nanoBragg writes, and reading -img / -mask files."""
from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from nbnumba.errors import InputError
from nbnumba.io.atomic import atomic_open
from nbnumba.io.textcols import open_input, read_exactly
from nbnumba.limits import check_bytes

HEADER_BYTES = 512
SMV_MAGIC = b"{\nHEADER_BYT"
HOST_BYTE_ORDER = "little_endian" if sys.byteorder == "little" else "big_endian"

_C_SPACE = " \t\n\v\f\r"
_ATOF = re.compile(
    r"[+-]?(?:"
    r"(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)"
    r"|(?P<special>inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    r")",
    re.IGNORECASE | re.ASCII,  # C reads ASCII digits only
)
_HEADER_KEYS = (
    "fpixels", "spixels", "pixel_mm", "distance_mm", "wavelength_A", "beam_center_x_mm",
    "beam_center_y_mm", "adxv_x_mm", "adxv_y_mm", "mosflm_x_mm", "mosflm_y_mm", "denzo_x_mm",
    "denzo_y_mm", "dials_origin", "orgx", "orgy", "close_distance_mm", "phi_deg", "osc_start_deg",
    "osc_range_deg", "twotheta_deg",
)


def c_atof(text: str) -> float:
    """Convert the start of `text` to a number the way C's ``atof`` does.

    Parameters
    ----------
    text : str
        The text; leading white space is skipped.

    Returns
    -------
    float
        The value of the longest numeric prefix (decimal, hexadecimal, ``inf``/``infinity``
        or ``nan``), or 0.0 if there is none.
    """
    stripped = text.lstrip(_C_SPACE)
    match = _ATOF.match(stripped)
    if match is None:
        return 0.0
    token = match.group(0)
    if match.group("hex"):
        return float.fromhex(token)
    if match.group("special"):
        return float(token.split("(")[0])
    return float(token)


def value_of(header: str, keyword: str) -> float:
    """Number after the last occurrence of `keyword` in an SMV header, exactly as nanoBragg.c's ValueOf.

    The search for `keyword` is a plain substring search that resumes after each match, so a key
    that is the tail of a later key matches that later one (``DISTANCE`` finds
    ``CLOSE_DISTANCE`` in nanoBragg's own headers, ``ORGX`` finds ``XDS_ORGX``). The number is
    parsed like C's atof after the first ``=`` that follows the match. The header ends at its
    first NUL character, as a C string does.

    Parameters
    ----------
    header : str
        The header text (bytes decoded as latin-1).
    keyword : str
        The key to look for, without ``=``.

    Returns
    -------
    float
        NaN if `keyword` does not occur, 0.0 if no ``=`` follows it or no number follows the
        ``=``, else the parsed number.
    """
    if not keyword:
        raise ValueError("keyword must not be empty")
    text = header.split("\0", 1)[0]
    position = -1
    start = 0
    while True:
        found = text.find(keyword, start)
        if found < 0:
            break
        position = start = found + len(keyword)
    if position < 0:
        return math.nan
    equals = text.find("=", position)
    if equals < 0:
        return 0.0
    return c_atof(text[equals + 1:])


def smv_header_text(values: dict) -> str:
    """The 512-character SMV header nanoBragg.c writes before its -intfile and -noisefile images.

    Parameters
    ----------
    values : dict
        Already-converted numbers: ``fpixels``, ``spixels`` (ints), ``pixel_mm``,
        ``distance_mm``, ``wavelength_A``, ``beam_center_x_mm``, ``beam_center_y_mm``,
        ``adxv_x_mm``, ``adxv_y_mm``, ``mosflm_x_mm``, ``mosflm_y_mm``, ``denzo_x_mm``,
        ``denzo_y_mm``, ``dials_origin`` (3 numbers), ``orgx``, ``orgy`` (pixels),
        ``close_distance_mm``, ``phi_deg``, ``osc_start_deg``, ``osc_range_deg``,
        ``twotheta_deg``. Each is printed with C's ``%g``.

    Returns
    -------
    str
        The header, padded with spaces to exactly 512 characters.

    Raises
    ------
    InputError
        If the text would not fit in 512 bytes.
    """
    missing = [key for key in _HEADER_KEYS if key not in values]
    if missing:
        raise KeyError(f"smv_header_text: missing {', '.join(missing)}")
    v = values
    origin = tuple(v["dials_origin"])
    text = (
        "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=%s;\nTYPE=unsigned_short;\n" % HOST_BYTE_ORDER
        + "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%g;\nDISTANCE=%g;\n"
        % (int(v["fpixels"]), int(v["spixels"]), v["pixel_mm"], v["distance_mm"])
        + "WAVELENGTH=%g;\n" % v["wavelength_A"]
        + "BEAM_CENTER_X=%g;\nBEAM_CENTER_Y=%g;\n" % (v["beam_center_x_mm"], v["beam_center_y_mm"])
        + "ADXV_CENTER_X=%g;\nADXV_CENTER_Y=%g;\n" % (v["adxv_x_mm"], v["adxv_y_mm"])
        + "MOSFLM_CENTER_X=%g;\nMOSFLM_CENTER_Y=%g;\n" % (v["mosflm_x_mm"], v["mosflm_y_mm"])
        + "DENZO_X_BEAM=%g;\nDENZO_Y_BEAM=%g;\n" % (v["denzo_x_mm"], v["denzo_y_mm"])
        + "DIALS_ORIGIN=%g,%g,%g\n" % origin
        + "XDS_ORGX=%g;\nXDS_ORGY=%g;\n" % (v["orgx"], v["orgy"])
        + "CLOSE_DISTANCE=%g;\n" % v["close_distance_mm"]
        + "PHI=%g;\nOSC_START=%g;\nOSC_RANGE=%g;\n" % (v["phi_deg"], v["osc_start_deg"], v["osc_range_deg"])
        + "TWOTHETA=%g;\n" % v["twotheta_deg"]
        + "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\f"
    )
    if len(text) > HEADER_BYTES:
        raise InputError(f"SMV header would take {len(text)} bytes, more than the {HEADER_BYTES} "
                         f"bytes its HEADER_BYTES=512 announces")
    return text.ljust(HEADER_BYTES)


def write_smv(path, header_text: str, image_uint16) -> None:
    """Write an SMV file: the header padded with spaces to 512 bytes, then native uint16 pixels.

    Parameters
    ----------
    path : str or os.PathLike
        The output file; written atomically.
    header_text : str
        The header (from :func:`smv_header_text`).
    image_uint16 : numpy.ndarray
        Unsigned 16-bit image, shape (spixels, fpixels).

    Raises
    ------
    InputError
        If the header exceeds 512 bytes or the file cannot be written.
    """
    head = header_text.encode("latin-1")
    if len(head) > HEADER_BYTES:
        raise InputError(f"cannot write {os.fspath(path)}: SMV header of {len(head)} bytes exceeds "
                         f"{HEADER_BYTES}")
    image = np.asarray(image_uint16)
    if image.dtype.kind != "u" or image.dtype.itemsize != 2:
        raise TypeError(f"write_smv needs a uint16 image, got {image.dtype}")
    data = np.ascontiguousarray(image, dtype=np.dtype("=u2"))
    with atomic_open(path) as handle:  # InputError if it cannot be written
        handle.write(head.ljust(HEADER_BYTES, b" "))
        handle.write(memoryview(data).cast("B"))


@dataclass
class SMVImage:
    """An SMV file read by :func:`read_smv`; ``data`` is in the host's byte order."""

    path: str
    header: str
    header_size: int
    width: int
    height: int
    byte_order: str
    data: np.ndarray


def _file_byte_order(header: str, flag: str, name: str) -> str:
    text = header.split("\0", 1)[0]
    key = "BYTE_ORDER="
    found = text.rfind(key)
    if found < 0:
        return HOST_BYTE_ORDER
    value = text[found + len(key):]
    if value.startswith("little_end"):
        return "little_endian"
    if value.startswith("big_endian"):
        return "big_endian"
    shown = value.split(";", 1)[0].split("\n", 1)[0]
    raise InputError(f"{flag} file {name}: expected BYTE_ORDER=little_endian or big_endian, got {shown!r}")


def _as_int(value: float) -> int:
    """C's (int) cast of a finite double; non-finite values give 0."""
    return int(value) if math.isfinite(value) else 0


def read_smv(path, what: str) -> SMVImage:
    """Read an SMV image the way nanoBragg.c's GetFrame does, but without its misreads.

    The file must start with ``{\\nHEADER_BYT``. ``HEADER_BYTES`` gives the header size, ``SIZE1``
    the width and ``SIZE2`` the height (if SIZE1 is absent or 0, ``DETECTOR_DIMENSIONS`` gives
    both). Pixels are uint16 after the header and are byte-swapped when the header's
    ``BYTE_ORDER`` differs from the host's (nanoBragg.c never swaps); a header without
    ``BYTE_ORDER`` is taken as the host's order. Bytes after the image are ignored.

    Parameters
    ----------
    path : str or os.PathLike
        The SMV file.
    what : str
        The flag that named the file, for messages (``"-img"``, ``"-mask"``).

    Returns
    -------
    SMVImage
        Header text, header size, width, height, byte order of the file, and pixels as a
        native uint16 array of shape (height, width).

    Raises
    ------
    InputError
        If the file cannot be read, is not SMV, has a bad size or byte order, or is truncated.
    """
    name = os.fspath(path)
    handle, _, size = open_input(name, what)
    with handle:
        first = read_exactly(handle, HEADER_BYTES, what, name)
        if first[:len(SMV_MAGIC)] != SMV_MAGIC:
            raise InputError(f"{what} file {name} is not an SMV image (expected a '{{ HEADER_BYTES=' header)")
        header_size = _as_int(value_of(first.decode("latin-1"), "HEADER_BYTES"))
        if header_size <= 0:
            raise InputError(f"{what} file {name}: expected a positive HEADER_BYTES in the header")
        if header_size > len(first) and (size is None or header_size <= size):
            check_bytes(header_size, f"{what} file {name}: its HEADER_BYTES={header_size}")
            first += read_exactly(handle, header_size - len(first), what, name)
        if header_size > len(first):
            raise InputError(f"{what} file {name} is truncated: HEADER_BYTES={header_size} but the file "
                             f"has {len(first) if size is None else size} bytes")
        header = first[:header_size].decode("latin-1")
        width = _as_int(value_of(header, "SIZE1"))
        height = _as_int(value_of(header, "SIZE2"))
        if width == 0:
            width = height = _as_int(value_of(header, "DETECTOR_DIMENSIONS"))
        if width <= 0 or height <= 0:
            raise InputError(f"{what} file {name}: expected positive SIZE1 and SIZE2 (or DETECTOR_DIMENSIONS) "
                             f"in the header, got {width} x {height}")
        byte_order = _file_byte_order(header, what, name)
        need = 2 * width * height
        pixels = first[header_size:header_size + need]
        if size is None or size >= header_size + need:
            # the file's pixels, then a native copy (bytes after the image are never read)
            check_bytes(2 * need, f"{what} file {name}: its {width} x {height} pixel image")
            pixels += read_exactly(handle, need - len(pixels), what, name)
        found = len(pixels) if size is None else min(size - header_size, need)
    if found < need:
        raise InputError(f"{what} file {name} is truncated: expected {need} bytes of {width} x {height} "
                         f"uint16 pixels after the {header_size}-byte header, found {found}")
    file_dtype = np.dtype("<u2" if byte_order == "little_endian" else ">u2")
    data = np.frombuffer(pixels, dtype=file_dtype).astype(np.dtype("=u2")).reshape(height, width)
    return SMVImage(name, header, header_size, width, height, byte_order, data)
