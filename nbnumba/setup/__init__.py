# SPDX-License-Identifier: BSD-3-Clause
"""Set-up: Params -> a frozen, fully resolved Setup (``prepare``), as nanoBragg.c sets up before its
pixel loop. ``geometry`` (detector, beam, steps, sources), ``crystal`` (cell, orientation, rotation
tables), ``inputs`` (the input files, and ``params_from_argv``), ``prepare`` (the order, the checks and
C's parameter summary)."""
from nbnumba.setup.inputs import params_from_argv
from nbnumba.setup.prepare import Sampling, Setup, prepare

__all__ = ["Sampling", "Setup", "params_from_argv", "prepare"]
