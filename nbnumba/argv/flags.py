# SPDX-License-Identifier: BSD-3-Clause
"""The table of every command-line flag: nanoBragg.c's flags and aliases, grouped as in its usage text,
plus the port's own double-dash options. Each entry says what values it takes and which Params fields it sets."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

from nbnumba.constants import RTD, Compression, Convention, CrystalShape, Device, PhiCarryover, Pivot, Precision
from nbnumba.errors import InputError
from nbnumba.params import Params

#: value kinds; parse.py turns argv tokens into values of these kinds
SWITCH = "switch"  # no value
FLOAT = "float"  # nargs finite decimal numbers
INT = "int"  # nargs integers ("5" or "5.0")
FILE = "file"  # one file name
CHOICE = "choice"  # one word out of Flag.choices
CELL = "cell"  # 1 to 6 numbers, stopping at the first token that starts with '-'
MISSET = "misset"  # the word "random" (any token containing "rand") or three numbers
ABSORB = "absorb"  # a number, or a token containing "inf"
PIXEL_FILE = "pixel_file"  # two integers (fast, slow pixel indices) and a file name

#: status of a flag
ACTIVE = "active"  # sets Params
IGNORED = "ignored"  # parsed and ignored, as in nanoBragg.c; the parser warns
COMMAND = "command"  # handled by the click command before parsing (help, version)

G_CRYSTAL = "Crystal orientation and structure factors"
G_DETECTOR = "Detector"
G_SIZE = "Crystal size and shape"
G_SAMPLING = "Sampling"
G_SOURCE = "Beam: wavelength, divergence, dispersion"
G_MOSAIC = "Mosaicity"
G_ROTATION = "Rotation"
G_BACKGROUND = "Background"
G_OUTPUT = "Output files and scaling"
G_FLUENCE = "Fluence"
G_SWITCHES = "Switches"
G_VECTORS = "Lab-frame vectors (each switches to the custom convention)"
G_IGNORED = "Parsed and ignored, as in nanoBragg.c"
G_DOC_IGNORED = "Used in nanoBragg's documentation, ignored by nanoBragg.c"
G_PORT = "nbnumba options (not in nanoBragg.c)"

#: usage groups in the order of nanoBragg.c's usage text; the last three hold flags it does not list
GROUPS = (G_CRYSTAL, G_DETECTOR, G_SIZE, G_SAMPLING, G_SOURCE, G_MOSAIC, G_ROTATION, G_BACKGROUND,
          G_OUTPUT, G_FLUENCE, G_SWITCHES, G_VECTORS, G_IGNORED, G_DOC_IGNORED, G_PORT)


# Unit converters, each nanoBragg.c's own expression: pairs that look redundant (``* 1e-6`` and
# ``/ 1e6``, ``/ 1.0e10`` and ``* 1e-10``) differ in the last bit for some inputs and are kept
# apart for bit-parity with C. Do not "tidy" them.

def _mm(x):
    return x / 1000.0  # C L614, L731, L783, L812, ...: atof(...)/1000.0


def _mrad(x):
    return x / 1000.0  # C L895-915: divergence atof(...)/1000.0


def _deg(x):
    return x / RTD  # C L545, L766, L879, L941, ...: atof(...)/RTD


def _angstrom(x):
    return x / 1.0e10  # C L855: lambda0 = atof(...)/1.0e10 (not * 1e-10: bit-parity)


def _percent(x):
    return x / 100.0  # C L887: dispersion = atof(...)/100.0


def _micron(x):
    return x * 1e-6  # C L754: detector_thick = atof(...)*1e-6 (not / 1e6: bit-parity)


def _water_micron(x):
    return x / 1e6  # C L1113: water_size = atof(...)/1e6 (not * 1e-6: bit-parity)


def _dmin(x):
    return x * 1e-10  # C L957: dmin = atof(...)*1e-10 (not / 1e10: bit-parity)


def _as_float(x):
    return float(x)


def _energy(ev):
    if ev == 0.0:
        raise InputError("-energy: expected a non-zero photon energy (eV)")
    return (12398.42 / ev) / 1.0e10  # C L859, in C's order (bit-parity)


def _set_cell(p: Params, values) -> None:
    """Up to six numbers a b c (Angstrom) alpha beta gamma (degrees); missing ones keep their value."""
    p.user_cell = True
    fields = ("cell_a", "cell_b", "cell_c", "cell_alpha", "cell_beta", "cell_gamma")
    for index, (name, value) in enumerate(zip(fields, values)):
        setattr(p, name, value if index < 3 else value / RTD)


def _set_misset(p: Params, values) -> None:
    if values == ("random",):
        p.misset_random = True
        p.misset = None
    else:
        p.misset_random = False
        p.misset = tuple(v / RTD for v in values)


def _set_detector_abs(p: Params, values) -> None:
    (x,) = values
    if math.isinf(x) or x == 0.0:
        p.detector_thick = 0.0
        p.detector_mu = 0.0
    else:
        p.detector_mu = 1.0 / (x * 1e-6)  # C L749, in C's order (bit-parity)


@dataclass(frozen=True)
class Flag:
    """One flag: its names, values, help line and its effect on Params.

    The effect is declarative: the converted values go to the fields in ``sets`` (one value per
    field, one value for all fields, or all values as a tuple in the single field), then the
    ``also`` constants are set, then ``pivot`` and ``convention`` when given. ``action`` replaces
    the ``sets`` step for the few flags with special rules.
    """

    name: str
    group: str
    kind: str
    help: str
    metavar: str = ""
    nargs: int = 0
    aliases: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    convert: Optional[Callable[[Any], Any]] = None
    also: tuple[tuple[str, Any], ...] = ()
    pivot: Optional[str] = None
    convention: Optional[str] = None
    action: Optional[Callable[[Params, tuple], None]] = None
    choices: tuple[str, ...] = ()
    status: str = ACTIVE
    note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,) + self.aliases

    def apply(self, params: Params, values: tuple) -> None:
        """Set the fields of `params` that this flag sets, from values already parsed to their kind."""
        if self.action is not None:
            self.action(params, values)
        elif self.sets:
            converted = tuple(self.convert(v) for v in values) if self.convert else tuple(values)
            if len(converted) == len(self.sets):
                for name, value in zip(self.sets, converted):
                    setattr(params, name, value)
            elif len(converted) == 1:
                for name in self.sets:
                    setattr(params, name, converted[0])
            else:
                (name,) = self.sets
                setattr(params, name, converted)
        for name, value in self.also:
            setattr(params, name, value)
        if self.pivot is not None:
            params.detector_pivot = self.pivot
        if self.convention is not None:
            params.beam_convention = self.convention


def _switch(name, group, help, **kw):
    return Flag(name, group, SWITCH, help, **kw)


def _float(name, group, help, metavar, nargs=1, **kw):
    return Flag(name, group, FLOAT, help, metavar=metavar, nargs=nargs, **kw)


def _int(name, group, help, metavar="N", nargs=1, **kw):
    return Flag(name, group, INT, help, metavar=metavar, nargs=nargs, **kw)


def _file(name, group, help, metavar="FILE", **kw):
    return Flag(name, group, FILE, help, metavar=metavar, nargs=1, **kw)


def _nonzero_vector(name, field):
    """Action of a direction flag: store the vector, refusing 0 0 0 (C would carry on with a zero axis)."""
    def action(p: Params, values) -> None:
        if not any(values):
            raise InputError(f"{name}: expected a non-zero direction X Y Z, got 0 0 0")
        setattr(p, field, tuple(values))
    return action


def _vector(name, help, direction=True, **kw):
    if direction:
        kw["action"] = _nonzero_vector(name, kw["sets"][0])
    return Flag(name, G_VECTORS, FLOAT, help, metavar="X Y Z", nargs=3, convention=Convention.CUSTOM, **kw)


def _add_trace_pixel(p: Params, values) -> None:
    """--trace-pixel F S FILE: repeatable, each adds a pixel (several may share a file)."""
    p.trace_pixels = tuple(p.trace_pixels) + (tuple(values),)


_PIX0_NOTE = ("the vector is ignored, as in nanoBragg.c, which recomputes pix0 from the beam centre; "
              "the flag only switches to the custom convention")
_IGNORED_NOTE = "parsed and ignored, as in nanoBragg.c"


def _doc_ignored(name, help, metavar, nargs=1, instead="", **kw):
    """A flag that nanoBragg's README, its source's example command lines or its usage text use but that
    none of nanoBragg.c's argv tests matches (``nbnumba.argv.spellings``): accepted, ignored, warned about."""
    note = "ignored, as nanoBragg.c ignores it" + (f" (nanoBragg.c's flag for this is {instead})" if instead else "")
    return Flag(name, G_DOC_IGNORED, FLOAT, help, metavar=metavar, nargs=nargs, status=IGNORED, note=note, **kw)


