# SPDX-License-Identifier: BSD-3-Clause
"""A run's input files, read as nanoBragg.c reads them and where it reads them: the -mask/-img images
(their headers are applied by the argv rules, their pixels used by set-up: each file is read once per
run), the structure factors (-hkl, or the Fdump.bin cache), the -mat matrix, the -sourcefile and -stol
tables. ``params_from_argv`` is the public argv entry: the argv rules with this module's image reader."""
from __future__ import annotations

import os
from collections import OrderedDict

from nbnumba.argv import parse as argv_rules
from nbnumba.errors import InputError
from nbnumba.io.hkl import read_fdump, read_hkl, write_fdump
from nbnumba.io.matrix import read_mosflm_matrix
from nbnumba.io.smv import SMVImage, read_smv
from nbnumba.io.textcols import read_text_columns
from nbnumba.params import Params

#: images read recently: {(path, flag): (stat key, SMVImage)}; the argv rules read a -mask file's
#: header and set-up its pixels from the same read
_IMAGES: OrderedDict = OrderedDict()
_IMAGES_KEPT = 2


def read_image(path: str, what: str) -> SMVImage:
    """The SMV image ``path`` named by flag ``what`` (``nbnumba.io.smv.read_smv``), from memory if the
    file is unchanged since it was last read (same size, modification time and inode)."""
    try:
        st = os.stat(path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    except (OSError, ValueError):
        stamp = None  # read_smv reports it
    key = (os.path.abspath(path), what)
    entry = _IMAGES.get(key)
    if entry is not None and stamp is not None and entry[0] == stamp:
        return entry[1]
    frame = read_smv(path, what)
    if stamp is not None:
        _IMAGES[key] = (stamp, frame)
        _IMAGES.move_to_end(key)
        while len(_IMAGES) > _IMAGES_KEPT:
            _IMAGES.popitem(last=False)
    return frame


def params_from_argv(argv: list[str]) -> tuple[Params, list[str]]:
    """Params from nanoBragg command-line arguments (after the program name), as nanoBragg.c's
    argument loop sets its globals, and the warnings for flags it parses and ignores; InputError for
    bad input. See ``nbnumba.argv.parse.params_from_argv`` for the rules."""
    return argv_rules.params_from_argv(argv, read_image)


def read_mask(p: Params, shape, log):
    """The -mask pixels (uint16, 0 = skip), or None without -mask; InputError if the image is not the
    detector's size. Logs C's 'reading FILE' line (C L4213; its 'mmap(FILE) = <heap address>' line is
    left out)."""
    if p.maskfilename is None:
        return None
    frame = read_image(p.maskfilename, "-mask")
    if frame.data.shape != shape:
        raise InputError("-mask %s: image is %d x %d pixels but the detector is %d x %d"
                         % (p.maskfilename, frame.width, frame.height, shape[1], shape[0]))
    log("reading %s" % p.maskfilename)
    return frame.data


def read_matrix(p: Params):
    """The -mat file's reciprocal cell (``nbnumba.io.matrix``), or None without -mat."""
    if p.matfilename is None:
        return None
    return read_mosflm_matrix(p.matfilename, p.lambda0)


def load_structure_factors(p: Params, log, write_dump: bool):
    """The structure-factor table from -hkl, else from the dump file if it exists, else None; with
    ``write_dump`` an -hkl table is cached in the dump file as C does."""
    if p.hklfilename is None:
        if os.path.exists(p.dumpfilename):
            log("reading Fs from %s" % p.dumpfilename)
            return read_fdump(p.dumpfilename)
        return None
    log("counting entries in %s" % p.hklfilename)
    table = read_hkl(p.hklfilename, p.default_F)
    if p.default_F != 0.0:
        log("initializing to default_F = %g:" % p.default_F)
        log("done initializing:")
    log("re-reading %s" % p.hklfilename)
    if write_dump:
        if write_fdump(p.dumpfilename, table):
            log("writing dump file for next time: %s" % p.dumpfilename)
        else:
            log("WARNING: unable to open dump file: %s" % p.dumpfilename)
    return table


def read_stol(p: Params, log) -> None:
    """Read the -stol table as C does (and, as C, use none of it)."""
    if p.stolfilename is not None:
        log("reading %s" % p.stolfilename)
        read_text_columns(p.stolfilename, 2, "-stol")


def read_sources(p: Params):
    """The -sourcefile rows (X Y Z weight wavelength), or None without it."""
    if p.sourcefilename is None:
        return None
    return read_text_columns(p.sourcefilename, 5, "-sourcefile")
