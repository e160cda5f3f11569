# SPDX-License-Identifier: BSD-3-Clause
"""CPU pixel kernel: port of the pixel loop of nanoBragg.c (L2584-3089), parallel over detector rows
like the C program's OpenMP loop. ``make_cpu_kernel(flags)`` specialises it at compile time."""
from functools import lru_cache

import numpy as np
from numba import njit, prange

from .._jit import JIT_OPTIONS
from . import physics as ph
from .types import A_STAR, B_STAR, BEAM, C_STAR, FDET, ODET, PIX0, POLAR, SDET, KernelFlags


@lru_cache(maxsize=None)
def make_cpu_kernel(flags: KernelFlags):
    """Compile (once per flag set) the pixel kernel.

    The kernel renders every pixel ``idx >= start_pixel`` of the ROI/mask and writes
    ``floatimage``, per-row solid-angle sums, when interpolating the first interpolation failure
    of each pixel, and with the phi carryover whether a pixel evaluated any phi step (see
    ``nbnumba.simulation``)."""
    SHAPE = flags.shape
    INTERPOLATE = flags.interpolate
    CARRYOVER = flags.phi_carryover
    OS_THICK = flags.oversample_thick
    OS_POLAR = flags.oversample_polar
    OS_OMEGA = flags.oversample_omega
    CURVED = flags.curved_detector
    POINT_PIXEL = flags.point_pixel

    @njit(parallel=True, **JIT_OPTIONS)
    def render(floatimage, omega_rows, interp_event, evaluated, mask, sc, vectors, xtal, sources,
               cells_first, cells_carry, fhkl):
        spixels, fpixels = floatimage.shape
        phisteps = cells_carry.shape[0]
        mosaic_domains = cells_carry.shape[1]
        nsources = sources.shape[0]
        oversample = sc.oversample
        use_mask = mask.shape[0] > 0
        for spixel in prange(spixels):
            fdet = (vectors[FDET, 0], vectors[FDET, 1], vectors[FDET, 2])
            sdet = (vectors[SDET, 0], vectors[SDET, 1], vectors[SDET, 2])
            odet = (vectors[ODET, 0], vectors[ODET, 1], vectors[ODET, 2])
            pix0 = (vectors[PIX0, 0], vectors[PIX0, 1], vectors[PIX0, 2])
            beam = (vectors[BEAM, 0], vectors[BEAM, 1], vectors[BEAM, 2])
            polar_vector = (vectors[POLAR, 0], vectors[POLAR, 1], vectors[POLAR, 2])
            a_star = (vectors[A_STAR, 0], vectors[A_STAR, 1], vectors[A_STAR, 2])
            b_star = (vectors[B_STAR, 0], vectors[B_STAR, 1], vectors[B_STAR, 2])
            c_star = (vectors[C_STAR, 0], vectors[C_STAR, 1], vectors[C_STAR, 2])
            omega_row = 0.0
            for fpixel in range(fpixels):
                if (fpixel < sc.roi_xmin or fpixel > sc.roi_xmax
                        or spixel < sc.roi_ymin or spixel > sc.roi_ymax):
                    continue
                imgidx = spixel * fpixels + fpixel
                if imgidx < sc.start_pixel:
                    continue
                if use_mask:
                    if mask[spixel, fpixel] == 0:
                        continue
                # c-parity: the first phi loop of the whole image starts from the unrotated cell
                first_loop = CARRYOVER and imgidx == sc.first_eval_pixel
                any_loop = False
                interpolating = INTERPOLATE and imgidx <= sc.interp_cut_pixel
                eval_count = 0
                first_event = -1

                I = sc.I_bg
                polar = 0.0
                if sc.nopolar:
                    polar = 1.0
                omega_pixel = 0.0
                capture = 0.0
                Fdet = 0.0
                Sdet = 0.0
                for thick_tic in range(sc.detector_thicksteps):
                    Odet = thick_tic * sc.detector_thickstep
                    capture = 0.0
                    if sc.detector_thick == 0.0:
                        capture = 1.0
                    for subS in range(oversample):
                        for subF in range(oversample):
                            Fdet = sc.subpixel_size * (fpixel * oversample + subF) + sc.subpixel_size / 2.0
                            Sdet = sc.subpixel_size * (spixel * oversample + subS) + sc.subpixel_size / 2.0
                            pixel_pos = (
                                Fdet * fdet[0] + Sdet * sdet[0] + Odet * odet[0] + pix0[0],
                                Fdet * fdet[1] + Sdet * sdet[1] + Odet * odet[1] + pix0[1],
                                Fdet * fdet[2] + Sdet * sdet[2] + Odet * odet[2] + pix0[2])
                            if CURVED:
                                v = ph.scale(beam, sc.distance)
                                v = ph.rotate_axis(v, sdet, pixel_pos[1] / sc.distance)
                                pixel_pos = ph.rotate_axis(v, fdet, pixel_pos[2] / sc.distance)
                            airpath, diffracted = ph.unitize(pixel_pos)
                            if omega_pixel == 0.0 or OS_OMEGA:
                                omega_pixel = ph.solid_angle(sc.pixel_size, airpath, sc.close_distance, POINT_PIXEL)
                            omega_row += omega_pixel
                            if capture == 0.0 or OS_THICK:
                                parallax = ph.dot(diffracted, odet)
                                capture = ph.capture_fraction(thick_tic, sc.detector_thickstep, sc.detector_mu, parallax)

                            for source in range(nsources):
                                incident = (-sources[source, 0], -sources[source, 1], -sources[source, 2])
                                lam = sources[source, 3]
                                scattering = ((diffracted[0] - incident[0]) / lam,
                                              (diffracted[1] - incident[1]) / lam,
                                              (diffracted[2] - incident[2]) / lam)
                                stol = 0.5 * ph.magnitude(scattering)
                                if sc.dmin > 0.0 and stol > 0.0:
                                    if sc.dmin > 0.5 / stol:
                                        continue
                                if polar == 0.0 or OS_POLAR:
                                    polar, diffracted = ph.polarization_factor(
                                        sc.polarization, incident, diffracted, polar_vector)

                                for phi_tic in range(phisteps):
                                    for mos_tic in range(mosaic_domains):
                                        if CARRYOVER and first_loop:
                                            cell = cells_first[phi_tic, mos_tic]
                                        else:
                                            cell = cells_carry[phi_tic, mos_tic]
                                        h = cell[0, 0] * scattering[0] + cell[0, 1] * scattering[1] + cell[0, 2] * scattering[2]
                                        k = cell[1, 0] * scattering[0] + cell[1, 1] * scattering[1] + cell[1, 2] * scattering[2]
                                        l = cell[2, 0] * scattering[0] + cell[2, 1] * scattering[1] + cell[2, 2] * scattering[2]
                                        h0 = int(np.ceil(h - 0.5))
                                        k0 = int(np.ceil(k - 0.5))
                                        l0 = int(np.ceil(l - 0.5))
                                        F_latt = ph.lattice_factor(SHAPE, h, k, l, h0, k0, l0, xtal.Na, xtal.Nb,
                                                                   xtal.Nc, xtal.fudge, a_star,
                                                                   b_star, c_star)
                                        if F_latt == 0.0 and sc.water_size == 0.0:
                                            continue
                                        interp_here = False
                                        if INTERPOLATE and interpolating:
                                            if imgidx < sc.interp_cut_pixel or eval_count < sc.interp_cut_eval:
                                                if ph.interpolation_out_of_range(
                                                        h, k, l, xtal.h_min, xtal.k_min, xtal.l_min,
                                                        xtal.h_range, xtal.k_range, xtal.l_range):
                                                    if first_event < 0:
                                                        first_event = eval_count
                                                else:
                                                    interp_here = True
                                            eval_count += 1
                                        if INTERPOLATE and interp_here:
                                            F_cell = ph.tricubic_F(fhkl, h, k, l, xtal.h_min, xtal.k_min, xtal.l_min)
                                        else:
                                            F_cell = ph.nearest_F(fhkl, xtal.hkls, h0, k0, l0, xtal.h_min,
                                                                  xtal.h_max, xtal.k_min, xtal.k_max,
                                                                  xtal.l_min, xtal.l_max, xtal.default_F)
                                        I += F_cell * F_cell * F_latt * F_latt
                                        if OS_THICK:
                                            I *= capture
                                        if OS_POLAR:
                                            I *= polar
                                        if OS_OMEGA:
                                            I *= omega_pixel
                                if CARRYOVER:
                                    first_loop = False
                                    any_loop = True

                test = sc.r_e_sqr_fluence * I / sc.steps
                if not OS_THICK:
                    test *= capture
                if not OS_POLAR:
                    test *= polar
                if not OS_OMEGA:
                    test *= omega_pixel
                floatimage[spixel, fpixel] = np.float32(test)
                if INTERPOLATE:
                    interp_event[spixel, fpixel] = first_event
                if CARRYOVER:
                    evaluated[spixel, fpixel] = any_loop
            omega_rows[spixel] = omega_row

    return render
