# SPDX-License-Identifier: BSD-3-Clause
"""One source of JIT options for every compiled function (cache switch, fastmath)."""
import os

#: On-disk compilation cache; off with NBNUMBA_NO_CACHE=1. Location: numba's NUMBA_CACHE_DIR
#: (default: __pycache__ beside the package, or ~/.cache/numba... when that is not writable).
CACHE = os.environ.get("NBNUMBA_NO_CACHE", "0") in ("", "0")
#: fastmath would reorder the C program's arithmetic; parity needs it off.
FASTMATH = False

#: IEEE division as in C: x/0 gives inf or NaN instead of raising ZeroDivisionError (numba's default
#: "python" error model), e.g. for a sensor so thick that its capture fraction under/overflows.
ERROR_MODEL = "numpy"

JIT_OPTIONS = dict(cache=CACHE, fastmath=FASTMATH, nogil=True, error_model=ERROR_MODEL)
