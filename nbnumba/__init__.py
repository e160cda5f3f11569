# SPDX-License-Identifier: BSD-3-Clause
"""nbnumba: nanoBragg.c's diffraction images from Python and Numba.

``simulate(params)`` renders one image; ``params_from_argv([...])`` builds the parameters from
nanoBragg command-line flags. Importing the package is cheap: numba and the kernels load on first use.
"""
__version__ = "0.1.0"

__all__ = ["Params", "Result", "params_from_argv", "simulate", "__version__"]


def __getattr__(name):
    if name == "Params":
        from .params import Params
        return Params
    if name in ("simulate", "Result"):
        from . import simulation
        return getattr(simulation, name)
    if name == "params_from_argv":
        from .cli.parse import params_from_argv
        return params_from_argv
    raise AttributeError("module 'nbnumba' has no attribute %r" % name)
