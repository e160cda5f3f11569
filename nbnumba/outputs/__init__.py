# SPDX-License-Identifier: BSD-3-Clause
"""Outputs: what a rendered image becomes. ``registry`` (the one table of output files: flag, path,
enabled, writer, C's lines), ``statistics`` (the printed max_I, mean, rms, rmsd), ``images`` (the SMV
scale, pixels and header), ``noise`` (C's Poisson noise image), ``printout`` (C's -printout blocks and
interpolation warning). File formats themselves are ``nbnumba.io``."""
