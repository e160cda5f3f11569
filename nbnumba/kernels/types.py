# SPDX-License-Identifier: BSD-3-Clause
"""The kernels' compile-time flags and the named tuples that carry their scalar arguments."""
from collections import namedtuple

#: compile-time specialisation of a pixel kernel; one compiled kernel per distinct value
KernelFlags = namedtuple("KernelFlags", [
    "shape",              # physics.SQUARE / ROUND / GAUSS / TOPHAT
    "interpolate",        # tricubic interpolation of F may be used
    "phi_carryover",      # c-parity: reproduce the C program's phi=0 carryover
    "oversample_thick",   # C's -oversample_thick (multiplies the running sum)
    "oversample_polar",
    "oversample_omega",
    "curved_detector",
    "point_pixel",
    "trace",              # record -printout values in a trace array (CPU only: the GPU kernel never traces)
    "precision",          # precision.DOUBLE (0) or precision.SINGLE (1): the real type of the per-sample physics
    "few_samples",        # fewer (phi step, mosaic domain) samples than physics.LOCKSTEP_MIN (a still: one): the CPU
                          # kernel renders pixels four side by side (the GPU kernel renders every pixel alike)
], defaults=(False, 0, False))

#: pass control: which pixels a kernel launch renders and how (``nbnumba.render.serial_order``)
PassArgs = namedtuple("PassArgs", [
    "roi_xmin", "roi_xmax", "roi_ymin", "roi_ymax",
    "start_pixel",        # render only pixels with row-major index >= this
    "first_eval_pixel",   # c-parity: the pixel holding the image's first phi evaluation
    "interp_cut_pixel",   # interpolation: pixels after this use nearest-neighbour F ...
    "interp_cut_eval",    # ... and this pixel from this evaluation on
])

#: per-run physics scalars of the pixel loop
ScalarArgs = namedtuple("ScalarArgs", [
    "oversample", "subpixel_size", "pixel_size",
    "detector_thicksteps", "detector_thickstep", "detector_thick", "detector_mu",
    "distance", "close_distance",
    "nopolar", "polarization", "dmin", "water_size",
    "I_bg", "r_e_sqr_fluence", "steps",
])

#: rows of the kernels' (9, 3) ``vectors`` array (numba's parallel loops cannot capture tuples):
#: detector unit vectors and pix0 (metres), beam and E-vector, reciprocal cell (1/Angstrom)
FDET, SDET, ODET, PIX0, BEAM, POLAR, A_STAR, B_STAR, C_STAR = range(9)
VECTOR_ROWS = 9

#: crystal scalars: cell counts, shape fudge, F table extent
CrystalArgs = namedtuple("CrystalArgs", [
    "Na", "Nb", "Nc", "fudge",
    "hkls", "h_min", "h_max", "k_min", "k_max", "l_min", "l_max", "h_range", "k_range", "l_range",
    "default_F",
])

#: slots of the pixel function's ``trace`` array (-printout, nanoBragg.c L3051-3072): values of the
#: pixel's LAST evaluated sample (NaN where never set). The phi/mosaic slots name the rotation used
#: last; TRACE_CELL_TABLE is 0 for ``cells_first`` (c-parity: the image's first phi loop), 1 for
#: ``cells_carry``. TRACE_I is the accumulated intensity before division by ``steps``;
#: TRACE_PIXEL the pixel's final value (photons, before float32 rounding). TRACE_FAIL_* hold h, k, l,
#: h0, k0, l0 of the pixel's first tricubic-interpolation failure (C's "out of range" warning, L2945).
(TRACE_STOL, TRACE_POS_X, TRACE_POS_Y, TRACE_POS_Z, TRACE_H, TRACE_K, TRACE_L, TRACE_H0, TRACE_K0,
 TRACE_L0, TRACE_F_CELL, TRACE_F_LATT, TRACE_I, TRACE_POLAR, TRACE_OMEGA, TRACE_CAPTURE, TRACE_PHI_TIC,
 TRACE_MOS_TIC, TRACE_CELL_TABLE, TRACE_PIXEL, TRACE_FAIL_H, TRACE_FAIL_K, TRACE_FAIL_L, TRACE_FAIL_H0,
 TRACE_FAIL_K0, TRACE_FAIL_L0, TRACE_LEN) = range(27)

#: columns of the pixel function's ``samples`` array (``--trace-pixel``; only with ``flags.trace``): one
#: row per sample in nanoBragg.c's loop order (thickness layer, sub-pixel subS/subF, source, phi step,
#: mosaic domain), in C's internal units (metres, 1/metre). A source that -dmin skips (C L2763-2769,
#: before its phi loop) is one row with SAMPLE_STATUS = SAMPLE_SKIP_DMIN and NaN phi/mosaic columns; a
#: sample whose F_latt is 0 without -water (C L2868 ``continue``) is SAMPLE_SKIP_F_LATT, with NaN F_cell
#: and I. SAMPLE_ROT: the rotated cell vectors a, b, c (rows of ``cells_first``/``cells_carry``, 9
#: columns); SAMPLE_TABLE: 0 ``cells_first``, 1 ``cells_carry``. SAMPLE_F_LATT_A/B/C: the three grating
#: factors of the square shape (NaN for the others); SAMPLE_INCREMENT: F_cell^2 F_latt^2; SAMPLE_I:
#: the running sum after the sample (after the -oversample_thick/polar/omega multiplications);
#: SAMPLE_POLAR/OMEGA/CAPTURE: the factors' values when the sample was evaluated. SAMPLE_SWITCH_OFF is 1
#: at the sample where C switched tricubic interpolation off for the rest of the run (L2949).
(SAMPLE_THICK, SAMPLE_SUBS, SAMPLE_SUBF, SAMPLE_SOURCE, SAMPLE_PHI, SAMPLE_MOS, SAMPLE_STATUS, SAMPLE_FDET,
 SAMPLE_SDET, SAMPLE_ODET) = range(10)
SAMPLE_POS = 10            # 3 columns: pixel_pos (m)
SAMPLE_DIFFRACTED = 13     # 3: the diffracted unit vector the scattering vector was built from
SAMPLE_INCIDENT = 16       # 3: the incident unit vector (C: -source_X, -source_Y, -source_Z)
SAMPLE_LAMBDA = 19
SAMPLE_SCATTERING = 20     # 3: (diffracted - incident) / lambda (1/m)
(SAMPLE_STOL, SAMPLE_POLAR, SAMPLE_OMEGA, SAMPLE_CAPTURE, SAMPLE_TABLE) = range(23, 28)
SAMPLE_ROT = 28            # 9: rot_a, rot_b, rot_c (m)
(SAMPLE_H, SAMPLE_K, SAMPLE_L, SAMPLE_H0, SAMPLE_K0, SAMPLE_L0, SAMPLE_F_LATT, SAMPLE_F_LATT_A, SAMPLE_F_LATT_B,
 SAMPLE_F_LATT_C, SAMPLE_F_CELL, SAMPLE_INTERPOLATED, SAMPLE_SWITCH_OFF, SAMPLE_INCREMENT, SAMPLE_I,
 SAMPLE_LEN) = range(37, 53)
#: SAMPLE_STATUS values
SAMPLE_EVALUATED, SAMPLE_SKIP_DMIN, SAMPLE_SKIP_F_LATT = 0, 1, 2
