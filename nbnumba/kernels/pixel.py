# SPDX-License-Identifier: BSD-3-Clause
"""The pixel function: everything nanoBragg.c does for one detector pixel (L2584-3089) except
writing it. ``make_pixel_function(flags)`` specialises it at compile time. The CPU kernel calls it
from a parallel loop over rows; a GPU kernel can call the same function from one thread per pixel:
it takes scalars, flat arrays and namedtuples of scalars, allocates nothing and holds no state.

Restructured against the C loop nest, with the same images (see reports/parity_cpu.md):
- the spindle and mosaic rotations of the cell are host tables (``cells_first``/``cells_carry``,
  one 3x3 matrix per (phi step, mosaic domain)) instead of per-sample ``rotate_axis``/``rotate_umat``;
- the grating transform is ``physics.grating``: a Chebyshev recurrence on the fractional Miller
  index instead of two large-argument sines per axis;
- the phi and mosaic loops are one loop over their samples in C's order, taken ``lanes`` at a time
  (``physics.sample_group_1``/``sample_group_8``): on the CPU eight samples' Miller indices and lattice
  factors are computed side by side (SIMD), then each sample is evaluated and added in order, as C does;
  where no source after the first is skipped (-dmin) or changes the polarisation, the CPU's groups run on
  across the sources' boundaries (one stream of sources x phi steps x mosaic domains);
- the F table is read in this function (``physics.in_table``), not in a helper: passing an array to a
  function costs numba an atomic reference count update per call, which threads contend for;
- pixels with fewer (phi step, mosaic domain) samples than ``physics.LOCKSTEP_MIN`` (a still: one) go four
  side by side through ``make_pixel_group_function`` on the CPU: the same operations per pixel, one call for
  four pixels;
- with ``--precision single`` on the CPU (``sample_stream_applies``) the samples go through the sample stream
  (``source_stream``, ``sample_stream``): one loop, which LLVM vectorises sixteen samples wide, computes each
  sample's Miller index, lattice factor (the closed form: the same operations for every sample) and F-table
  index, a second adds the samples in C's order."""
import math
from functools import lru_cache

import numpy as np
from numba import njit

from nbnumba._jit import JIT_OPTIONS
from nbnumba.kernels import physics as ph
from nbnumba.kernels.precision import SINGLE, make_physics
from nbnumba.kernels.specialise import specialise
from nbnumba.kernels.types import (
    A_STAR,
    B_STAR,
    BEAM,
    C_STAR,
    FDET,
    ODET,
    PIX0,
    POLAR,
    SAMPLE_CAPTURE,
    SAMPLE_DIFFRACTED,
    SAMPLE_EVALUATED,
    SAMPLE_F_CELL,
    SAMPLE_F_LATT,
    SAMPLE_F_LATT_A,
    SAMPLE_F_LATT_B,
    SAMPLE_F_LATT_C,
    SAMPLE_FDET,
    SAMPLE_H,
    SAMPLE_H0,
    SAMPLE_I,
    SAMPLE_INCIDENT,
    SAMPLE_INCREMENT,
    SAMPLE_INTERPOLATED,
    SAMPLE_K,
    SAMPLE_K0,
    SAMPLE_L,
    SAMPLE_L0,
    SAMPLE_LAMBDA,
    SAMPLE_MOS,
    SAMPLE_ODET,
    SAMPLE_OMEGA,
    SAMPLE_PHI,
    SAMPLE_POLAR,
    SAMPLE_POS,
    SAMPLE_ROT,
    SAMPLE_SCATTERING,
    SAMPLE_SDET,
    SAMPLE_SKIP_DMIN,
    SAMPLE_SKIP_F_LATT,
    SAMPLE_SOURCE,
    SAMPLE_STATUS,
    SAMPLE_STOL,
    SAMPLE_SUBF,
    SAMPLE_SUBS,
    SAMPLE_SWITCH_OFF,
    SAMPLE_TABLE,
    SAMPLE_THICK,
    SDET,
    TRACE_CAPTURE,
    TRACE_CELL_TABLE,
    TRACE_F_CELL,
    TRACE_F_LATT,
    TRACE_FAIL_H,
    TRACE_FAIL_H0,
    TRACE_FAIL_K,
    TRACE_FAIL_K0,
    TRACE_FAIL_L,
    TRACE_FAIL_L0,
    TRACE_H,
    TRACE_H0,
    TRACE_I,
    TRACE_K,
    TRACE_K0,
    TRACE_L,
    TRACE_L0,
    TRACE_MOS_TIC,
    TRACE_OMEGA,
    TRACE_PHI_TIC,
    TRACE_PIXEL,
    TRACE_POLAR,
    TRACE_POS_X,
    TRACE_POS_Y,
    TRACE_POS_Z,
    TRACE_STOL,
    KernelFlags,
)

#: ``interpolating`` argument of the pixel function
INTERP_OFF, INTERP_ON, INTERP_CUT = 0, 1, 2


