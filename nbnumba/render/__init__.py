# SPDX-License-Identifier: BSD-3-Clause
"""Render: a Setup -> the float image. ``plan`` (the kernels' arguments, built once; the render on a
device; the serial trace for -printout), ``serial_order`` (C's single-threaded order on a parallel
renderer: the passes), ``device`` (``--device auto|cpu|cuda``). The kernels are ``nbnumba.kernels``."""
