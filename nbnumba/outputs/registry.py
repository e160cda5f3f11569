# SPDX-License-Identifier: BSD-3-Clause
"""The files a run writes, in one table: the flag that names each, whether a run writes it, how it is
written and the lines nanoBragg.c prints around it. The run (``nbnumba.run``), the check before
rendering and batch resume (``nbnumba.batch``) all read this table, so an output added here is
written, checked and verified alike. (``Fdump.bin`` is written during set-up, as C does, and is a
cache rather than an output.)

Every writer writes to a temporary name and renames (``nbnumba.io.atomic``), so an error or an
interrupt leaves no partial file."""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from nbnumba.errors import InputError
from nbnumba.io.atomic import all_or_nothing, check_writable
from nbnumba.io.nxmx import compression_options, write_nxmx
from nbnumba.io.pgm import pgm_pixels, pgm_scale, write_pgm
from nbnumba.io.raw import write_float_image
from nbnumba.io.smv import smv_header_text, write_smv
from nbnumba.outputs.images import int_image, intfile_scale, smv_header_values
from nbnumba.outputs.noise import noise_image
from nbnumba.outputs.trace import write_trace
from nbnumba.params import Params
from nbnumba.rng import seed_array


class Products:
    """What the output files are made of, each computed once, on first use, from a rendered image."""

    def __init__(self, setup, floatimage, stats, log, plan=None, rendering=None):
        self.setup = setup
        #: the render plan and rendering (``nbnumba.render.plan``), for outputs that re-evaluate pixels
        self.plan = plan
        self.rendering = rendering
        self.params = setup.params
        self.floatimage = floatimage
        self.stats = stats
        self.log = log

    @cached_property
    def intfile_scale(self):
        return intfile_scale(self.setup, self.stats["max_I"])

    @cached_property
    def smv_header(self):
        return smv_header_text(smv_header_values(self.setup))

    @cached_property
    def noise(self):
        """``(pixels, photons, overloads, counts)``: the noise image (uint16, clamped as C clamps it),
        its photon and overload counts, and with --hdf5-noise the same deviates as int32 counts without
        the 16-bit clamp (from the same random sequence)."""
        counts = None
        if self.params.hdf5_noise_filename is not None:
            counts = np.zeros(self.floatimage.shape, np.int32)
        setup = self.setup
        pixels, photons, overloads = noise_image(self.floatimage, setup.roi, self.params.adc_offset,
                                                 seed_array(setup.seed), setup.streams.table, counts)
        return pixels, photons, overloads, counts


def _write_float(path, out: Products):
    d = out.setup.detector
    out.log("writing %s as %d 4-byte floats" % (path, d.fpixels * d.spixels))
    write_float_image(path, out.floatimage)
    # C prints the statistics right after writing the float image (L3091-3134)
    stats = out.stats
    out.log("max_I = %g  at %g %g" % (stats["max_I"], stats["max_I_x"], stats["max_I_y"]))
    out.log("mean= %g rms= %g rmsd= %g" % (stats["mean"], stats["rms"], stats["rmsd"]))


def _write_int(path, out: Products):
    out.log("intfile_scale = %g" % out.intfile_scale)
    out.log("writing %s as 2-byte integers" % path)
    write_smv(path, out.smv_header, int_image(out.floatimage, out.setup, out.intfile_scale))


def _write_pgm(path, out: Products):
    scale = pgm_scale(out.params.pgm_scale, out.intfile_scale, out.stats["rmsd"])
    out.log("pgm_scale = %g" % scale)
    out.log("writing %s as 1-byte integers" % path)
    write_pgm(path, pgm_pixels(out.floatimage, out.setup.roi_mask(), scale), scale)


def _write_noise(path, out: Products):
    pixels, photons, overloads, _ = out.noise
    out.log("%.0f photons on noise image (%d overloads)" % (photons, overloads))
    out.log("writing %s as 2-byte integers" % path)
    write_smv(path, out.smv_header, pixels)


def _write_hdf5(path, out: Products):
    # port-only NeXus copy, after C's files; nothing on stdout (it stays line for line C's)
    write_nxmx(path, out.setup, out.floatimage, compression=out.params.hdf5_compression)


def _write_hdf5_noise(path, out: Products):
    # the noise deviates without the 16-bit clamp; with -nonoise made silently (C prints nothing
    # about a noise image it does not make)
    write_nxmx(path, out.setup, out.noise[3], dtype="int32", compression=out.params.hdf5_compression)


def _write_trace(path, out: Products):
    # port-only, after C's files; nothing on stdout. Every --trace-pixel naming this file, in argv order.
    pixels = [(f, s) for f, s, p in out.params.trace_pixels if p == path]
    write_trace(path, out.plan, out.rendering, pixels)


def _trace_paths(params: Params) -> list[str]:
    """The --trace-pixel files, each once, in the order first named."""
    return list(dict.fromkeys(path for _, _, path in params.trace_pixels))


def _field(name: str, enabled: Callable[[Params], bool] = None):
    """Paths of an output named by one Params field, written when ``enabled(params)`` (default: always)."""
    def paths(params: Params) -> list[str]:
        return [getattr(params, name)] if enabled is None or enabled(params) else []
    return paths


