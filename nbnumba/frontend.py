# SPDX-License-Identifier: BSD-3-Clause
"""One command-line run: simulate, print what nanoBragg.c prints, write the files it writes."""
import math
import sys

from .params import Params


def _print(line):
    sys.stdout.write(line + "\n")


def run(params: Params, log=_print) -> int:
    """Render ``params`` and write ``-floatfile``, ``-intfile`` (and ``Fdump.bin``); returns the exit
    status. Every output is written to a temporary name and renamed, so an error or an interrupt
    leaves no partial file."""
    from .io.atomic import check_writable
    from .io.raw import write_float_image
    from .io.smv import smv_header_text, write_smv
    from .simulation import int_image, intfile_scale, simulate, smv_header_values

    for path in (params.floatfilename, params.intfilename):
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
    write_smv(params.intfilename, smv_header_text(smv_header_values(setup)),
              int_image(result.floatimage, setup, scale))
    return 0
