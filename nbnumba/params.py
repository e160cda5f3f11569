# SPDX-License-Identifier: BSD-3-Clause
"""Simulation parameters: nanoBragg.c's globals after argument parsing, in the C program's internal units.

Lengths are metres, angles radians, unless a field says otherwise. Unset values follow the C program's
sentinels (-1 for "auto", NaN for "derive later"), so the resolution rules of nanoBragg.c apply unchanged.
Seeds are stored as the user gives them; set-up negates them where nanoBragg.c does (``-seed S`` is
C's ``seed = -S``). This module knows nothing of argv: ``nbnumba.argv`` maps flags onto these fields.
"""
from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field, fields, replace
from typing import Optional, Tuple

from .constants import (
    DEFAULT_FLUENCE,
    Choice,
    Compression,
    Convention,
    CrystalShape,
    Device,
    PhiCarryover,
    Pivot,
    Precision,
)
from .errors import InputError

Vec3 = Tuple[float, float, float]


@dataclass
class Params:
    """Every input of one nanoBragg run (see ``nbnumba.argv.flags`` for the flag that sets each field)."""

    # --- files ---
    hklfilename: Optional[str] = None
    matfilename: Optional[str] = None
    dumpfilename: str = "Fdump.bin"
    imginfilename: Optional[str] = None
    maskfilename: Optional[str] = None
    sourcefilename: Optional[str] = None
    stolfilename: Optional[str] = None
    floatfilename: str = "floatimage.bin"
    intfilename: str = "intimage.img"
    noisefilename: str = "noiseimage.img"
    pgmfilename: str = "image.pgm"

    # --- crystal ---
    Na: float = 1.0
    Nb: float = 1.0
    Nc: float = 1.0
    user_cell: bool = False
    cell_a: float = 0.0  # Angstrom
    cell_b: float = 0.0
    cell_c: float = 0.0
    cell_alpha: float = 0.0  # radians
    cell_beta: float = 0.0
    cell_gamma: float = 0.0
    misset_random: bool = False
    misset: Optional[Vec3] = None  # radians, rotations about x, y, z
    sample_x: float = 0.0
    sample_y: float = 0.0
    sample_z: float = 0.0
    xtal_shape: str = CrystalShape.SQUARE
    fudge: float = 1.0
    mosaic_spread: float = -1.0
    mosaic_domains: int = -1
    mosaic_seed: int = 12345678  # C: mosaic_seed = -12345678 (L261)
    misset_seed: Optional[int] = None  # None = the time-based default seed

    # --- structure factors ---
    default_F: float = 0.0
    interpolate: int = 2  # 0 off, 1 on, 2 auto

    # --- beam ---
    lambda0: float = 1.0e-10
    fluence: float = DEFAULT_FLUENCE
    flux: float = 0.0
    exposure: float = 1.0
    beamsize: float = 1.0e-4
    dispersion: float = 0.0
    dispsteps: int = -1
    dispstep: float = -1.0
    hdivrange: float = -1.0
    vdivrange: float = -1.0
    hdivstep: float = -1.0
    vdivstep: float = -1.0
    hdivsteps: int = -1
    vdivsteps: int = -1
    round_div: bool = True
    polarization: float = 0.0  # Kahn factor
    nopolar: bool = False
    source_distance: float = 10.0

    # --- detector ---
    beam_convention: str = Convention.MOSFLM
    detector_pivot: str = Pivot.BEAM
    distance: float = 100.0e-3
    close_distance: float = math.nan
    detsize_f: float = 102.4e-3
    detsize_s: float = 102.4e-3
    fpixels: int = 0
    spixels: int = 0
    pixel_size: float = 0.1e-3
    Xbeam: float = math.nan
    Ybeam: float = math.nan
    Xclose: float = math.nan
    Yclose: float = math.nan
    ORGX: float = math.nan
    ORGY: float = math.nan
    # initial vectors of nanoBragg.c (L241-249); conventions overwrite them, CUSTOM keeps them
    fdet_vector: Vec3 = (0.0, 0.0, 1.0)
    sdet_vector: Vec3 = (0.0, -1.0, 0.0)
    odet_vector: Vec3 = (1.0, 0.0, 0.0)
    beam_vector: Vec3 = (1.0, 0.0, 0.0)
    polar_vector: Vec3 = (0.0, 0.0, 1.0)
    spindle_vector: Vec3 = (0.0, 0.0, 1.0)
    twotheta_axis: Vec3 = (0.0, 1.0, 0.0)
    pix0_vector: Optional[Vec3] = None  # accepted and ignored, as in C (see docs/usage.md)
    detector_rotx: float = 0.0
    detector_roty: float = 0.0
    detector_rotz: float = 0.0
    detector_twotheta: float = 0.0
    curved_detector: bool = False
    point_pixel: bool = False
    detector_mu: float = -1.0
    detector_thick: float = 0.0
    detector_thickstep: float = -1.0
    detector_thicksteps: int = -1

    # --- rotation ---
    phi0: float = 0.0
    osc: float = -1.0
    phistep: float = -1.0
    phisteps: int = -1
    phi_carryover_mode: str = PhiCarryover.SPEC
    #: --device: where the pixel kernel runs, "auto" (GPU if numba-cuda finds one), "cpu" or "cuda";
    #: the default comes from $NBNUMBA_DEVICE when set
    device: str = field(default_factory=lambda: os.environ.get("NBNUMBA_DEVICE") or Device.AUTO)
    #: --precision: the pixel kernel's real type, "double" (nanoBragg.c's) or "single" (float32 per-sample
    #: arithmetic); the default comes from $NBNUMBA_PRECISION when set
    precision: str = field(default_factory=lambda: os.environ.get("NBNUMBA_PRECISION") or Precision.DOUBLE)

    # --- sampling ---
    oversample: int = -1
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    roi_xmin: int = -1
    roi_xmax: int = -1
    roi_ymin: int = -1
    roi_ymax: int = -1
    dmin: float = 0.0

    # --- background ---
    water_size: float = 0.0

    # --- output ---
    intfile_scale: float = 0.0
    pgm_scale: float = 0.0
    adc_offset: float = 40.0
    write_pgm: bool = True
    calculate_noise: bool = True
    seed: Optional[int] = None  # None = time-based
    printout: bool = False
    printout_fpixel: int = -1
    printout_spixel: int = -1
    progress_meter: bool = True
    # port-only outputs: NeXus NXmx (HDF5) copies of the float image and of the unclamped noise image
    hdf5filename: Optional[str] = None
    hdf5_noise_filename: Optional[str] = None
    hdf5_compression: str = Compression.GZIP
    #: --trace-pixel: ((fpixel, spixel, JSON path), ...), every sample of each pixel written as JSON
    trace_pixels: tuple = ()

    def copy(self, **changes) -> "Params":
        return replace(self, **changes)

    def validate(self) -> "Params":
        """Check every field's type and every choice; InputError naming the field otherwise.

        Params from ``nbnumba.params_from_argv`` always pass; this is for Params built in Python."""
        for name, kind, optional in _FIELD_KINDS:
            value = getattr(self, name)
            if type(value) is _PLAIN.get(kind) or (value is None and optional):
                continue  # most fields: a float or a bool (a tenth of the time of _check, every run)
            problem = _check(kind, value)
            if problem:
                raise InputError("Params.%s: expected %s, got %r" % (name, problem, value))
        if not _trace_pixels_ok(self.trace_pixels):
            raise InputError("Params.trace_pixels: expected a tuple of (fpixel, spixel, file name), got %r"
                             % (self.trace_pixels,))
        return self