def _check_hdf5(params: Params):
    compression_options(params.hdf5_compression)  # bitshuffle without hdf5plugin: refused before rendering


@dataclass(frozen=True)
class Output:
    """One kind of output file."""
    #: the flag that names it
    flag: str
    #: ``paths(params)``: the files of this kind a run with these Params writes (0, 1 or more)
    paths: Callable[[Params], list]
    #: ``write(path, products)``: log C's lines and write the file
    write: Callable[[str, Products], None]
    #: ``check(params)``: refuse, before rendering, what would fail at writing time
    check: Callable[[Params], None] = None


#: every output file, in the order nanoBragg.c writes them (then the port's HDF5 copies)
OUTPUTS = (
    Output("-floatfile", _field("floatfilename"), _write_float),
    Output("-intfile", _field("intfilename"), _write_int),
    Output("-pgmfile", _field("pgmfilename", lambda p: p.write_pgm), _write_pgm),
    Output("-noisefile", _field("noisefilename", lambda p: p.calculate_noise), _write_noise),
    Output("--hdf5", _field("hdf5filename", lambda p: p.hdf5filename is not None), _write_hdf5, _check_hdf5),
    Output("--hdf5-noise", _field("hdf5_noise_filename", lambda p: p.hdf5_noise_filename is not None),
           _write_hdf5_noise, _check_hdf5),
    Output("--trace-pixel", _trace_paths, _write_trace),
)


def output_files(params: Params) -> list[tuple[Output, str]]:
    """The files a run with ``params`` writes: ``[(Output, path), ...]`` in writing order."""
    return [(out, path) for out in OUTPUTS for path in out.paths(params)]


def output_paths(params: Params) -> list[str]:
    """The paths a run with ``params`` writes, in writing order."""
    return [path for _, path in output_files(params)]


#: the input files a run reads: (flag, Params field); ``-dump`` is an input only without ``-hkl``
INPUTS = (("-hkl", "hklfilename"), ("-mat", "matfilename"), ("-img", "imginfilename"), ("-mask", "maskfilename"),
          ("-sourcefile", "sourcefilename"), ("-stol", "stolfilename"))


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one regular file (or one absent path): the same real path
    through symlinks, or the same inode (hard links). Two writes to one device or FIFO (``/dev/null``
    named twice) are not a clash."""
    try:
        st_a = os.stat(a)
    except OSError:
        st_a = None
    if st_a is not None and not stat.S_ISREG(st_a.st_mode):
        return False
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        st_b = os.stat(b)
    except OSError:
        return False
    return st_a is not None and (st_a.st_dev, st_a.st_ino) == (st_b.st_dev, st_b.st_ino)


def check_distinct_files(params: Params) -> None:
    """InputError naming both flags when an output would overwrite an input file or another output
    (``-floatfile X -intfile X``, ``-hkl X -dump X``, ``-mask m.img -intfile m.img``); nanoBragg.c
    overwrites them silently. ``Fdump.bin`` (``-dump``) is written during set-up after reading ``-hkl``,
    so it is an output then, and an input without ``-hkl`` when it exists (C reads it)."""
    outputs = [(out.flag, path) for out, path in output_files(params)]
    inputs = [(flag, getattr(params, name)) for flag, name in INPUTS if getattr(params, name) is not None]
    if params.hklfilename is not None:
        outputs.insert(0, ("-dump", params.dumpfilename))
    elif os.path.exists(params.dumpfilename):
        inputs.append(("-dump", params.dumpfilename))
    for i, (flag, path) in enumerate(outputs):
        for in_flag, in_path in inputs:
            if _same_file(path, in_path):
                raise InputError("%s %s: the same file as the input %s %s; writing it would overwrite the input "
                                 "(give another file name)" % (flag, path, in_flag, in_path))
        for earlier_flag, earlier in outputs[:i]:
            if _same_file(path, earlier):
                raise InputError("%s %s: the same file as %s %s; one output would overwrite the other (give "
                                 "another file name)" % (flag, path, earlier_flag, earlier))


def check_outputs(params: Params) -> None:
    """Refuse now (InputError) an output that could not be written after the render: a missing
    folder, a folder in the way, an HDF5 compression that is not installed, an output that would
    overwrite an input or another output (``check_distinct_files``)."""
    check_distinct_files(params)
    for out, path in output_files(params):
        check_writable(path)
        if out.check is not None:
            out.check(params)


def write_outputs(setup, floatimage, stats, omega_sum, log, plan=None, rendering=None) -> None:
    """Write every output file of the run in C's order, logging C's lines (from the solid-angle line on).
    ``plan``/``rendering`` (``nbnumba.render.plan``): for the outputs that re-evaluate pixels (--trace-pixel)."""
    log("")
    omega = omega_sum / setup.n_steps
    log("solid angle subtended by detector = %g steradian ( %g%% sphere)" % (omega, 100 * omega / 4 / math.pi))
    products = Products(setup, floatimage, stats, log, plan, rendering)
    # all or nothing: an output that fails (or Ctrl-C) leaves none of the run's files behind
    with all_or_nothing():
        for out, path in output_files(setup.params):
            out.write(path, products)
