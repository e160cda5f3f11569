# SPDX-License-Identifier: BSD-3-Clause
"""Memory and input limits: estimate what a run will allocate and refuse, with one line, before allocating it.

The memory limit is the memory available now (/proc/meminfo MemAvailable, else the free physical pages),
or ``FALLBACK_LIMIT_BYTES`` when neither can be read; ``NBNUMBA_MEMORY_LIMIT`` (bytes) overrides it.

Input files are read with bounds, so that one that never ends (/dev/zero, /dev/urandom, a FIFO fed
forever) is refused with one line instead of filling the memory: at most :func:`input_limit` bytes
(``DEFAULT_INPUT_LIMIT_BYTES``, or ``NBNUMBA_INPUT_LIMIT``) from a text or binary input whose size is
not fixed by its header, a text line at most ``MAX_LINE_BYTES``, no NUL byte in a text file, and
the memory its parsing needs checked against the memory limit before parsing."""
from __future__ import annotations

import os

from nbnumba.errors import InputError

#: environment variable that overrides the limit, in bytes
LIMIT_ENV = "NBNUMBA_MEMORY_LIMIT"
#: the limit when the available memory cannot be read
FALLBACK_LIMIT_BYTES = 4 * 1024**3

#: environment variable that overrides the input size limit, in bytes
INPUT_LIMIT_ENV = "NBNUMBA_INPUT_LIMIT"
#: the most bytes read from an input file (-hkl, -sourcefile, -stol, a batch job file, ...) by default
DEFAULT_INPUT_LIMIT_BYTES = 1024**3
#: the longest line of a text input file (its bytes, newline excluded)
MAX_LINE_BYTES = 1024**2

#: bytes per detector pixel while a run is alive: the float32 image (4), the kernel's side arrays
#: (interpolation-event int64 8, carry-over flag uint8 1, rendered/ROI booleans 2, order of the
#: rendered pixels int64 8), the -mask pixels (uint16 2), the SMV output (uint16 2), the noise image
#: (uint16 2), its unclamped --hdf5-noise counts (int32 4) and the PGM (uint8 1), plus the float64
#: temporaries of the SMV and PGM conversions (at most two alive at once, 16; an upper bound)
BYTES_PER_PIXEL = 4 + (8 + 1 + 2 + 8) + 2 + 2 + 2 + 4 + 1 + 16
#: bytes per source: the (n, 4) float64 array, plus the Python row and point tuples it is built from
BYTES_PER_SOURCE = 4 * 8 + 200
#: bytes per mosaic domain: its 3x3 float64 rotation
BYTES_PER_DOMAIN = 9 * 8
#: bytes per (phi step, mosaic domain): the two 3x3 float64 cell tables (first and carry-over)
BYTES_PER_ORIENTATION = 2 * 9 * 8
#: bytes per phi step: its angle and the Python tuples of the rotated cell built before the tables
BYTES_PER_PHI_STEP = 400
#: bytes per cell of the dense structure-factor table (float64)
BYTES_PER_HKL_CELL = 8
#: the most samples (layers x sub-pixels x sources x phi steps x mosaic domains) one --trace-pixel
#: pixel may have: each is a row of 53 float64 while traced and about 2 kB of JSON
MAX_TRACE_SAMPLES = 1_000_000


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _free_pages() -> int | None:
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def memory_limit() -> int:
    """The most bytes a run may allocate.

    Returns
    -------
    int
        ``NBNUMBA_MEMORY_LIMIT`` if set, else the memory available now, else
        ``FALLBACK_LIMIT_BYTES``.

    Raises
    ------
    InputError
        If ``NBNUMBA_MEMORY_LIMIT`` is set but is not a positive whole number of bytes.
    """
    value = _env_bytes(LIMIT_ENV)
    if value is not None:
        return value
    return _meminfo_available() or _free_pages() or FALLBACK_LIMIT_BYTES