#: the fields that take one of a fixed set of values
_CHOICES = {"xtal_shape": CrystalShape, "beam_convention": Convention, "detector_pivot": Pivot,
            "phi_carryover_mode": PhiCarryover, "device": Device, "hdf5_compression": Compression,
            "precision": Precision}


#: the kinds whose values of exactly this type always pass ``_check``
_PLAIN = {"float": float, "bool": bool}


def _trace_pixels_ok(value) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(entry, tuple) and len(entry) == 3 and _check("int", entry[0]) is None
        and _check("int", entry[1]) is None and _check("str", entry[2]) is None for entry in value)


def _kind_of(annotation) -> str:
    text = str(annotation)
    for kind in ("Vec3", "bool", "int", "float", "str"):
        if kind in text:
            return kind
    return "any"


def _check(kind, value):
    """None if ``value`` is of ``kind``, else what was expected."""
    if isinstance(kind, type) and issubclass(kind, Choice):
        return None if value in kind.values() else "one of " + ", ".join(kind.values())
    if kind == "bool":
        return None if isinstance(value, (bool, numbers.Integral)) else "True or False"
    if kind == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and -2**31 <= value < 2**31
        return None if ok else "a 32-bit integer"
    if kind == "float":
        return None if isinstance(value, numbers.Real) and not isinstance(value, bool) else "a number"
    if kind == "str":
        ok = isinstance(value, str) and value != "" and "\0" not in value
        return None if ok else "a file name"
    if kind == "Vec3":
        ok = (isinstance(value, (tuple, list)) and len(value) == 3
              and all(isinstance(v, numbers.Real) and math.isfinite(v) for v in value))
        return None if ok else "three finite numbers"
    return None


#: (name, kind, whether None is allowed) of every field ``Params.validate`` checks with ``_check``
_FIELD_KINDS = tuple((f.name, _CHOICES.get(f.name) or _kind_of(f.type), "Optional" in str(f.type))
                     for f in fields(Params) if f.name != "trace_pixels")
