# SPDX-License-Identifier: BSD-3-Clause
"""How nanoBragg.c recognises a flag, and which spellings outside the flag table it therefore takes.

nanoBragg.c does not look flags up by name. Every argument that starts with '-' goes down one chain of
``if`` tests (L398-411 for -img and -mask, then L503-1116), and *every* test that matches applies; only the
-Na/-Nb/-Nc/-N and -oversample_thick/_polar/_omega tests end the chain for that argument (``continue``).
Most tests are ``strstr(argv[i], "-pattern")``, a substring test, a few add a ``strlen`` condition or use
``strcmp``. ``C_TESTS`` transcribes that chain, test by test, naming for each the table flag
(``nbnumba.argv.flags``) that has the same effect.

The rule, computed from ``C_TESTS`` and the flag table (``taken_as``):

- a name in the flag table is that flag (no warning);
- another spelling whose C tests all belong to one table flag is taken as that flag, values and all,
  with the warning ``-SPELLING: taken as -FLAG, as nanoBragg.c does`` (``-oscillation`` -> ``-osc``);
- a spelling that sets off the tests of several flags is taken as the table flag that sets off exactly the
  same tests, when the port's flag does all of them (``--printout_pixel`` -> ``-printout_pixel``, which also
  turns on -printout as C's -printout test does); otherwise it is refused with a message naming the flags C
  would apply (the port does not reproduce such collisions, see ``COLLIDING_FLAGS``);
- a spelling that sets off no test is one C silently ignores: an error suggesting the nearest flags
  (``-lamda``), unless the flag table lists it among the flags nanoBragg's own documentation uses
  (``-hdiv``: accepted and ignored, with a warning);
- a spelling with ``=`` in it is refused: C would take it as the flag and read the value from the next
  argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nbnumba.argv.flags import BY_NAME, Flag
from nbnumba.errors import InputError

#: table flags whose C tests also set off another flag's test, which the port deliberately does not
#: reproduce (see ``nbnumba.argv.parse.DEVIATIONS``): C's -twotheta_axis test also matches -twotheta
#: (L764: twotheta = the axis' x component, pivot sample); -misset_seed also matches -misset (L561)
COLLIDING_FLAGS = ("-twotheta_axis", "-misset_seed")


@dataclass(frozen=True)
class CTest:
    """One test of nanoBragg.c's argv chain.

    ``alternatives`` are or-ed: each is (``"strstr"`` or ``"strcmp"``, pattern, length condition), the
    length condition being None, ``("==", n)`` or ``(">", n)`` on strlen(argv[i]). ``flag`` names the
    table flag with the same effect; ``stops`` marks a test that ends with ``continue``.
    """

    line: int
    flag: str
    alternatives: tuple[tuple[str, str, Optional[tuple[str, int]]], ...]
    stops: bool = False

    def matches(self, token: str) -> bool:
        for how, pattern, length in self.alternatives:
            found = (pattern in token) if how == "strstr" else (token == pattern)
            if found and length is not None:
                op, n = length
                found = len(token) == n if op == "==" else len(token) > n
            if found:
                return True
        return False


def _t(line, flag, *patterns, length=None, stops=False):
    """A test of strstr alternatives; ``length`` applies to the first pattern only (as in C)."""
    alternatives = tuple(("strstr", p, length if k == 0 else None) for k, p in enumerate(patterns))
    return CTest(line, flag, alternatives, stops)


#: nanoBragg.c's tests, in its order (L405-1111). The argc guards (how many tokens follow) are left out:
#: the port requires every flag's values.
C_TESTS: tuple[CTest, ...] = (
    _t(405, "-img", "-img"),  # the first loop, before the image headers are read
    _t(409, "-mask", "-mask"),
    _t(511, "-Na", "-Na", stops=True),
    _t(516, "-Nb", "-Nb", stops=True),
    _t(521, "-Nc", "-Nc", stops=True),
    CTest(526, "-N", (("strcmp", "-N", None),), stops=True),
    _t(531, "-cell", "-cell"),
    _t(553, "-misset", "-misset"),  # with a value containing "rand" this one ends the chain (continue)
    _t(561, "-misset", "-misset"),
    _t(568, "-xtalsize", "-samplesize", "-sample_size"),
    _t(574, "-sample_thick", "-sample_thick", "-sample_x"),
    _t(578, "-sample_width", "-sample_width", "-sample_y", "-width"),
    _t(582, "-sample_height", "-sample_heigh", "-sample_z", "-heigh"),
    _t(586, "-xtalsize", "-xtalsize", "-xtal_size"),
    _t(592, "-sample_thick", "-xtal_thick", "-xtal_x"),
    _t(596, "-sample_width", "-xtal_width", "-xtal_y", "-width"),
    _t(600, "-sample_height", "-xtal_heigh", "-xtal_z", "-heigh"),
    _t(604, "-density", "-density", "-sample_den"),
    CTest(608, "-MW", (("strcmp", "-MW", None), ("strstr", "-molec", None))),
    _t(612, "-Xbeam", "-Xbeam"),
    _t(617, "-Ybeam", "-Ybeam"),
    _t(622, "-Xclose", "-Xclose"),
    _t(627, "-Yclose", "-Yclose"),
    _t(632, "-ORGX", "-ORGX"),
    _t(637, "-ORGY", "-ORGY"),
    _t(642, "-pivot", "-pivot"),
    _t(647, "-mosflm", "-mosflm"),
    _t(652, "-xds", "-xds"),
    _t(657, "-adxv", "-adxv"),
    _t(662, "-denzo", "-denzo"),
    _t(667, "-dials", "-dials"),
    _t(672, "-fdet_vector", "-fdet_vector"),
    _t(679, "-sdet_vector", "-sdet_vector"),
    _t(686, "-odet_vector", "-odet_vector"),
    _t(693, "-beam_vector", "-beam_vector"),
    _t(700, "-polar_vector", "-polar_vector"),
    _t(707, "-spindle_axis", "-spindle_axis"),
    _t(714, "-twotheta_axis", "-twotheta_axis"),
    _t(721, "-pix0_vector", "-pix0_vector"),
    _t(729, "-distance", "-distance"),
    _t(734, "-close_distance", "-close_distance"),
    _t(743, "-detector_abs", "-detector_abs"),
    _t(752, "-detector_thick", "-detector_thick", length=("==", 15)),
    _t(756, "-detector_thicksteps", "-detector_thicksteps"),
    _t(760, "-detector_thicksteps", "-thicksteps"),
    _t(764, "-twotheta", "-twotheta"),
    _t(769, "-detector_rotx", "-detector_rotx"),
    _t(773, "-detector_roty", "-detector_roty"),
    _t(777, "-detector_rotz", "-detector_rotz"),
    _t(781, "-detsize", "-detsize", length=("==", 8)),
    _t(786, "-detsize_f", "-detsize_f"),
    _t(790, "-detsize_s", "-detsize_s"),
    _t(794, "-detpixels", "-detpixels", length=("==", 10)),
    _t(798, "-detpixels_f", "-detpixels_f", "-detpixels_x"),
    _t(802, "-detpixels_s", "-detpixels_s", "-detpixels_y"),
    _t(806, "-curved_det", "-curved_det"),
    _t(810, "-pixel", "-pixel"),
    _t(814, "-point_pixel", "-point_pixel"),
    _t(818, "-polar", "-polar", length=("==", 6)),
    _t(823, "-nopolar", "-nopolar"),
    _t(827, "-oversample_thick", "-oversample_thick", stops=True),
    _t(832, "-oversample_polar", "-oversample_polar", stops=True),
    _t(837, "-oversample_omega", "-oversample_omega", stops=True),
    _t(842, "-oversample", "-oversample"),
    _t(846, "-roi", "-roi"),
    _t(853, "-lambda", "-lambda", "-wave"),
    _t(857, "-energy", "-energy"),
    _t(861, "-fluence", "-fluence"),
    _t(865, "-flux", "-flux"),
    _t(869, "-exposure", "-exposure"),
    _t(873, "-beamsize", "-beamsize"),
    _t(877, "-mosaic", "-mosaic", "-mosaici", "-mosaic_spr", length=("==", 7)),
    _t(881, "-mosaic_domains", "-mosaic_dom"),
    _t(885, "-dispersion", "-dispersion"),
    _t(889, "-dispsteps", "-dispsteps"),
    _t(893, "-divergence", "-divergence"),
    _t(897, "-hdivrange", "-hdivrange"),
    _t(901, "-vdivrange", "-vdivrange"),
    _t(905, "-hdivstep", "-hdivstep", length=("==", 9)),
    _t(909, "-hdivsteps", "-hdivsteps"),
    _t(913, "-vdivstep", "-vdivstep", length=("==", 9)),
    _t(917, "-vdivsteps", "-vdivsteps"),
    _t(921, "-divsteps", "-divsteps"),
    _t(925, "-round_div", "-round_div"),
    _t(930, "-square_div", "-square_div"),
    _t(935, "-adc", "-adc"),
    _t(939, "-phi", "-phi", length=("==", 4)),
    _t(943, "-osc", "-osc"),
    _t(947, "-phistep", "-phistep", length=("==", 8)),
    _t(951, "-phisteps", "-phisteps"),
    _t(955, "-dmin", "-dmin"),
    _t(959, "-mat", "-mat"),
    _t(963, "-hkl", "-hkl"),
    _t(967, "-default_F", "-default_F"),
    _t(971, "-dump", "-dump"),
    _t(975, "-img", "-img"),
    _t(979, "-stolout", "-stolout", length=(">", 7)),
    _t(983, "-stol", "-stol", length=("==", 5)),
    _t(988, "-4stol", "-4stol", length=("==", 6)),
    _t(993, "-Q", "-Q", length=("==", 2)),
    _t(998, "-sourcefile", "-sourcefile"),
    _t(1002, "-floatfile", "-floatfile", "-floatimage"),
    _t(1006, "-intfile", "-intfile", "-intimage"),
    _t(1010, "-pgmfile", "-pgmfile", "-pgmimage"),
    _t(1015, "-noisefile", "-noisefile", "-noiseimage"),
    _t(1020, "-nonoise", "-nonoise"),
    _t(1025, "-nopgm", "-nopgm"),
    _t(1029, "-scale", "-scale"),
    _t(1034, "-pgmscale", "-pgmscale"),
    _t(1040, "-coherent", "-coherent"),
    _t(1045, "-printout", "-printout"),
    _t(1050, "-noprogress", "-noprogress"),
    _t(1055, "-progress", "-progress"),
    _t(1060, "-interpolate", "-interpolate"),
    _t(1065, "-nointerpolate", "-nointerpolate"),
    _t(1070, "-round_xtal", "-round_xtal"),
    _t(1075, "-square_xtal", "-square_xtal"),
    _t(1080, "-gauss_xtal", "-gauss_xtal"),
    _t(1085, "-tophat_spots", "-binary_spots", "-tophat_spots"),
    _t(1090, "-fudge", "-fudge"),
    _t(1094, "-printout_pixel", "-printout_pixel"),
    _t(1099, "-seed", "-seed"),
    _t(1103, "-mosaic_seed", "-mosaic_seed"),
    _t(1107, "-misset_seed", "-misset_seed"),
    _t(1111, "-water", "-water"),
)


def c_tests(token: str) -> tuple[CTest, ...]:
    """The tests of nanoBragg.c's argv chain that `token` sets off, in C's order.

    Parameters
    ----------
    token : str
        One command-line argument.

    Returns
    -------
    tuple of CTest
        Empty for a token that C ignores (or that does not start with '-').
    """
    if not token.startswith("-"):
        return ()
    fired = []
    for test in C_TESTS:
        if test.matches(token):
            fired.append(test)
            if test.stops:
                break
    return tuple(fired)


def c_flags(token: str) -> tuple[str, ...]:
    """The table flags whose C tests `token` sets off, each once, in C's order."""
    names: list[str] = []
    for test in c_tests(token):
        if test.flag not in names:
            names.append(test.flag)
    return tuple(names)