@lru_cache(maxsize=None)
def make_pixel_function(flags: KernelFlags, lanes: int = 1, gpu: bool = False):
    """Compile (once per flag set, ``lanes`` and ``gpu``) ``pixel(spixel, fpixel, first_loop, interpolating,
    cut_eval, sc, vectors, xtal, sources, cells_first, cells_carry, fhkl[, trace, samples[, stream]])``.

    ``first_loop``: c-parity, this pixel holds the image's first phi loop (starts from
    ``cells_first``); ``interpolating``: INTERP_OFF, INTERP_ON, or INTERP_CUT (the pixel where C's
    run-wide switch-off happened: on for its first ``cut_eval`` evaluations).
    ``trace`` (only with ``flags.trace``, a compile-time variant the CPU compiles for -printout):
    a float64 array of ``types.TRACE_LEN`` where the function records the -printout values of the
    pixel's last evaluated sample; ``samples`` (with ``trace``): a float64 array of shape (rows,
    ``types.SAMPLE_LEN``), NaN-filled, where it records every sample in C's loop order, one row each
    (``types.SAMPLE_*``; rows = 0: none; the caller gives at least thicksteps x oversample^2 x sources x
    phisteps x mosaic domains rows). Without ``flags.trace`` the tracing code is not compiled.
    ``stream`` (only where ``sample_stream_applies``): the sample stream's tables and work arrays
    (``sample_stream_work``; the work arrays one thread's own).

    Returns ``(value, omega_sum, first_event, any_loop)``: the pixel's photons (float64, before the
    float32 store), the sum of its sub-pixel solid angles (C's ``omega_sum`` share), the index of
    its first interpolation failure (-1: none) and whether any phi loop ran (c-parity).

    ``lanes``: 1 (one sample at a time: the GPU's threads, and the CPU kernel of pixels with few samples,
    ``KernelFlags.few_samples``) or ``physics.LANES`` (the CPU's other kernels: eight samples' Miller indices
    and lattice factors side by side, which LLVM packs into SIMD instructions; every sample is still
    evaluated and added in C's order, so the image is the same).

    ``gpu``: the source the CUDA kernel compiles (``lanes`` 1): with ``--precision single`` its per-sample
    product stays float32 (``precision.make_physics``); for double it is the CPU's function."""
    if lanes not in (1, ph.LANES):
        raise ValueError("lanes: 1 or %d, not %r" % (ph.LANES, lanes))
    if gpu and lanes != 1:
        raise ValueError("the GPU's pixel function takes one sample at a time, not %r" % (lanes,))
    LANES = lanes
    SHAPE = flags.shape
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    OS_THICK = flags.oversample_thick
    OS_POLAR = flags.oversample_polar
    OS_OMEGA = flags.oversample_omega
    CURVED = flags.curved_detector
    POINT_PIXEL = flags.point_pixel
    TRACE = flags.trace
    ONE_LANE = lanes == 1
    # the CPU's stream spans the sources unless a sample's handling depends on its own source (-printout's
    # per-source records, interpolation's and the c-parity carryover's per-source state, the polarisation
    # per source of -oversample_polar)
    STREAM_SOURCES = not ONE_LANE and not (TRACE or INTERPOLATE or CARRYOVER or OS_POLAR)
    ADD_UNROLLED = not ONE_LANE and not (TRACE or INTERPOLATE)
    STREAM = sample_stream_applies(flags, lanes, gpu)

    def pixel(spixel, fpixel, first_loop, interpolating, cut_eval, sc, vectors, xtal, sources, cells_first,
              cells_carry, fhkl, trace=None, samples=None, stream=None):
        phisteps = cells_carry.shape[0]
        mosaic_domains = cells_carry.shape[1]
        nsources = sources.shape[0]
        oversample = sc.oversample
        fdet, sdet, odet, pix0, beam, polar_vector, a_star, b_star, c_star = _lab_vectors(vectors)
        Na = xtal.Na
        Nb = xtal.Nb
        Nc = xtal.Nc
        no_water = sc.water_size == 0.0
        # -default_F in the F table's real type (float32 with --precision single)
        default_F = fhkl.dtype.type(xtal.default_F)
        n_samples = phisteps * mosaic_domains
        # Na = Nb = Nc, an integer the recurrence takes: the lockstep form, tested once per pixel
        equal_terms = 0
        if SHAPE == ph.SQUARE and Na == Nb and Na == Nc:
            equal_terms = ph.grating_terms(Na)

        if TRACE:
            cap = samples.shape[0]
            n_rec = 0
        any_loop = False
        eval_count = 0
        first_event = -1
        omega_sum = 0.0

        I = sc.I_bg
        polar = 0.0
        if sc.nopolar:
            polar = 1.0
        omega_pixel = 0.0
        capture = 0.0
        for thick_tic in range(sc.detector_thicksteps):
            Odet = thick_tic * sc.detector_thickstep
            capture = 0.0
            if sc.detector_thick == 0.0:
                capture = 1.0
            for subS in range(oversample):
                for subF in range(oversample):
                    Fdet, Sdet, pixel_pos = _subpixel_position(spixel, fpixel, subS, subF, Odet, sc, fdet, sdet,
                                                               odet, pix0, beam, CURVED)
                    if TRACE:
                        trace[TRACE_POS_X] = pixel_pos[0]
                        trace[TRACE_POS_Y] = pixel_pos[1]
                        trace[TRACE_POS_Z] = pixel_pos[2]
                    airpath, diffracted = ph.unitize(pixel_pos)
                    if omega_pixel == 0.0 or OS_OMEGA:
                        omega_pixel = ph.solid_angle(sc.pixel_size, airpath, sc.close_distance, POINT_PIXEL)
                    omega_sum += omega_pixel
                    if capture == 0.0 or OS_THICK:
                        parallax = ph.dot(diffracted, odet)
                        capture = ph.capture_fraction(thick_tic, sc.detector_thickstep, sc.detector_mu, parallax)
                    if STREAM and equal_terms >= 2 and stream[2] > 1:
                        # every source's samples of this sub-pixel, vectorised, sources side by side
                        # (``sample_stream``)
                        I, polar = _SAMPLE_STREAM(I, polar, diffracted, sc, sources, polar_vector, stream,
                                                  n_samples, xtal, default_F, equal_terms, no_water)
                        continue

                    for source in range(nsources):
                        incident, lam, scattering = ph.source_scattering(sources, source, diffracted)
                        stol = 0.5 * ph.magnitude(scattering)
                        if TRACE:
                            trace[TRACE_STOL] = stol
                            # the source's row: what every sample of this source shares
                            src_row = n_rec
                            if src_row < cap:
                                samples[src_row, SAMPLE_THICK] = thick_tic
                                samples[src_row, SAMPLE_SUBS] = subS
                                samples[src_row, SAMPLE_SUBF] = subF
                                samples[src_row, SAMPLE_SOURCE] = source
                                samples[src_row, SAMPLE_FDET] = Fdet
                                samples[src_row, SAMPLE_SDET] = Sdet
                                samples[src_row, SAMPLE_ODET] = Odet
                                for axis in range(3):
                                    samples[src_row, SAMPLE_POS + axis] = pixel_pos[axis]
                                    samples[src_row, SAMPLE_DIFFRACTED + axis] = diffracted[axis]
                                    samples[src_row, SAMPLE_INCIDENT + axis] = incident[axis]
                                    samples[src_row, SAMPLE_SCATTERING + axis] = scattering[axis]
                                samples[src_row, SAMPLE_LAMBDA] = lam
                                samples[src_row, SAMPLE_STOL] = stol
                                samples[src_row, SAMPLE_OMEGA] = omega_pixel
                                samples[src_row, SAMPLE_CAPTURE] = capture
                                samples[src_row, SAMPLE_POLAR] = polar
                                samples[src_row, SAMPLE_STATUS] = SAMPLE_SKIP_DMIN
                        if sc.dmin > 0.0 and stol > 0.0:
                            if sc.dmin > 0.5 / stol:
                                if TRACE:
                                    n_rec += 1  # the source's row, as a -dmin skip (no phi loop)
                                continue
                        if polar == 0.0 or OS_POLAR:
                            polar, diffracted = ph.polarization_factor(
                                sc.polarization, incident, diffracted, polar_vector)
                        if TRACE:
                            if src_row < cap:
                                samples[src_row, SAMPLE_POLAR] = polar
                        if STREAM and equal_terms >= 2:
                            # this source's samples, vectorised (``source_stream``)
                            I = _SOURCE_STREAM(I, scattering, stream, n_samples, xtal, default_F, equal_terms,
                                               no_water)
                            continue
                        # c-parity: the image's first phi loop starts from the unrotated cell
                        use_first = CARRYOVER and first_loop
                        cells = cells_first if use_first else cells_carry
                        # the samples from here on in C's order: this source's (phi step, mosaic domain)
                        # samples, or, where no later source would be skipped (-dmin) or change the
                        # polarisation (computed once, not 0), every source's: a stream the CPU takes LANES
                        # at a time (Miller indices and lattice factors side by side, then each sample added
                        # in order, as C adds it), across the sources' boundaries
                        source_end = source + 1
                        if STREAM_SOURCES and not (sc.dmin > 0.0) and polar != 0.0:
                            source_end = nsources
                        n_stream = (source_end - source) * n_samples
                        at = (source, 0, 0, scattering)
                        first = 0
                        while first < n_stream:
                            if ONE_LANE:
                                group = ph.sample_group_1(cells, at[1], at[2], n_stream - first, phisteps,
                                                          mosaic_domains, scattering[0], scattering[1], scattering[2],
                                                          SHAPE, equal_terms, Na, Nb, Nc, xtal.fudge, a_star, b_star,
                                                          c_star)
                                phis, moss, hs, ks, ls, h0s, k0s, l0s, F_latts, next_phi, next_mos = group
                                at = (source, next_phi, next_mos, scattering)
                                taken = 1
                            else:
                                group = ph.sample_group_8(cells, sources, diffracted, at, n_stream - first, source_end,
                                                          phisteps, mosaic_domains, SHAPE, equal_terms, Na, Nb, Nc,
                                                          xtal.fudge, a_star, b_star, c_star)
                                phis, moss, hs, ks, ls, h0s, k0s, l0s, F_latts, at, taken = group
                            first += taken
                            if ADD_UNROLLED and taken == LANES:
                                # a full group without -printout or interpolation: the loop below, unrolled
                                I = _add_samples_8(I, F_latts, h0s, k0s, l0s, no_water, fhkl, xtal, default_F,
                                                   capture, polar, omega_pixel, OS_THICK, OS_POLAR, OS_OMEGA)
                                continue
                            for lane in range(taken):
                                phi_tic = phis[lane]
                                mos_tic = moss[lane]
                                h = hs[lane]
                                k = ks[lane]
                                l = ls[lane]
                                h0 = h0s[lane]
                                k0 = k0s[lane]
                                l0 = l0s[lane]
                                F_latt = F_latts[lane]
                                if TRACE:
                                    if n_rec < cap:
                                        if n_rec != src_row:
                                            samples[n_rec, :SAMPLE_TABLE] = samples[src_row, :SAMPLE_TABLE]
                                        samples[n_rec, SAMPLE_PHI] = phi_tic
                                        samples[n_rec, SAMPLE_MOS] = mos_tic
                                        samples[n_rec, SAMPLE_TABLE] = 0.0 if use_first else 1.0
                                        for axis in range(3):
                                            for col in range(3):
                                                samples[n_rec, SAMPLE_ROT + 3 * axis + col] = \
                                                    cells[phi_tic, mos_tic, axis, col]
                                        samples[n_rec, SAMPLE_H] = h
                                        samples[n_rec, SAMPLE_K] = k
                                        samples[n_rec, SAMPLE_L] = l
                                        samples[n_rec, SAMPLE_H0] = h0
                                        samples[n_rec, SAMPLE_K0] = k0
                                        samples[n_rec, SAMPLE_L0] = l0
                                        samples[n_rec, SAMPLE_F_LATT] = F_latt
                                        if SHAPE == ph.SQUARE:
                                            samples[n_rec, SAMPLE_F_LATT_A] = ph.grating(h, h0, Na)
                                            samples[n_rec, SAMPLE_F_LATT_B] = ph.grating(k, k0, Nb)
                                            samples[n_rec, SAMPLE_F_LATT_C] = ph.grating(l, l0, Nc)
                                        else:
                                            samples[n_rec, SAMPLE_F_LATT_A] = math.nan
                                            samples[n_rec, SAMPLE_F_LATT_B] = math.nan
                                            samples[n_rec, SAMPLE_F_LATT_C] = math.nan
                                        samples[n_rec, SAMPLE_STATUS] = SAMPLE_SKIP_F_LATT
                                        samples[n_rec, SAMPLE_F_CELL] = math.nan
                                        samples[n_rec, SAMPLE_INTERPOLATED] = math.nan
                                        samples[n_rec, SAMPLE_SWITCH_OFF] = math.nan
                                        samples[n_rec, SAMPLE_INCREMENT] = math.nan
                                        samples[n_rec, SAMPLE_I] = math.nan
                                    trace[TRACE_H] = h
                                    trace[TRACE_K] = k
                                    trace[TRACE_L] = l
                                    trace[TRACE_H0] = h0
                                    trace[TRACE_K0] = k0
                                    trace[TRACE_L0] = l0
                                    trace[TRACE_F_LATT] = F_latt
                                    trace[TRACE_PHI_TIC] = phi_tic
                                    trace[TRACE_MOS_TIC] = mos_tic
                                    trace[TRACE_CELL_TABLE] = 0.0 if use_first else 1.0
                                if F_latt == 0.0 and no_water:
                                    if TRACE:
                                        n_rec += 1
                                    continue
                                interp_here = False
                                if TRACE:
                                    switch_off = False
                                if INTERPOLATE and interpolating > 0:
                                    if interpolating == INTERP_ON or eval_count < cut_eval:
                                        if ph.interpolation_out_of_range(
                                                h, k, l, xtal.h_min, xtal.k_min, xtal.l_min,
                                                xtal.h_range, xtal.k_range, xtal.l_range):
                                            if first_event < 0:
                                                first_event = eval_count
                                                if TRACE:
                                                    switch_off = True
                                                    trace[TRACE_FAIL_H] = h
                                                    trace[TRACE_FAIL_K] = k
                                                    trace[TRACE_FAIL_L] = l
                                                    trace[TRACE_FAIL_H0] = h0
                                                    trace[TRACE_FAIL_K0] = k0
                                                    trace[TRACE_FAIL_L0] = l0
                                        else:
                                            interp_here = True
                                    elif TRACE:
                                        # the cut pixel's first sample without interpolation: where C
                                        # switched it off for the rest of the run (L2949)
                                        switch_off = eval_count == cut_eval
                                    eval_count += 1
                                if INTERPOLATE and interp_here:
                                    F_cell = ph.tricubic_F(fhkl, h, k, l, xtal.h_min, xtal.k_min, xtal.l_min)
                                else:
                                    if ph.in_table(xtal.hkls, h0, k0, l0, xtal.h_min, xtal.h_max, xtal.k_min,
                                                   xtal.k_max, xtal.l_min, xtal.l_max):
                                        F_cell = fhkl[h0 - xtal.h_min, k0 - xtal.k_min, l0 - xtal.l_min]
                                    else:
                                        F_cell = default_F
                                if TRACE:
                                    trace[TRACE_F_CELL] = F_cell
                                I += F_cell * F_cell * F_latt * F_latt
                                if OS_THICK:
                                    I *= capture
                                if OS_POLAR:
                                    I *= polar
                                if OS_OMEGA:
                                    I *= omega_pixel
                                if TRACE:
                                    if n_rec < cap:
                                        samples[n_rec, SAMPLE_STATUS] = SAMPLE_EVALUATED
                                        samples[n_rec, SAMPLE_F_CELL] = F_cell
                                        samples[n_rec, SAMPLE_INTERPOLATED] = 1.0 if interp_here else 0.0
                                        samples[n_rec, SAMPLE_SWITCH_OFF] = 1.0 if switch_off else 0.0
                                        samples[n_rec, SAMPLE_INCREMENT] = F_cell * F_cell * F_latt * F_latt
                                        samples[n_rec, SAMPLE_I] = I
                                    n_rec += 1
                        if CARRYOVER:
                            first_loop = False
                            any_loop = True
                        if source_end == nsources:
                            break  # the stream took the remaining sources

        test = _pixel_value(I, sc, capture, polar, omega_pixel, OS_THICK, OS_POLAR, OS_OMEGA)
        if TRACE:
            trace[TRACE_I] = I
            trace[TRACE_POLAR] = polar
            trace[TRACE_OMEGA] = omega_pixel
            trace[TRACE_CAPTURE] = capture
            trace[TRACE_PIXEL] = test
        return test, omega_sum, first_event, any_loop

    # ``ph``: the physics for the flags' real type (``kernels.precision``; ``physics`` itself for double)
    real_physics = make_physics(flags.precision, flags.shape, gpu)
    prefix = ("pixel" if lanes == 1 else "pixel%d" % lanes) + ("_gpu" if gpu else "")
    bindings = {"ph": real_physics}
    if STREAM:
        sample = njit(inline="always", **JIT_OPTIONS)(specialise(stream_sample, flags, "stream_sample",
                                                                 ph=real_physics))
        bindings["_SAMPLE_STREAM"] = njit(inline="always", **JIT_OPTIONS)(
            specialise(sample_stream, flags, "stream", ph=real_physics, _stream_sample=sample))
        bindings["_SOURCE_STREAM"] = njit(inline="always", **JIT_OPTIONS)(
            specialise(source_stream, flags, "source_stream", ph=real_physics, _stream_sample=sample))
    return njit(**JIT_OPTIONS)(specialise(pixel, flags, prefix, **bindings))


