# SPDX-License-Identifier: BSD-3-Clause
"""Pixel kernels: ``physics`` (scalar physics shared by every kernel and by set-up), ``pixel`` (the body
of nanoBragg.c's pixel loop, one pixel), ``cpu`` (the parallel loop over detector rows), ``cuda`` (the
same loop as a CUDA kernel, one thread per pixel; imported only for the GPU), ``types`` (the
compile-time flags and argument tuples) and ``specialise`` (the one helper that specialises a kernel
on its flags). Nothing here knows Params or Setup: ``nbnumba.render.plan`` packs their arguments."""