def input_limit() -> int:
    """The most bytes an input file may have: ``NBNUMBA_INPUT_LIMIT`` if set, else
    ``DEFAULT_INPUT_LIMIT_BYTES``.

    Raises
    ------
    InputError
        If ``NBNUMBA_INPUT_LIMIT`` is set but is not a positive whole number of bytes.
    """
    value = _env_bytes(INPUT_LIMIT_ENV)
    return DEFAULT_INPUT_LIMIT_BYTES if value is None else value


def _env_bytes(name: str) -> int | None:
    """A positive whole number of bytes (ASCII digits) from the environment variable, None if unset."""
    text = os.environ.get(name)
    if text is None:
        return None
    stripped = text.strip()
    value = int(stripped) if stripped.isascii() and stripped.isdigit() else 0
    if value <= 0:
        raise InputError(f"{name}: expected a positive number of bytes, got {text!r}")
    return value


def size_text(nbytes: int) -> str:
    """A byte count for messages: ``1 GiB``, ``1.5 MiB``, ``300 bytes``."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes} bytes"


_size = size_text


def check_bytes(nbytes: int, what: str) -> None:
    """Refuse, before allocating, something that needs more than :func:`memory_limit` bytes.

    Parameters
    ----------
    nbytes : int
        The estimate.
    what : str
        What needs it, for the message, e.g. ``"a 100000 x 100000 pixel detector"``.

    Raises
    ------
    InputError
        If `nbytes` exceeds the limit.
    """
    limit = memory_limit()
    if nbytes > limit:
        raise InputError(f"{what} needs about {_size(nbytes)} of memory, more than the {_size(limit)} "
                         f"available (set {LIMIT_ENV}=BYTES to change the limit)")


def run_bytes(fpixels: int, spixels: int, sources: int, mosaic_domains: int, phisteps: int) -> int:
    """Estimated bytes a run allocates: the detector's images and side arrays and the source,
    mosaic and phi tables (the structure-factor table is checked where it is read).

    Parameters
    ----------
    fpixels, spixels : int
        Detector pixels along the fast and slow axes.
    sources : int
        Number of sources (an upper bound is fine).
    mosaic_domains, phisteps : int
        Mosaic domains and phi steps.

    Returns
    -------
    int
        The estimate in bytes.
    """
    pixels = max(fpixels, 0) * max(spixels, 0)
    orientations = max(phisteps, 0) * max(mosaic_domains, 0)
    return (pixels * BYTES_PER_PIXEL + max(sources, 0) * BYTES_PER_SOURCE
            + max(mosaic_domains, 0) * BYTES_PER_DOMAIN + orientations * BYTES_PER_ORIENTATION
            + max(phisteps, 0) * BYTES_PER_PHI_STEP)


def check_run(fpixels: int, spixels: int, sources: int, mosaic_domains: int, phisteps: int) -> None:
    """Refuse a run whose :func:`run_bytes` estimate exceeds the memory limit.

    Raises
    ------
    InputError
        Naming the detector size and the step counts.
    """
    nbytes = run_bytes(fpixels, spixels, sources, mosaic_domains, phisteps)
    check_bytes(nbytes, f"a {fpixels} x {spixels} pixel detector with {sources} sources, "
                        f"{mosaic_domains} mosaic domains and {phisteps} phi steps")


def check_hkl_table(path: str, h_range: int, k_range: int, l_range: int) -> None:
    """Refuse a dense structure-factor table (with its padding planes) larger than the limit.

    Raises
    ------
    InputError
        Naming the file and its index box.
    """
    cells = (h_range + 1) * (k_range + 1) * (l_range + 1)
    check_bytes(cells * BYTES_PER_HKL_CELL,
                f"-hkl {path}: the index box {h_range} x {k_range} x {l_range} (h x k x l)")


def check_trace_samples(samples: int) -> None:
    """Refuse --trace-pixel when one pixel has more than ``MAX_TRACE_SAMPLES`` samples.

    Raises
    ------
    InputError
        Naming the flag and the count.
    """
    if samples > MAX_TRACE_SAMPLES:
        raise InputError(f"--trace-pixel: a pixel of this run has {samples} samples (layers x sub-pixels x sources x "
                         f"phi steps x mosaic domains), more than the {MAX_TRACE_SAMPLES} a trace may hold; "
                         "trace a run with fewer")