_SAMPLE_STREAM = _SOURCE_STREAM = _stream_sample = None  # bound by make_pixel_function (kernels.specialise)
#: samples per vector of the sample stream's loop (``sample_stream_llvm_options`` forces it): LLVM's cost model
#: picks four by the loop's float64 values (the Miller index), which leaves the vectors of its float32
#: arithmetic (the closed form) half empty. Single-precision kernel, 2 threads, min of 3, twice, BENCH-1's shape
#: at 512² (BENCH-2's at 1024²): eight 0.1035-0.104 s (0.336 s), sixteen 0.108-0.109 s (0.290-0.307 s)
STREAM_VECTOR_WIDTH = 16
#: sources whose samples share one vectorised loop at most (``sample_stream_work``): the loop selects each
#: sample's scattering vector from theirs, a select per source (BENCH-2's 9 sources x 10 samples take 96 lanes
#: in blocks of three, 144 one source at a time; its selects took 0.035 s of the kernel's 0.345 s, measured
#: with blocks of four at eight lanes)
STREAM_BLOCK_SOURCES = 4


def sample_stream_applies(flags: KernelFlags, lanes: int = ph.LANES, gpu: bool = False) -> bool:
    """Whether the pixel function (``lanes``, ``gpu``) for ``flags`` takes its samples through the sample stream
    (``sample_stream``, ``source_stream``): the CPU's eight-lane function in single precision, for a square
    crystal (Na = Nb = Nc, checked per pixel), without -printout, interpolation, the c-parity carryover or a
    per-sample correction (-oversample_thick, _polar, _omega), which follow C's loop sample by sample."""
    return (lanes == ph.LANES and not gpu and flags.precision == SINGLE and flags.shape == ph.SQUARE
            and not (flags.trace or flags.interpolate or flags.phi_carryover or flags.oversample_thick
                     or flags.oversample_polar or flags.oversample_omega))


