# SPDX-License-Identifier: BSD-3-Clause
"""nbnumba: nanoBragg.c's diffraction images from Python and Numba.

``simulate(params)`` renders one image; ``params_from_argv([...])`` builds the parameters from
nanoBragg command-line flags. Importing the package is cheap: numba and the kernels load on first use.
"""
from nbnumba._version import __version__

__all__ = ["Params", "Result", "params_from_argv", "simulate", "__version__"]


def __getattr__(name):
    # lazily: importing the package must not import numpy, numba or CUDA
    if name == "Params":
        from nbnumba.params import Params  # noqa: PLC0415 -- lazy (start-up): see above
        return Params
    if name in ("simulate", "Result"):
        from nbnumba import run  # noqa: PLC0415 -- lazy: imports numpy and numba
        return getattr(run, name)
    if name == "params_from_argv":
        from nbnumba.setup.inputs import params_from_argv  # noqa: PLC0415 -- lazy: imports numpy and numba
        return params_from_argv
    raise AttributeError("module 'nbnumba' has no attribute %r" % name)