def taken_as(token: str) -> Optional[Flag]:
    """The flag nanoBragg.c takes `token` as, for a token that is not a name in the flag table.

    Parameters
    ----------
    token : str
        A command-line argument that starts with '-' and is not in ``BY_NAME``.

    Returns
    -------
    Flag or None
        The table flag whose effect C gives the token; None when C ignores the token.

    Raises
    ------
    InputError
        When C would apply the token as several flags at once that no single table flag reproduces,
        or when the token contains '=' (C would read the value from the next argument).
    """
    names = c_flags(token)
    if not names:
        return None
    if "=" in token:
        raise InputError(f"{token}: nanoBragg.c would take this as {' and '.join(names)} and read its value "
                         f"from the next argument; write {names[0]} VALUE")
    if len(names) == 1:
        return BY_NAME[names[0]]
    fired = [test.line for test in c_tests(token)]
    for name, flag in BY_NAME.items():
        if flag.name not in COLLIDING_FLAGS and [test.line for test in c_tests(name)] == fired:
            return flag
    lines = ", ".join(f"L{test.line}" for test in c_tests(token))
    raise InputError(f"{token}: nanoBragg.c would apply this as {', '.join(names[:-1])} and {names[-1]} at once "
                     f"(its substring tests, nanoBragg.c {lines}); write the flags you mean")


def spelling_warning(token: str, flag: Flag) -> str:
    """The warning for a spelling taken as `flag`."""
    return f"{token}: taken as {flag.name}, as nanoBragg.c does"