def sample_stream(I, polar, diffracted, sc, sources, polar_vector, stream, n_samples, xtal, default_F, terms,
                  no_water):
    """Add one sub-pixel's samples, every source's, to the pixel's sum ``I``, as the pixel function's loop over
    sources does (C L2739-3025; Na = Nb = Nc = ``terms`` >= 2, single precision, no per-sample correction):
    returns ``(I, polar)``.

    For a source's samples that do not fill whole vectors (``sample_stream_work``'s ``per_block`` > 1): the
    sources go in blocks of ``per_block``; a block's scattering vectors, -dmin skips and the polarisation (at the
    first source not skipped) one source after the other, as the pixel function's loop does; then one loop over
    the block's samples, whole vectors of them (``stream_sample``: Miller index, lattice factor, F-table index;
    LLVM vectorises it), and one that adds them in C's order (source, phi step, mosaic domain), each as
    ``_add_sample`` adds it. The values are those of the pixel function's other paths, bit for bit."""
    cells_t, source_t, per_block, fflat, nk, nl, skipped, lattice, table_index = stream
    nsources = sources.shape[0]
    first = 0
    while first < nsources:
        count = min(per_block, nsources - first)
        # the block's scattering vectors (a .. d: its sources 0 .. 3) as scalars, from which the vectorised loop
        # selects (a table in memory would be read by a gather, which LLVM cannot tell apart from the loop's
        # stores: it would not vectorise); zero (finite) for a partial block's missing sources
        a0 = a1 = a2 = b0 = b1 = b2 = c0 = c1 = c2 = d0 = d1 = d2 = 0.0
        for b in range(count):
            incident, lam, scattering = ph.source_scattering(sources, first + b, diffracted)
            skip = False
            if sc.dmin > 0.0:
                stol = 0.5 * ph.magnitude(scattering)
                skip = stol > 0.0 and sc.dmin > 0.5 / stol
            skipped[b] = skip
            if not skip and polar == 0.0:
                polar, diffracted = ph.polarization_factor(sc.polarization, incident, diffracted, polar_vector)
            if b == 0:
                a0, a1, a2 = scattering
            elif b == 1:
                b0, b1, b2 = scattering
            elif b == 2:
                c0, c1, c2 = scattering
            else:
                d0, d1, d2 = scattering
        # whole vectors: the columns past the block's samples compute values that are not added
        for j in range(_whole_vectors(count * n_samples)):
            source = source_t[j]
            if source == 0:
                s0, s1, s2 = a0, a1, a2
            elif source == 1:
                s0, s1, s2 = b0, b1, b2
            elif source == 2:
                s0, s1, s2 = c0, c1, c2
            else:
                s0, s1, s2 = d0, d1, d2
            lattice[j], table_index[j] = _stream_sample(cells_t, j, s0, s1, s2, xtal, nk, nl, terms)
        # the sum, in C's order
        for b in range(count):
            if not skipped[b]:
                I = _add_streamed(I, lattice, table_index, b * n_samples, (b + 1) * n_samples, fflat, default_F,
                                  no_water)
        first += count
    return I, polar