#: every flag, in usage order within its group
FLAGS: tuple[Flag, ...] = (
    # --- crystal orientation and structure factors ---
    _file("-mat", G_CRYSTAL, "MOSFLM-style matrix file: the three reciprocal cell vectors (1/Angstrom, "
          "wavelength-scaled)", aliases=("-matrix",), sets=("matfilename",)),
    _file("-hkl", G_CRYSTAL, "text file of h k l F for the P1 cell", sets=("hklfilename",)),
    Flag("-misset", G_CRYSTAL, MISSET, "crystal rotations about x, y, z (degrees), or 'random' for a random "
         "orientation; alternative to -mat", metavar="RX RY RZ|random", nargs=3, action=_set_misset),
    Flag("-cell", G_CRYSTAL, CELL, "unit cell a b c (Angstrom) alpha beta gamma (degrees); 1 to 6 numbers, "
         "missing edges = a, missing angles = 90; alternative to -mat", metavar="a [b c [al be ga]]",
         nargs=6, action=_set_cell),
    _float("-default_F", G_CRYSTAL, "structure factor of every hkl not in the -hkl file (default: 0)", "F",
           sets=("default_F",)),
    _file("-dump", G_CRYSTAL, "structure-factor cache file, read when there is no -hkl and written after "
          "reading one (default: Fdump.bin)", sets=("dumpfilename",)),
    _switch("-interpolate", G_CRYSTAL, "force tricubic interpolation of structure factors between Bragg "
            "peaks (default: on if the crystal is under 3 cells wide)", also=(("interpolate", 1),)),
    _switch("-nointerpolate", G_CRYSTAL, "disable structure-factor interpolation", also=(("interpolate", 0),)),
    _int("-misset_seed", G_CRYSTAL, "random seed for -misset random (default: time-based)", metavar="SEED",
         sets=("misset_seed",)),
    # --- detector ---
    _float("-distance", G_DETECTOR, "distance from the sample to the beam spot on the detector (mm); sets "
           "pivot beam", "MM", sets=("distance",), convert=_mm, pivot=Pivot.BEAM),
    _float("-close_distance", G_DETECTOR, "perpendicular distance from the sample to the detector plane (mm); "
           "sets pivot sample", "MM", sets=("close_distance",), convert=_mm, pivot=Pivot.SAMPLE),
    _float("-detsize", G_DETECTOR, "detector size along both axes (mm; default: 102.4)", "MM",
           sets=("detsize_f", "detsize_s"), convert=_mm),
    _float("-detsize_f", G_DETECTOR, "detector size along the fast axis (mm)", "MM", sets=("detsize_f",),
           convert=_mm),
    _float("-detsize_s", G_DETECTOR, "detector size along the slow axis (mm)", "MM", sets=("detsize_s",),
           convert=_mm),
    _int("-detpixels", G_DETECTOR, "detector size in pixels along both axes (overrides -detsize)",
         sets=("fpixels", "spixels")),
    _int("-detpixels_f", G_DETECTOR, "detector size in pixels along the fast axis",
         aliases=("-detpixels_x", "-detpixels_fast"), sets=("fpixels",)),
    _int("-detpixels_s", G_DETECTOR, "detector size in pixels along the slow axis",
         aliases=("-detpixels_y", "-detpixels_slow"), sets=("spixels",)),
    _float("-pixel", G_DETECTOR, "pixel size (mm; default: 0.1)", "MM", sets=("pixel_size",), convert=_mm),
    _file("-img", G_DETECTOR, "SMV image whose header sets the detector, wavelength and rotation (read "
          "before the other flags, which override it)", sets=("imginfilename",)),
    _file("-mask", G_DETECTOR, "SMV image of 0 / non-0 values: pixels that are 0 are not rendered; its "
          "header is read like -img's, before -img", sets=("maskfilename",)),
    Flag("-detector_abs", G_DETECTOR, ABSORB, "sensor attenuation depth (um), or 'inf' or 0 for no "
         "absorption (which also sets the thickness to 0)", metavar="UM|inf", nargs=1,
         aliases=("-detector_absorb", "-detector_absorption"), action=_set_detector_abs),
    _float("-detector_thick", G_DETECTOR, "sensor thickness (um; default: 0, no parallax)", "UM",
           sets=("detector_thick",), convert=_micron),
    _int("-detector_thicksteps", G_DETECTOR, "number of sensor layers (default: auto)",
         aliases=("-thicksteps",), sets=("detector_thicksteps",)),
    _float("-Xbeam", G_DETECTOR, "fast coordinate of the direct-beam spot in the convention's frame (mm; "
           "default: centre); sets pivot beam", "MM", sets=("Xbeam",), convert=_mm, pivot=Pivot.BEAM),
    _float("-Ybeam", G_DETECTOR, "slow coordinate of the direct-beam spot in the convention's frame (mm; "
           "default: centre); sets pivot beam", "MM", sets=("Ybeam",), convert=_mm, pivot=Pivot.BEAM),
    _float("-Xclose", G_DETECTOR, "fast coordinate of the point of the detector nearest the sample (mm); "
           "sets pivot sample", "MM", sets=("Xclose",), convert=_mm, pivot=Pivot.SAMPLE),
    _float("-Yclose", G_DETECTOR, "slow coordinate of the point of the detector nearest the sample (mm); "
           "sets pivot sample", "MM", sets=("Yclose",), convert=_mm, pivot=Pivot.SAMPLE),
    _switch("-mosflm", G_DETECTOR, "MOSFLM beam-centre convention (the default); sets pivot beam",
            convention=Convention.MOSFLM, pivot=Pivot.BEAM),
    _switch("-xds", G_DETECTOR, "XDS detector-origin convention; sets pivot sample", convention=Convention.XDS,
            pivot=Pivot.SAMPLE),
    _switch("-adxv", G_DETECTOR, "ADXV beam-centre convention; sets pivot beam", convention=Convention.ADXV,
            pivot=Pivot.BEAM),
    _switch("-denzo", G_DETECTOR, "DENZO beam-centre convention; sets pivot beam", convention=Convention.DENZO,
            pivot=Pivot.BEAM),
    _switch("-dials", G_DETECTOR, "DIALS convention; sets pivot beam (as nanoBragg.c does)",
            convention=Convention.DIALS, pivot=Pivot.BEAM),
    _float("-ORGX", G_DETECTOR, "XDS-convention beam centre, fast (pixels); sets pivot sample", "PX",
           sets=("ORGX",), pivot=Pivot.SAMPLE),
    _float("-ORGY", G_DETECTOR, "XDS-convention beam centre, slow (pixels); sets pivot sample", "PX",
           sets=("ORGY",), pivot=Pivot.SAMPLE),
    Flag("-pivot", G_DETECTOR, CHOICE, "rotate the detector about the sample or about the direct-beam spot "
         "(the convention overrides it, except custom)", metavar="sample|beam", nargs=1,
         choices=(Pivot.SAMPLE.value, Pivot.BEAM.value), sets=("detector_pivot",)),
    _float("-twotheta", G_DETECTOR, "rotation of the detector about the two-theta axis (degrees; default: 0); "
           "sets pivot sample", "DEG", sets=("detector_twotheta",), convert=_deg, pivot=Pivot.SAMPLE),
    _float("-detector_rotx", G_DETECTOR, "detector rotation about the lab x axis (degrees)", "DEG",
           sets=("detector_rotx",), convert=_deg),
    _float("-detector_roty", G_DETECTOR, "detector rotation about the lab y axis (degrees)", "DEG",
           sets=("detector_roty",), convert=_deg),
    _float("-detector_rotz", G_DETECTOR, "detector rotation about the lab z axis (degrees)", "DEG",
           sets=("detector_rotz",), convert=_deg),
    _switch("-point_pixel", G_DETECTOR, "turn off the pixel solid-angle correction (solid angle = 1/R^2)",
            also=(("point_pixel", True),)),
    _switch("-curved_det", G_DETECTOR, "curved detector: all pixels at the same distance from the sample",
            also=(("curved_detector", True),)),
    # --- crystal size and shape ---
    _int("-N", G_SIZE, "number of unit cells along all three axes (default: 1)", sets=("Na", "Nb", "Nc"),
         convert=_as_float),
    _int("-Na", G_SIZE, "number of unit cells along a", sets=("Na",), convert=_as_float),
    _int("-Nb", G_SIZE, "number of unit cells along b", sets=("Nb",), convert=_as_float),
    _int("-Nc", G_SIZE, "number of unit cells along c", sets=("Nc",), convert=_as_float),
    _float("-xtalsize", G_SIZE, "crystal full width along all three axes (mm); alternative to -N", "MM",
           aliases=("-xtal_size", "-samplesize", "-sample_size"), sets=("sample_x", "sample_y", "sample_z"),
           convert=_mm),
    _float("-sample_thick", G_SIZE, "crystal size along x, the beam (mm)", "MM",
           aliases=("-sample_x", "-xtal_thick", "-xtal_x"), sets=("sample_x",), convert=_mm),
    _float("-sample_width", G_SIZE, "crystal size along y (mm)", "MM",
           aliases=("-sample_y", "-xtal_width", "-xtal_y", "-width"), sets=("sample_y",), convert=_mm),
    _float("-sample_height", G_SIZE, "crystal size along z (mm)", "MM",
           aliases=("-sample_z", "-xtal_height", "-xtal_z", "-height"), sets=("sample_z",), convert=_mm),
    _switch("-square_xtal", G_SIZE, "parallelepiped crystal shape (the default)",
            also=(("xtal_shape", CrystalShape.SQUARE),)),
    _switch("-round_xtal", G_SIZE, "ellipsoidal crystal shape", also=(("xtal_shape", CrystalShape.ROUND),)),
    _switch("-gauss_xtal", G_SIZE, "Gaussian-shaped spots: no inter-Bragg maxima",
            also=(("xtal_shape", CrystalShape.GAUSS),)),
    _switch("-tophat_spots", G_SIZE, "lattice transform clipped at its FWHM: no inter-Bragg maxima",
            aliases=("-binary_spots",), also=(("xtal_shape", CrystalShape.TOPHAT),)),
    _float("-fudge", G_SIZE, "factor on the shape-function argument of round, gauss and tophat crystals "
           "(default: 1)", "X", sets=("fudge",)),
    # --- sampling ---
    _int("-oversample", G_SAMPLING, "sub-pixels per pixel edge, n x n in all (default: auto from the "
         "crystal size)", sets=("oversample",)),
    _switch("-oversample_thick", G_SAMPLING, "recompute the sensor absorption for each sub-pixel",
            also=(("oversample_thick", True),)),
    _switch("-oversample_polar", G_SAMPLING, "recompute the polarization factor for each sub-pixel",
            also=(("oversample_polar", True),)),
    _switch("-oversample_omega", G_SAMPLING, "recompute the solid angle for each sub-pixel",
            also=(("oversample_omega", True),)),
    _int("-roi", G_SAMPLING, "render only pixels with fast in [xmin, xmax] and slow in [ymin, ymax] "
         "(pixel indices, inclusive)", metavar="XMIN XMAX YMIN YMAX", nargs=4,
         sets=("roi_xmin", "roi_xmax", "roi_ymin", "roi_ymax")),
    _float("-dmin", G_SAMPLING, "skip contributions at resolution finer than this (Angstrom; default: 0, off)",
           "A", sets=("dmin",), convert=_dmin),
    # --- beam ---
    _float("-lambda", G_SOURCE, "X-ray wavelength (Angstrom; default: 1)", "A",
           aliases=("-wavelength", "-wave"), sets=("lambda0",), convert=_angstrom),
    _float("-energy", G_SOURCE, "X-ray photon energy (eV); alternative to -lambda", "EV", sets=("lambda0",),
           convert=_energy),
    _float("-dispersion", G_SOURCE, "spectral dispersion, full width delta-lambda/lambda (percent)", "PCT",
           sets=("dispersion",), convert=_percent),
    _int("-dispsteps", G_SOURCE, "number of wavelengths across the dispersion (default: auto)",
         sets=("dispsteps",)),
    _float("-divergence", G_SOURCE, "horizontal and vertical divergence, full range (mrad)", "MRAD",
           sets=("hdivrange", "vdivrange"), convert=_mrad),
    _float("-hdivrange", G_SOURCE, "horizontal divergence, full range (mrad)", "MRAD", sets=("hdivrange",),
           convert=_mrad),
    _float("-vdivrange", G_SOURCE, "vertical divergence, full range (mrad)", "MRAD", sets=("vdivrange",),
           convert=_mrad),
    _float("-hdivstep", G_SOURCE, "horizontal divergence step (mrad)", "MRAD", sets=("hdivstep",),
           convert=_mrad),
    _float("-vdivstep", G_SOURCE, "vertical divergence step (mrad)", "MRAD", sets=("vdivstep",),
           convert=_mrad),
    _int("-hdivsteps", G_SOURCE, "number of source points across the horizontal divergence",
         sets=("hdivsteps",)),
    _int("-vdivsteps", G_SOURCE, "number of source points across the vertical divergence",
         sets=("vdivsteps",)),
    _int("-divsteps", G_SOURCE, "number of source points across both divergences",
         sets=("hdivsteps", "vdivsteps")),
    _switch("-square_div", G_SOURCE, "full rectangular divergence grid", also=(("round_div", False),)),
    _switch("-round_div", G_SOURCE, "divergence grid with its corners cut off (the default)",
            also=(("round_div", True),)),
    _file("-sourcefile", G_SOURCE, "text file of sources (X Y Z weight wavelength per line); replaces the "
          "divergence and dispersion grid", sets=("sourcefilename",)),
    _float("-polar", G_SOURCE, "Kahn polarization factor, 0 to 1 (default: 0, unpolarized)", "K",
           sets=("polarization",), also=(("nopolar", False),)),
    _switch("-nopolar", G_SOURCE, "turn off the polarization correction", also=(("nopolar", True),)),
    # --- mosaicity ---
    _float("-mosaic", G_MOSAIC, "isotropic mosaic spread (degrees; 90 for a powder)", "DEG",
           aliases=("-mosaicity", "-mosaic_spread"), sets=("mosaic_spread",), convert=_deg),
    _int("-mosaic_domains", G_MOSAIC, "number of randomly oriented mosaic domains (default: 10 when "
         "-mosaic is set)", aliases=("-mosaic_dom",), sets=("mosaic_domains",)),
    _int("-mosaic_seed", G_MOSAIC, "random seed for the mosaic domains (default: 12345678)", metavar="SEED",
         sets=("mosaic_seed",)),
    # --- rotation ---
    _float("-phi", G_ROTATION, "starting rotation about the spindle axis (degrees; default: 0)", "DEG",
           sets=("phi0",), convert=_deg),
    _float("-osc", G_ROTATION, "rotation range about the spindle axis (degrees)", "DEG", sets=("osc",),
           convert=_deg),
    _float("-phistep", G_ROTATION, "rotation step (degrees)", "DEG", sets=("phistep",), convert=_deg),
    _int("-phisteps", G_ROTATION, "number of rotation steps to render", sets=("phisteps",)),
    # --- background ---
    _float("-water", G_BACKGROUND, "add the scattering of a cube of water of this side around the crystal "
           "(um)", "UM", sets=("water_size",), convert=_water_micron),
    # --- output ---
    _file("-floatfile", G_OUTPUT, "raw 4-byte float output image (default: floatimage.bin)",
          aliases=("-floatimage",), sets=("floatfilename",)),
    _file("-intfile", G_OUTPUT, "noiseless SMV output image, not on an absolute scale unless -scale is given "
          "(default: intimage.img)", aliases=("-intimage",), sets=("intfilename",)),
    _float("-scale", G_OUTPUT, "scale factor applied to the -intfile image (default: auto)", "X",
           sets=("intfile_scale",)),
    _float("-adc", G_OUTPUT, "offset added to the pixels of SMV output images (default: 40)", "ADU",
           sets=("adc_offset",)),
    _file("-noisefile", G_OUTPUT, "photon-scale SMV output image with Poisson noise",
          aliases=("-noiseimage",), sets=("noisefilename",), also=(("calculate_noise", True),)),
    _file("-pgmfile", G_OUTPUT, "8-bit portable greymap output image", aliases=("-pgmimage",),
          sets=("pgmfilename",), also=(("write_pgm", True),)),
    _float("-pgmscale", G_OUTPUT, "relative scale of the PGM image (default: auto)", "X", sets=("pgm_scale",),
           also=(("write_pgm", True),)),
    _switch("-nopgm", G_OUTPUT, "do not write the PGM image", also=(("write_pgm", False),)),
    _switch("-nonoise", G_OUTPUT, "do not write the noise image", also=(("calculate_noise", False),)),
    _int("-seed", G_OUTPUT, "random seed for the noise image (default: time-based)", metavar="SEED",
         sets=("seed",)),
    _switch("-printout", G_OUTPUT, "print per-pixel values to the screen", also=(("printout", True),)),
    _int("-printout_pixel", G_OUTPUT, "print the values of this one pixel only (fast, slow indices); "
         "implies -printout", metavar="F S", nargs=2, sets=("printout_fpixel", "printout_spixel"),
         also=(("printout", True),)),
    # --- fluence ---
    _float("-fluence", G_FLUENCE, "incident fluence (photons/m^2; default: 1/r_e^2)", "PH/M2",
           sets=("fluence",)),
    _float("-flux", G_FLUENCE, "incident flux (photons/s); with -beamsize and -exposure, an alternative to "
           "-fluence", "PH/S", sets=("flux",)),
    _float("-beamsize", G_FLUENCE, "beam size, square (mm; default: 0.1); also clips the crystal size",
           "MM", sets=("beamsize",), convert=_mm),
    _float("-exposure", G_FLUENCE, "exposure time (s; default: 1)", "S", sets=("exposure",)),
    # --- switches ---
    _switch("-noprogress", G_SWITCHES, "turn off the progress meter", also=(("progress_meter", False),)),
    _switch("-progress", G_SWITCHES, "turn on the progress meter (the default)",
            also=(("progress_meter", True),)),
    # --- vectors ---
    _vector("-fdet_vector", "unit vector of increasing fast pixel index", sets=("fdet_vector",)),
    _vector("-sdet_vector", "unit vector of increasing slow pixel index", sets=("sdet_vector",)),
    _vector("-odet_vector", "unit vector normal to the detector, away from the sample", sets=("odet_vector",)),
    _vector("-beam_vector", "unit vector of the X-ray beam direction", sets=("beam_vector",)),
    _vector("-polar_vector", "unit vector of the X-ray E-vector polarization", sets=("polar_vector",)),
    _vector("-spindle_axis", "unit vector of the right-handed phi rotation axis", sets=("spindle_vector",)),
    _vector("-twotheta_axis", "axis of the -twotheta rotation (not normalized)", sets=("twotheta_axis",),
            direction=False),
    _vector("-pix0_vector", "vector from the sample to the first pixel (m); ignored, as in nanoBragg.c",
            sets=("pix0_vector",), status=IGNORED, note=_PIX0_NOTE, direction=False),
    _vector("-pix0_vector_mm", "as -pix0_vector, in mm; ignored, as in nanoBragg.c", sets=("pix0_vector",),
            convert=_mm, status=IGNORED, note=_PIX0_NOTE, direction=False),
    # --- parsed and ignored ---
    _float("-density", G_IGNORED, "crystal density (g/cm^3); nanoBragg.c never uses it", "G/CM3",
           aliases=("-sample_density",), status=IGNORED, note=_IGNORED_NOTE),
    _float("-MW", G_IGNORED, "molecular weight (g/mol); nanoBragg.c never uses it", "G/MOL",
           aliases=("-molecular_weight",), status=IGNORED, note=_IGNORED_NOTE),
    _switch("-coherent", G_IGNORED, "coherent addition of sources; nanoBragg.c never uses it",
            status=IGNORED, note=_IGNORED_NOTE),
    _file("-stol", G_IGNORED, "table of sin(theta)/lambda (1/Angstrom) and F; nanoBragg.c reads it but never "
          "uses it", sets=("stolfilename",), status=IGNORED, note="nanoBragg.c reads this file but never uses "
          "its data; ignored"),
    _file("-4stol", G_IGNORED, "as -stol, first column 4 sin(theta)/lambda", sets=("stolfilename",),
          status=IGNORED, note="nanoBragg.c reads this file but never uses its data; ignored"),
    _file("-Q", G_IGNORED, "as -stol, first column Q = 4 pi sin(theta)/lambda", sets=("stolfilename",),
          status=IGNORED, note="nanoBragg.c reads this file but never uses its data; ignored"),
    _file("-stolout", G_IGNORED, "output sin(theta)/lambda table; nanoBragg.c never writes it",
          status=IGNORED, note=_IGNORED_NOTE),
    # --- used in nanoBragg's documentation, matched by none of nanoBragg.c's tests ---
    _doc_ignored("-hdiv", "horizontal divergence (README's SAXS example, nanoBragg.c's header examples); "
                 "ignored by nanoBragg.c, which reads -hdivrange", "MRAD", instead="-hdivrange"),
    _doc_ignored("-vdiv", "vertical divergence (README's SAXS example, nanoBragg.c's header examples); "
                 "ignored by nanoBragg.c, which reads -vdivrange", "MRAD", instead="-vdivrange"),
    _doc_ignored("-dispstep", "number of wavelengths (nanoBragg.c's header examples); ignored by nanoBragg.c, "
                 "which reads -dispsteps", "N", instead="-dispsteps"),
    _doc_ignored("-source_distance", "distance from the source to the sample (nanoBragg.c's usage text, "
                 "commented out); ignored by nanoBragg.c, which always puts the source 10 m away", "MM",
                 aliases=("-source_dist",)),
    _doc_ignored("-detsize_x", "detector size along x (README); ignored by nanoBragg.c, which reads -detsize_f",
                 "MM", instead="-detsize_f"),
    _doc_ignored("-detsize_y", "detector size along y (README); ignored by nanoBragg.c, which reads -detsize_s",
                 "MM", instead="-detsize_s"),
    _doc_ignored("-xdet_vector", "detector fast axis (README); ignored by nanoBragg.c, which reads -fdet_vector",
                 "X Y Z", nargs=3, instead="-fdet_vector"),
    _doc_ignored("-ydet_vector", "detector slow axis (README); ignored by nanoBragg.c, which reads -sdet_vector",
                 "X Y Z", nargs=3, instead="-sdet_vector"),
    _doc_ignored("-zdet_vector", "detector normal (README); ignored by nanoBragg.c, which reads -odet_vector",
                 "X Y Z", nargs=3, instead="-odet_vector"),
    # --- port-only ---
    Flag("--phi-carryover-mode", G_PORT, CHOICE, "spec (default): every phi step rotates the crystal afresh; "
         "c-parity: reproduce single-threaded nanoBragg.c, where a phi step of exactly 0 reuses the previous "
         "phi evaluation's orientation", metavar="{spec,c-parity}", nargs=1, choices=PhiCarryover.values(),
         sets=("phi_carryover_mode",)),
    Flag("--device", G_PORT, CHOICE, "where the pixel kernel runs: auto (default; an NVIDIA GPU when numba-cuda "
         "finds one, else the CPU), cpu, or cuda (an error without a usable GPU; pip install 'nbnumba[cuda]'). "
         "The run prints which on stdout", metavar="{auto,cpu,cuda}", nargs=1, choices=Device.values(),
         sets=("device",)),
    Flag("--precision", G_PORT, CHOICE, "real type of the pixel kernel: double (default; nanoBragg.c's images) or "
         "single (float32 lattice and structure factors, within 1e-6 of the maximum of nanoBragg.c's images; for "
         "GPUs with slow float64, and on a CPU about 1.6x double's speed with 4 or more mosaic domains x phi "
         "steps). "
         "$NBNUMBA_PRECISION sets the default; "
         "-precision is nanoBraggCUDA's spelling",
         metavar="{double,single}", nargs=1, aliases=("-precision",), choices=Precision.values(),
         sets=("precision",)),
    _switch("--version", G_PORT, "print the nbnumba version and exit", status=COMMAND),
    _switch("-h", G_PORT, "print this help and exit", aliases=("--help",), status=COMMAND),
    _file("--hdf5", G_PORT, "also write the noiseless float image as NeXus NXmx HDF5 (float32; opens in DIALS: "
          "dials.import FILE)", sets=("hdf5filename",)),
    _file("--hdf5-noise", G_PORT, "also write the noise image as NXmx HDF5, int32 photon counts + ADC offset "
          "without the 16-bit clamp (same random numbers as -noisefile)", sets=("hdf5_noise_filename",)),
    Flag("--trace-pixel", G_PORT, PIXEL_FILE, "also write every sample of pixel F S (fast, slow indices, as "
         "-printout_pixel) as JSON, in nanoBragg.c's loop order, for parity debugging; repeatable (several "
         "pixels, in one file or several); computed on the CPU whatever --device renders",
         metavar="F S FILE.json", nargs=3, action=_add_trace_pixel),
    Flag("--hdf5-compression", G_PORT, CHOICE, "compression of the --hdf5/--hdf5-noise images, one chunk per "
         "image: gzip (default), bitshuffle (LZ4; needs the hdf5plugin package) or none",
         metavar="{gzip,bitshuffle,none}", nargs=1, choices=Compression.values(), sets=("hdf5_compression",)),
)

#: every name and alias -> its flag
BY_NAME: dict[str, Flag] = {name: flag for flag in FLAGS for name in flag.names}

