# SPDX-License-Identifier: BSD-3-Clause
"""One command-line run: simulate, print what nanoBragg.c prints, write the files it writes."""
import math
import sys

from .params import Params


def _print(line):
    sys.stdout.write(line + "\n")


def output_paths(params: Params):
    """The files a run writes, in C's order (Fdump.bin aside)."""
    paths = [params.floatfilename, params.intfilename]
    if params.write_pgm:
        paths.append(params.pgmfilename)
    if params.calculate_noise:
        paths.append(params.noisefilename)
    return paths


def run(params: Params, log=_print) -> int:
    """Render ``params`` and write ``-floatfile``, ``-intfile``, the PGM and the noise image (and
    ``Fdump.bin``), printing C's lines; returns the exit status. Every output is written to a
    temporary name and renamed, so an error or an interrupt leaves no partial file."""
    from .io.atomic import check_writable
    from .io.pgm import pgm_pixels, pgm_scale, write_pgm
    from .io.raw import write_float_image
    from .io.smv import smv_header_text, write_smv
    from .noise import noise_image
    from .rng import seed_array
    from .simulation import int_image, intfile_scale, simulate, smv_header_values

    for path in output_paths(params):
        check_writable(path)
    result = simulate(params, log=log, write_dump=True)
    setup = result.setup
    stats = result.stats
    log("")
    omega = result.omega_sum / setup.n_steps
    log("solid angle subtended by detector = %g steradian ( %g%% sphere)" % (omega, 100 * omega / 4 / math.pi))
    d = setup.detector
    log("writing %s as %d 4-byte floats" % (params.floatfilename, d.fpixels * d.spixels))
    write_float_image(params.floatfilename, result.floatimage)
    log("max_I = %g  at %g %g" % (stats["max_I"], stats["max_I_x"], stats["max_I_y"]))
    log("mean= %g rms= %g rmsd= %g" % (stats["mean"], stats["rms"], stats["rmsd"]))
    scale = intfile_scale(setup, stats["max_I"])
    log("intfile_scale = %g" % scale)
    log("writing %s as 2-byte integers" % params.intfilename)
    header = smv_header_text(smv_header_values(setup))
    write_smv(params.intfilename, header, int_image(result.floatimage, setup, scale))

    if params.write_pgm:
        pscale = pgm_scale(params.pgm_scale, scale, stats["rmsd"])
        log("pgm_scale = %g" % pscale)
        log("writing %s as 1-byte integers" % params.pgmfilename)
        write_pgm(params.pgmfilename, pgm_pixels(result.floatimage, setup.roi_mask(), pscale), pscale)

    if params.calculate_noise:
        pixels, photons, overloads = noise_image(result.floatimage, setup.roi, params.adc_offset,
                                                 seed_array(setup.seed), setup.streams.table)
        log("%.0f photons on noise image (%d overloads)" % (photons, overloads))
        log("writing %s as 2-byte integers" % params.noisefilename)
        write_smv(params.noisefilename, header, pixels)
    return 0