def source_stream(I, scattering, stream, n_samples, xtal, default_F, terms, no_water):
    """``sample_stream`` for sources taken one at a time (``per_block`` = 1: a source's samples fill whole vectors,
    or blocks of sources would leave no fewer lanes idle): adds the samples of the source with scattering vector
    ``scattering`` to ``I`` and returns it. The pixel function calls it in its loop over the sources, after the
    source's -dmin skip and the polarisation. (Kept apart from ``sample_stream``, which would take these sources
    as blocks of one: 0.108 s, not 0.139 s, on BENCH-1's shape; its second copy of ``stream_sample`` adds 3 s to
    the kernel's first compilation.)"""
    cells_t, _, _, fflat, nk, nl, _, lattice, table_index = stream
    s0 = scattering[0]
    s1 = scattering[1]
    s2 = scattering[2]
    for j in range(cells_t.shape[1]):
        lattice[j], table_index[j] = _stream_sample(cells_t, j, s0, s1, s2, xtal, nk, nl, terms)
    return _add_streamed(I, lattice, table_index, 0, n_samples, fflat, default_F, no_water)


@njit(inline="always", **JIT_OPTIONS)
def _add_streamed(I, lattice, table_index, first, last, fflat, default_F, no_water):
    """The pixel's sum ``I`` after the sample stream's columns ``first`` ... ``last`` - 1, in order: ``_add_sample``
    of each, its F-table entry read at the stream's flat index. Inlined: it takes arrays (see
    ``physics.miller_index``)."""
    for j in range(first, last):
        F_latt = lattice[j]
        t = table_index[j]
        F_cell = fflat[t] if t >= 0 else default_F
        if not (F_latt == 0.0 and no_water):
            I += F_cell * F_cell * F_latt * F_latt
    return I


def stream_sample(cells_t, j, s0, s1, s2, xtal, nk, nl, terms):
    """Column ``j`` of the sample stream for the scattering vector (s0, s1, s2): ``(F_latt, index)``, the sample's
    lattice factor (float32 ``sine_ratio_3``, the closed form, which ``ph.lattice_square_equal`` is on the CPU
    for every N (``precision.CPU_SINE_RATIO_MIN_N``): the same operations for every sample, as vectorising needs;
    as a float64) and its F-table index (-1: not in the table; the nearest index is ``physics.nearest_index``,
    the bounds ``physics.in_table``'s). The Miller index is ``physics.miller_index``'s arithmetic. Inlined by
    numba (left to LLVM, it was not inlined and the loops did not vectorise: 0.56 s on BENCH-1's shape)."""
    h = cells_t[0, j] * s0 + cells_t[1, j] * s1 + cells_t[2, j] * s2
    k = cells_t[3, j] * s0 + cells_t[4, j] * s1 + cells_t[5, j] * s2
    l = cells_t[6, j] * s0 + cells_t[7, j] * s1 + cells_t[8, j] * s2
    h0 = ph.nearest_index(h)
    k0 = ph.nearest_index(k)
    l0 = ph.nearest_index(l)
    F_latt = np.float64(ph.sine_ratio_3(h, k, l, h0, k0, l0, terms))
    inside = ph.in_table(xtal.hkls, h0, k0, l0, xtal.h_min, xtal.h_max, xtal.k_min, xtal.k_max, xtal.l_min,
                         xtal.l_max)
    return F_latt, ((h0 - xtal.h_min) * nk + (k0 - xtal.k_min)) * nl + (l0 - xtal.l_min) if inside else -1


@njit(**JIT_OPTIONS)
def _whole_vectors(samples):
    """``samples`` rounded up to whole vectors of STREAM_VECTOR_WIDTH."""
    return (samples + STREAM_VECTOR_WIDTH - 1) // STREAM_VECTOR_WIDTH * STREAM_VECTOR_WIDTH


