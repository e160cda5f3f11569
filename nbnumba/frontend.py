# SPDX-License-Identifier: BSD-3-Clause
"""One command-line run: simulate, print what nanoBragg.c prints, write the files it writes."""
import math
import sys

import numpy as np

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
    paths += [path for path in (params.hdf5filename, params.hdf5_noise_filename) if path is not None]
    return paths


def _finite_int(value):
    return "%d" % int(value) if math.isfinite(value) else "nan"


def printout_lines(result, fpixel, spixel, trace):
    """C's -printout block for one pixel (L3051-3072), from the pixel's trace (the values of its
    last evaluated sample; ``nan`` where C would print stale values of an earlier pixel)."""
    from .kernels import types as kt
    s = result.setup
    t = trace
    pos = (t[kt.TRACE_POS_X], t[kt.TRACE_POS_Y], t[kt.TRACE_POS_Z])
    twotheta = math.atan2(math.sqrt(pos[1] * pos[1] + pos[2] * pos[2]), pos[0])
    test = math.sin(twotheta / 2.0) / (s.params.lambda0 * 1e10)
    if math.isfinite(t[kt.TRACE_PHI_TIC]):
        table = s.cells_first if t[kt.TRACE_CELL_TABLE] == 0.0 else s.cells_carry
        a, b, c = table[int(t[kt.TRACE_PHI_TIC]), int(t[kt.TRACE_MOS_TIC])]
    else:  # no sample evaluated: the unrotated cell
        a, b, c = s.crystal.a, s.crystal.b, s.crystal.c
    return [
        "%4d %4d : stol = %g or %g" % (fpixel, spixel, t[kt.TRACE_STOL], test),
        "at %g %g %g" % pos,
        "hkl= %f %f %f  hkl0= %s %s %s" % (t[kt.TRACE_H], t[kt.TRACE_K], t[kt.TRACE_L], _finite_int(t[kt.TRACE_H0]),
                                         _finite_int(t[kt.TRACE_K0]), _finite_int(t[kt.TRACE_L0])),
        " F_cell=%g  F_latt=%g   I = %g" % (t[kt.TRACE_F_CELL], t[kt.TRACE_F_LATT], t[kt.TRACE_I]),
        "I/steps %15.10g" % (t[kt.TRACE_I] / s.n_steps),
        "polar   %15.10g" % t[kt.TRACE_POLAR],
        "omega   %15.10g" % t[kt.TRACE_OMEGA],
        "capfrac %15.10g" % t[kt.TRACE_CAPTURE],
        "pixel   %15.10g" % float(result.floatimage[spixel, fpixel]),
        "real-space cell vectors (Angstrom):",
        "     %-10s  %-10s  %-10s" % ("a", "b", "c"),
        "X: %11.8f %11.8f %11.8f" % (a[0] * 1e10, b[0] * 1e10, c[0] * 1e10),
        "Y: %11.8f %11.8f %11.8f" % (a[1] * 1e10, b[1] * 1e10, c[1] * 1e10),
        "Z: %11.8f %11.8f %11.8f" % (a[2] * 1e10, b[2] * 1e10, c[2] * 1e10),
    ]


def _render_messages(result, log):
    """What C prints while rendering: the interpolation switch-off warning and the -printout blocks,
    in pixel order (the warning comes when the render reaches the pixel where it happened)."""
    from .simulation import interpolation_failure, trace_pixel
    p = result.setup.params
    failure = interpolation_failure(result)
    fpixels = result.setup.detector.fpixels
    warn_at = failure[1] * fpixels + failure[0] if failure else None

    def warn():
        log("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: %g,%g,%g,%d,%d,%d "
            % failure[2])
        log("WARNING: further warnings will not be printed! ")

    if p.printout:
        rendered = result.setup.rendered()
        if p.printout_fpixel < 0:
            pixels = zip(*np.nonzero(rendered))
        else:
            f, s_ = p.printout_fpixel, p.printout_spixel
            inside = 0 <= s_ < rendered.shape[0] and 0 <= f < rendered.shape[1] and rendered[s_, f]
            pixels = [(s_, f)] if inside else []
        for spixel, fpixel in pixels:
            spixel, fpixel = int(spixel), int(fpixel)
            if warn_at is not None and spixel * fpixels + fpixel >= warn_at:
                warn()
                warn_at = None
            for line in printout_lines(result, fpixel, spixel, trace_pixel(result, fpixel, spixel)):
                log(line)
    if warn_at is not None:
        warn()