@njit(**JIT_OPTIONS)
def sample_stream_work(cells, nsources, fhkl):
    """The sample stream's tables and work arrays for the cells ``cells`` (phi steps x mosaic domains x 3 x 3)
    and ``nsources`` sources: ``(cells_t, source_t, per_block, fflat, nk, nl, skipped, lattice, table_index)``.

    The stream takes ``per_block`` sources per vectorised loop, 1 ... STREAM_BLOCK_SOURCES: the number that
    leaves the fewest lanes of its whole vectors (STREAM_VECTOR_WIDTH) idle over all the sources (the smallest
    of equals: fewer selects), so that a source's samples that end within a vector share it with the next
    source's. A block's samples are the columns of ``cells_t`` (9 x the block's samples, rounded up to whole
    vectors: the cells' nine entries, one row each, in C's order: source, phi step, mosaic domain) and of
    ``source_t`` (each column's source in the block); the columns after the block's last sample repeat it.
    ``fflat``: the F table, flat, whose second and third axes have ``nk``, ``nl`` entries. Work arrays: the
    block's -dmin skips, and each column's lattice factor and F-table index (-1: not in the table)."""
    mosaic_domains = cells.shape[1]
    n = cells.shape[0] * mosaic_domains
    per_block = 1
    fewest = nsources * _whole_vectors(n)
    for size in range(2, min(nsources, STREAM_BLOCK_SOURCES) + 1):
        lanes = nsources // size * _whole_vectors(size * n) + _whole_vectors(nsources % size * n)
        if lanes < fewest:
            per_block = size
            fewest = lanes
    width = _whole_vectors(per_block * n)
    cells_t = np.empty((9, width))
    source_t = np.empty(width, np.int64)
    for j in range(width):
        column = min(j, per_block * n - 1)
        source_t[j] = column // n
        sample = column % n
        for axis in range(3):
            for col in range(3):
                cells_t[3 * axis + col, j] = cells[sample // mosaic_domains, sample % mosaic_domains, axis, col]
    table = np.ascontiguousarray(fhkl)
    return (cells_t, source_t, per_block, table.reshape(-1), table.shape[1], table.shape[2],
            np.empty(per_block, np.bool_), np.empty(width), np.empty(width, np.int64))


def cpu_kernel_streams(flags: KernelFlags) -> bool:
    """Whether the CPU kernel of ``flags`` has the sample stream: its pixel function is the eight-lane one (not a
    still's kernel, ``KernelFlags.few_samples``) and ``sample_stream_applies``."""
    return sample_stream_applies(flags) and not flags.few_samples


def sample_stream_llvm_options(flags: KernelFlags) -> tuple:
    """The LLVM options the CPU kernel of ``flags`` is compiled with (``_jit.llvm_options``): the sample stream's
    vector width (STREAM_VECTOR_WIDTH), where it has the stream."""
    return ("--force-vector-width=%d" % STREAM_VECTOR_WIDTH,) if cpu_kernel_streams(flags) else ()


#: pixels side by side in the CPU kernel's lockstep path (``make_pixel_group_function``)
PIXEL_LANES = 4


def pixel_groups_apply(flags: KernelFlags) -> bool:
    """Whether the CPU kernel may render pixels four side by side for ``flags``: not with interpolation
    or the c-parity phi carryover (their per-pixel state follows C's run-wide order) nor a trace."""
    return not (flags.interpolate or flags.phi_carryover or flags.trace)


@lru_cache(maxsize=None)
def make_pixel_group_function(flags: KernelFlags):
    """Compile (once per flag set) ``pixels(spixels, fpixels, sc, vectors, xtal, sources, cells, fhkl)``:
    the pixel function (``make_pixel_function``, ``first_loop`` False, not interpolating, no trace) of four
    pixels side by side (4-tuples of their indices), returning ``(values, omega_sums)``, 4-tuples.

    Each pixel runs exactly the operations the pixel function runs for it, in the same order, so the
    image is the same. One call serves four pixels: on BENCH-3 this nearly halved the kernel's time per
    pixel, while a bare loop of the same geometry arithmetic runs as fast one pixel at a time, so what it
    saves is the pixel function's call and set-up per pixel, not arithmetic. The CPU kernel uses it for
    pixels with fewer than ``physics.LOCKSTEP_MIN`` (phi step, mosaic domain) samples (a still: one), whose
    samples the pixel function does not put side by side; ``pixel_groups_apply`` says for which flags."""
    SHAPE = flags.shape
    OS_THICK = flags.oversample_thick
    OS_POLAR = flags.oversample_polar
    OS_OMEGA = flags.oversample_omega
    CURVED = flags.curved_detector
    POINT_PIXEL = flags.point_pixel

    def pixels(spixels, fpixels, sc, vectors, xtal, sources, cells, fhkl):
        phisteps = cells.shape[0]
        mosaic_domains = cells.shape[1]
        nsources = sources.shape[0]
        fdet, sdet, odet, pix0, beam, polar_vector, a_star, b_star, c_star = _lab_vectors(vectors)
        no_water = sc.water_size == 0.0
        default_F = fhkl.dtype.type(xtal.default_F)
        equal_terms = 0
        if SHAPE == ph.SQUARE and xtal.Na == xtal.Nb and xtal.Na == xtal.Nc:
            equal_terms = ph.grating_terms(xtal.Na)
        # each pixel's running values, as the pixel function keeps them (pixel 0 ... 3)
        I0 = I1 = I2 = I3 = sc.I_bg
        polar0 = polar1 = polar2 = polar3 = 1.0 if sc.nopolar else 0.0
        omega0 = omega1 = omega2 = omega3 = 0.0
        capture0 = capture1 = capture2 = capture3 = 0.0
        omega_sum0 = omega_sum1 = omega_sum2 = omega_sum3 = 0.0
        for thick_tic in range(sc.detector_thicksteps):
            Odet = thick_tic * sc.detector_thickstep
            capture0 = capture1 = capture2 = capture3 = 1.0 if sc.detector_thick == 0.0 else 0.0
            for subS in range(sc.oversample):
                for subF in range(sc.oversample):
                    d0, omega0, capture0 = _subpixel(spixels[0], fpixels[0], subS, subF, Odet, thick_tic, sc, fdet,
                                                     sdet, odet, pix0, beam, omega0, capture0, CURVED, POINT_PIXEL,
                                                     OS_OMEGA, OS_THICK)
                    d1, omega1, capture1 = _subpixel(spixels[1], fpixels[1], subS, subF, Odet, thick_tic, sc, fdet,
                                                     sdet, odet, pix0, beam, omega1, capture1, CURVED, POINT_PIXEL,
                                                     OS_OMEGA, OS_THICK)
                    d2, omega2, capture2 = _subpixel(spixels[2], fpixels[2], subS, subF, Odet, thick_tic, sc, fdet,
                                                     sdet, odet, pix0, beam, omega2, capture2, CURVED, POINT_PIXEL,
                                                     OS_OMEGA, OS_THICK)
                    d3, omega3, capture3 = _subpixel(spixels[3], fpixels[3], subS, subF, Odet, thick_tic, sc, fdet,
                                                     sdet, odet, pix0, beam, omega3, capture3, CURVED, POINT_PIXEL,
                                                     OS_OMEGA, OS_THICK)
                    omega_sum0 += omega0
                    omega_sum1 += omega1
                    omega_sum2 += omega2
                    omega_sum3 += omega3
                    for source in range(nsources):
                        incident = (-sources[source, 0], -sources[source, 1], -sources[source, 2])
                        lam = sources[source, 3]
                        skip0, s_0, polar0, d0 = _source(d0, incident, lam, sc.dmin, sc.polarization, polar_vector,
                                                         polar0, OS_POLAR)
                        skip1, s_1, polar1, d1 = _source(d1, incident, lam, sc.dmin, sc.polarization, polar_vector,
                                                         polar1, OS_POLAR)
                        skip2, s_2, polar2, d2 = _source(d2, incident, lam, sc.dmin, sc.polarization, polar_vector,
                                                         polar2, OS_POLAR)
                        skip3, s_3, polar3, d3 = _source(d3, incident, lam, sc.dmin, sc.polarization, polar_vector,
                                                         polar3, OS_POLAR)
                        # a pixel's skipped source (-dmin) adds nothing (``_add_sample``)
                        for phi_tic in range(phisteps):
                            for mos_tic in range(mosaic_domains):
                                h_0, k_0, l_0 = ph.miller_index(cells, phi_tic, mos_tic, s_0[0], s_0[1], s_0[2])
                                h_1, k_1, l_1 = ph.miller_index(cells, phi_tic, mos_tic, s_1[0], s_1[1], s_1[2])
                                h_2, k_2, l_2 = ph.miller_index(cells, phi_tic, mos_tic, s_2[0], s_2[1], s_2[2])
                                h_3, k_3, l_3 = ph.miller_index(cells, phi_tic, mos_tic, s_3[0], s_3[1], s_3[2])
                                hs = (h_0, h_1, h_2, h_3)
                                ks = (k_0, k_1, k_2, k_3)
                                ls = (l_0, l_1, l_2, l_3)
                                h0s = (ph.nearest_index(h_0), ph.nearest_index(h_1), ph.nearest_index(h_2),
                                       ph.nearest_index(h_3))
                                k0s = (ph.nearest_index(k_0), ph.nearest_index(k_1), ph.nearest_index(k_2),
                                       ph.nearest_index(k_3))
                                l0s = (ph.nearest_index(l_0), ph.nearest_index(l_1), ph.nearest_index(l_2),
                                       ph.nearest_index(l_3))
                                F_latts = ph.lattice_factor_4(SHAPE, hs, ks, ls, h0s, k0s, l0s, equal_terms, xtal.Na,
                                                              xtal.Nb, xtal.Nc, xtal.fudge, a_star, b_star, c_star)
                                I0 = _add_sample(I0, skip0, F_latts[0], h0s[0], k0s[0], l0s[0], no_water, fhkl, xtal,
                                                 default_F, capture0, polar0, omega0, OS_THICK, OS_POLAR, OS_OMEGA)
                                I1 = _add_sample(I1, skip1, F_latts[1], h0s[1], k0s[1], l0s[1], no_water, fhkl, xtal,
                                                 default_F, capture1, polar1, omega1, OS_THICK, OS_POLAR, OS_OMEGA)
                                I2 = _add_sample(I2, skip2, F_latts[2], h0s[2], k0s[2], l0s[2], no_water, fhkl, xtal,
                                                 default_F, capture2, polar2, omega2, OS_THICK, OS_POLAR, OS_OMEGA)
                                I3 = _add_sample(I3, skip3, F_latts[3], h0s[3], k0s[3], l0s[3], no_water, fhkl, xtal,
                                                 default_F, capture3, polar3, omega3, OS_THICK, OS_POLAR, OS_OMEGA)
        values = (_pixel_value(I0, sc, capture0, polar0, omega0, OS_THICK, OS_POLAR, OS_OMEGA),
                  _pixel_value(I1, sc, capture1, polar1, omega1, OS_THICK, OS_POLAR, OS_OMEGA),
                  _pixel_value(I2, sc, capture2, polar2, omega2, OS_THICK, OS_POLAR, OS_OMEGA),
                  _pixel_value(I3, sc, capture3, polar3, omega3, OS_THICK, OS_POLAR, OS_OMEGA))
        return values, (omega_sum0, omega_sum1, omega_sum2, omega_sum3)

    real_physics = make_physics(flags.precision, flags.shape)
    return njit(**JIT_OPTIONS)(specialise(pixels, flags, "pixels4", ph=real_physics))


@njit(inline="always", **JIT_OPTIONS)
def _lab_vectors(vectors):
    """The rows of the kernels' ``vectors`` table as 3-tuples: ``(fdet, sdet, odet, pix0, beam, polar_vector,
    a_star, b_star, c_star)``. Inlined: it takes an array (see ``physics.miller_index``)."""
    return ((vectors[FDET, 0], vectors[FDET, 1], vectors[FDET, 2]),
            (vectors[SDET, 0], vectors[SDET, 1], vectors[SDET, 2]),
            (vectors[ODET, 0], vectors[ODET, 1], vectors[ODET, 2]),
            (vectors[PIX0, 0], vectors[PIX0, 1], vectors[PIX0, 2]),
            (vectors[BEAM, 0], vectors[BEAM, 1], vectors[BEAM, 2]),
            (vectors[POLAR, 0], vectors[POLAR, 1], vectors[POLAR, 2]),
            (vectors[A_STAR, 0], vectors[A_STAR, 1], vectors[A_STAR, 2]),
            (vectors[B_STAR, 0], vectors[B_STAR, 1], vectors[B_STAR, 2]),
            (vectors[C_STAR, 0], vectors[C_STAR, 1], vectors[C_STAR, 2]))


@njit(inline="always", **JIT_OPTIONS)
def _subpixel_position(spixel, fpixel, subS, subF, Odet, sc, fdet, sdet, odet, pix0, beam, curved):
    """``(Fdet, Sdet, pixel_pos)`` of sub-pixel (subS, subF) of a pixel in sensor layer depth ``Odet``
    (C L2694-2716; with -curved_det the flat position rotated onto the sphere)."""
    Fdet = sc.subpixel_size * (fpixel * sc.oversample + subF) + sc.subpixel_size / 2.0
    Sdet = sc.subpixel_size * (spixel * sc.oversample + subS) + sc.subpixel_size / 2.0
    pixel_pos = (
        Fdet * fdet[0] + Sdet * sdet[0] + Odet * odet[0] + pix0[0],
        Fdet * fdet[1] + Sdet * sdet[1] + Odet * odet[1] + pix0[1],
        Fdet * fdet[2] + Sdet * sdet[2] + Odet * odet[2] + pix0[2])
    if curved:
        v = ph.scale(beam, sc.distance)
        v = ph.rotate_axis(v, sdet, pixel_pos[1] / sc.distance)
        pixel_pos = ph.rotate_axis(v, fdet, pixel_pos[2] / sc.distance)
    return Fdet, Sdet, pixel_pos


@njit(inline="always", **JIT_OPTIONS)
def _subpixel(spixel, fpixel, subS, subF, Odet, thick_tic, sc, fdet, sdet, odet, pix0, beam, omega_pixel, capture,
              curved, point_pixel, os_omega, os_thick):
    """One pixel's sub-pixel step of the pixel function, as it does it: ``(diffracted, omega_pixel,
    capture)``."""
    _, _, pixel_pos = _subpixel_position(spixel, fpixel, subS, subF, Odet, sc, fdet, sdet, odet, pix0, beam, curved)
    airpath, diffracted = ph.unitize(pixel_pos)
    if omega_pixel == 0.0 or os_omega:
        omega_pixel = ph.solid_angle(sc.pixel_size, airpath, sc.close_distance, point_pixel)
    if capture == 0.0 or os_thick:
        parallax = ph.dot(diffracted, odet)
        capture = ph.capture_fraction(thick_tic, sc.detector_thickstep, sc.detector_mu, parallax)
    return diffracted, omega_pixel, capture


@njit(inline="always", **JIT_OPTIONS)
def _source(diffracted, incident, lam, dmin, polarization, polar_vector, polar, os_polar):
    """One pixel's source step of the pixel function: ``(skipped, scattering, polar, diffracted)``; a
    source that -dmin skips changes nothing."""
    scattering = ((diffracted[0] - incident[0]) / lam,
                  (diffracted[1] - incident[1]) / lam,
                  (diffracted[2] - incident[2]) / lam)
    stol = 0.5 * ph.magnitude(scattering)
    if dmin > 0.0 and stol > 0.0:
        if dmin > 0.5 / stol:
            return True, scattering, polar, diffracted
    if polar == 0.0 or os_polar:
        polar, diffracted = ph.polarization_factor(polarization, incident, diffracted, polar_vector)
    return False, scattering, polar, diffracted


@njit(inline="always", **JIT_OPTIONS)
def _add_sample(I, skipped, F_latt, h0, k0, l0, no_water, fhkl, xtal, default_F, capture, polar, omega_pixel, os_thick,
                os_polar, os_omega):
    """One pixel's sum after one sample, as the pixel function adds it (nothing for a skipped source or a
    zero lattice factor without water). Inlined: it reads the F table (see ``physics.miller_index``)."""
    if skipped or (F_latt == 0.0 and no_water):
        return I
    if ph.in_table(xtal.hkls, h0, k0, l0, xtal.h_min, xtal.h_max, xtal.k_min, xtal.k_max, xtal.l_min, xtal.l_max):
        F_cell = fhkl[h0 - xtal.h_min, k0 - xtal.k_min, l0 - xtal.l_min]
    else:
        F_cell = default_F
    I += F_cell * F_cell * F_latt * F_latt
    if os_thick:
        I *= capture
    if os_polar:
        I *= polar
    if os_omega:
        I *= omega_pixel
    return I


@njit(inline="always", **JIT_OPTIONS)
def _add_samples_8(I, F_latts, h0s, k0s, l0s, no_water, fhkl, xtal, default_F, capture, polar, omega_pixel, os_thick,
                   os_polar, os_omega):
    """``_add_sample`` of eight samples (8-tuples) in order, unrolled: the pixel function's loop over a group's
    lanes without -printout or interpolation (indexing a tuple by a loop variable keeps it in memory; this
    keeps it in registers: 5% of BENCH-1's kernel time)."""
    I = _add_sample(I, False, F_latts[0], h0s[0], k0s[0], l0s[0], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[1], h0s[1], k0s[1], l0s[1], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[2], h0s[2], k0s[2], l0s[2], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[3], h0s[3], k0s[3], l0s[3], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[4], h0s[4], k0s[4], l0s[4], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[5], h0s[5], k0s[5], l0s[5], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    I = _add_sample(I, False, F_latts[6], h0s[6], k0s[6], l0s[6], no_water, fhkl, xtal, default_F, capture, polar,
                    omega_pixel, os_thick, os_polar, os_omega)
    return _add_sample(I, False, F_latts[7], h0s[7], k0s[7], l0s[7], no_water, fhkl, xtal, default_F, capture, polar,
                       omega_pixel, os_thick, os_polar, os_omega)


@njit(inline="always", **JIT_OPTIONS)
def _pixel_value(I, sc, capture, polar, omega_pixel, os_thick, os_polar, os_omega):
    """A pixel's photons from its sum ``I`` (C L3033-3038): the fluence and the corrections that the
    oversample flags did not apply per sample."""
    test = sc.r_e_sqr_fluence * I / sc.steps
    if not os_thick:
        test *= capture
    if not os_polar:
        test *= polar
    if not os_omega:
        test *= omega_pixel
    return test


@njit(**JIT_OPTIONS)
def pixel_task(spixel, fpixel, fpixels, sc, mask, interpolate, carryover):
    """Whether a kernel renders pixel (spixel, fpixel) in this pass, and how: ``(render,
    interpolating, first_loop)``, the pixel function's arguments. The one place this is decided: the
    CPU and CUDA kernels and the serial trace (``nbnumba.render.plan``) call it (``sc``: the pass's
    ``types.PassArgs``; ``interpolate``/``carryover``: the kernel's compile-time flags). A pixel is
    rendered when it is inside the ROI, not masked (``mask`` of shape (0, 0): no mask) and at or after
    ``sc.start_pixel`` in row-major order."""
    imgidx = spixel * fpixels + fpixel
    if (spixel < sc.roi_ymin or spixel > sc.roi_ymax or fpixel < sc.roi_xmin or fpixel > sc.roi_xmax
            or imgidx < sc.start_pixel):
        return False, INTERP_OFF, False
    if mask.shape[0] > 0:
        if mask[spixel, fpixel] == 0:
            return False, INTERP_OFF, False
    interpolating = INTERP_OFF
    if interpolate:
        if imgidx < sc.interp_cut_pixel:
            interpolating = INTERP_ON
        elif imgidx == sc.interp_cut_pixel:
            interpolating = INTERP_CUT
    return True, interpolating, carryover and imgidx == sc.first_eval_pixel