class _ProgressBar:
    """The render's progress on stderr (C prints "N% done" lines instead): a click progress bar over
    detector rows, shown once a render has taken longer than ``DELAY`` seconds, and only on a
    terminal."""
    DELAY = 0.5

    def __init__(self):
        import time
        self._clock = time.monotonic
        self._start = self._clock()
        self._bar = None

    def __call__(self, done_rows, total_rows):
        import click
        if self._bar is None:
            if self._clock() - self._start < self.DELAY or done_rows >= total_rows:
                return
            self._bar = click.progressbar(length=total_rows, label="rendering", file=sys.stderr)
            self._bar.__enter__()
            self._done = 0
        self._bar.update(done_rows - self._done)
        self._done = done_rows
        if done_rows >= total_rows:
            self.close()

    def close(self):
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def progress_meter(params: Params):
    """A progress callback for ``simulate``, or None: off with -noprogress, with -printout (as in C)
    and when stderr is not a terminal."""
    if not params.progress_meter or params.printout or not sys.stderr.isatty():
        return None
    return _ProgressBar()


def _no_progress(_done_rows, _total_rows):
    pass


def run(params: Params, log=_print) -> int:
    """Render ``params`` and write ``-floatfile``, ``-intfile``, the PGM and the noise image (and
    ``Fdump.bin``), printing C's lines, then the ``--hdf5``/``--hdf5-noise`` NXmx files; returns the
    exit status. Every output is written to a temporary name and renamed, so an error or an
    interrupt leaves no partial file."""
    from .io.atomic import check_writable
    from .io.pgm import pgm_pixels, pgm_scale, write_pgm
    from .io.raw import write_float_image
    from .io.smv import smv_header_text, write_smv
    from .noise import noise_image
    from .rng import seed_array
    from .simulation import int_image, intfile_scale, simulate, smv_header_values

    for path in output_paths(params):
        check_writable(path)
    if params.hdf5filename is not None or params.hdf5_noise_filename is not None:
        from .io.nxmx import compression_options
        compression_options(params.hdf5_compression)  # bitshuffle without hdf5plugin: refused before rendering
    progress = progress_meter(params)
    try:
        # always in blocks of rows: Ctrl-C (handled between compiled calls) stops the render within
        # a block instead of at its end; the image does not depend on the blocking
        result = simulate(params, log=log, write_dump=True, progress=progress or _no_progress)
    finally:
        if progress is not None:
            progress.close()
    setup = result.setup
    stats = result.stats
    _render_messages(result, log)
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

    counts = None
    if params.calculate_noise or params.hdf5_noise_filename is not None:
        # --hdf5-noise: the same deviates without the 16-bit clamp, from the same random sequence
        # (also with -nonoise, then silently: C prints nothing about a noise image it does not make)
        if params.hdf5_noise_filename is not None:
            counts = np.zeros(result.floatimage.shape, np.int32)
        pixels, photons, overloads = noise_image(result.floatimage, setup.roi, params.adc_offset,
                                                 seed_array(setup.seed), setup.streams.table, counts)
    if params.calculate_noise:
        log("%.0f photons on noise image (%d overloads)" % (photons, overloads))
        log("writing %s as 2-byte integers" % params.noisefilename)
        write_smv(params.noisefilename, header, pixels)

    # port-only NeXus copies, after C's files; nothing on stdout (it stays line for line C's)
    if params.hdf5filename is not None or counts is not None:
        from .io.nxmx import write_nxmx
        if params.hdf5filename is not None:
            write_nxmx(params.hdf5filename, setup, result.floatimage, compression=params.hdf5_compression)
        if counts is not None:
            write_nxmx(params.hdf5_noise_filename, setup, counts, dtype="int32",
                       compression=params.hdf5_compression)
    return 0
