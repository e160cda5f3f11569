# SPDX-License-Identifier: BSD-3-Clause
"""nanoBragg.c's argument parsing (L398-1116) as a pure function: argv in, Params and warnings out.
The rules are C's, flag by flag, except the deliberate deviations listed in ``DEVIATIONS``.

No file I/O here: the -mask/-img headers that C applies before its flag loop are read by the caller's
``read_image`` (``nbnumba.setup.inputs`` passes one; ``nbnumba.params_from_argv`` is the public entry)."""
from __future__ import annotations

import difflib
import math
import re
from typing import NamedTuple

from nbnumba.argv.flags import (
    ABSORB,
    BY_NAME,
    CELL,
    CHOICE,
    COMMAND,
    FILE,
    IGNORED,
    INT,
    MISSET,
    PIXEL_FILE,
    SWITCH,
    Flag,
)
from nbnumba.argv.spellings import spelling_warning, taken_as
from nbnumba.constants import RTD
from nbnumba.errors import InputError
from nbnumba.io.smv import value_of
from nbnumba.io.textcols import parse_number
from nbnumba.params import Params

#: where this parser deliberately differs from nanoBragg.c, one line each
DEVIATIONS: tuple[str, ...] = (
    "-twotheta_axis sets only the axis (C's substring test for -twotheta also matches it and sets twotheta = x "
    "degrees and pivot sample) and -misset_seed sets only the seed (C also reads misset angles from the next "
    "tokens).",
    "Another spelling that nanoBragg.c's substring tests take as one flag (-oscillation as -osc) is accepted "
    "with a warning; one they would apply as several flags at once, unless a table flag does them all, or one "
    "with '=' in it (C reads the value from the next argument) is an error.",
    "A flag that nanoBragg.c silently ignores is an error that suggests the nearest real flags (-lamda, "
    "-polarization, -trace_pixel, -noise, -air), unless nanoBragg's own documentation uses it (-hdiv, -vdiv, "
    "-dispstep, -source_distance, -detsize_x, -xdet_vector, ...): those are accepted, with a warning.",
    "A flag missing its values, a value that is not a finite decimal number (nan, inf, hex, text), or a stray "
    "token that is neither a flag nor a value is an error (C silently skips the flag or reads 0).",
    "Integer values must be integers (\"5\" or \"5.0\") within 32 bits; C's atoi reads \"5.5\" as 5 and "
    "\"1e3\" as 1, and overflows silently.",
    "-curved_det works as the last token (C needs a following token to recognise it).",
    "-pivot takes exactly 'sample' or 'beam' (C looks for either word inside the token and ignores others).",
    "-detector_abs recognises 'inf' in any letter case (C: lower case only).",
    "-energy 0 is an error (C computes an infinite wavelength).",
    "An -img or -mask file that cannot be read or is not an SMV image is an error (C prints a message and "
    "carries on, or reads garbage).",
    "A file name value that is itself a flag (-hkl -mat) is an error (C takes the flag as the file name).",
    "-pix0_vector_mm (absent from nanoBragg.c, where it would match -pix0_vector) stores its vector in metres; "
    "the vector is ignored either way.",
    "A zero direction vector (-fdet_vector, -sdet_vector, -odet_vector, -beam_vector, -polar_vector, "
    "-spindle_axis 0 0 0) is an error (C carries on with a zero axis).",
    "An -img or -mask header value of inf (PIXEL_SIZE, DISTANCE, WAVELENGTH, ...) is an error (C uses "
    "it).",
    "A negative number among the values of -cell is an error naming -cell (C stops reading -cell at it and "
    "ignores it and the rest of the cell; a missing or zero angle means 90 degrees there).",
    "Integer values take ASCII digits only (C's atoi reads other scripts' digits, e.g. '\\u0665', as 0).",
)

#: ASCII digits only (Python's \d also matches other scripts' digits, which C's atoi reads as 0)
_INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_INT_MIN, _INT_MAX = -2**31, 2**31 - 1

#: SMV header keys that -img and -mask apply after PIXEL_SIZE, in nanoBragg.c's order (TWOTHETA is ignored)
_HEADER_FIELDS = (
    ("DISTANCE", "distance", lambda mm: mm / 1000.0),
    ("CLOSE_DISTANCE", "close_distance", lambda mm: mm / 1000.0),
    ("WAVELENGTH", "lambda0", lambda angstrom: angstrom / 1e10),
    ("BEAM_CENTER_X", "Xbeam", lambda mm: mm / 1000.0),
    ("BEAM_CENTER_Y", "Ybeam", lambda mm: mm / 1000.0),
    ("ORGX", "ORGX", float),
    ("ORGY", "ORGY", float),
    ("PHI", "phi0", lambda deg: deg / RTD),
    ("OSC_RANGE", "osc", lambda deg: deg / RTD),
)


class Step(NamedTuple):
    """One flag of argv with its parsed values: the name as written and values of the flag's kind;
    ``spelled`` when the name is not in the flag table but a spelling nanoBragg.c takes as the flag."""

    flag: Flag
    name: str
    values: tuple
    spelled: bool = False


def params_from_argv(argv: list[str], read_image) -> tuple[Params, list[str]]:
    """Parse nanoBragg command-line arguments into Params, as nanoBragg.c's argument loop does.

    Flags act left to right, later ones win, and flags with side effects on the detector pivot
    or convention apply them in order. The headers of -mask and then -img files are applied
    before any flag, so the flags override them (nanoBragg.c L398-502).

    Parameters
    ----------
    argv : list of str
        The arguments after the program name.
    read_image : callable
        ``read_image(path, flag)`` -> an SMV image (``nbnumba.io.smv.SMVImage``: ``path``, ``header``,
        ``width``, ``height``) for the -mask and -img files; raises InputError if it cannot.

    Returns
    -------
    params : Params
        nanoBragg.c's globals after parsing, in its internal units (metres, radians).
    warnings : list of str
        One line per flag that nanoBragg.c parses but ignores, and per spelling outside the flag table
        taken as the flag nanoBragg.c takes it as (``nbnumba.argv.spellings``); each distinct line once.

    Raises
    ------
    InputError
        For an unknown or unsupported flag, a missing or malformed value, a stray token, or an
        unreadable -img / -mask file.
    """
    steps = split_argv(argv)
    params = Params()
    _apply_headers(params, steps, read_image)
    warnings = []
    for step in steps:
        if step.flag.status == COMMAND:
            continue
        step.flag.apply(params, step.values)
        lines = [spelling_warning(step.name, step.flag)] if step.spelled else []
        if step.flag.status == IGNORED:
            lines.append(f"{step.name}: {step.flag.note}")
        warnings += [line for line in lines if line not in warnings]
    return params, warnings


def split_argv(argv: list[str]) -> list[Step]:
    """Split argv into flags and their parsed values, checking every token.

    Parameters
    ----------
    argv : list of str
        The arguments after the program name.

    Returns
    -------
    list of Step
        The flags in argv order.

    Raises
    ------
    InputError
        For an unknown or unsupported flag, a missing or malformed value, or a stray token.

    A token that is not a name in the flag table is looked up by nanoBragg.c's own matching
    (``nbnumba.argv.spellings.taken_as``): a spelling C takes as one flag is that flag.
    """
    argv = [str(token) for token in argv]
    steps = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        name, inline = token, None
        if token.startswith("--") and "=" in token:
            name, inline = token.split("=", 1)
        flag = BY_NAME.get(name)
        spelled = flag is None and token.startswith("-") and parse_number(token) is None
        if spelled:
            flag = taken_as(token)  # nanoBragg.c's substring matching; InputError when it is ambiguous
            name, inline = token, None
        if flag is None:
            raise InputError(_unknown_message(token))
        if inline is not None:
            if flag.kind == SWITCH or flag.nargs != 1:
                raise InputError(f"{name}: the {name}=VALUE form is only for flags with one value")
            raw = [inline]
        else:
            raw, i = _take_values(flag, name, argv, i)
        steps.append(Step(flag, name, _convert(flag, name, raw), spelled))
    return steps


def _take_values(flag: Flag, name: str, argv: list[str], i: int) -> tuple[list[str], int]:
    """The value tokens of `flag`, which starts at argv[i], and the index after them."""
    rest = argv[i:]
    if flag.kind == SWITCH:
        return [], i
    if flag.kind == CELL:
        count = 0
        while count < flag.nargs and count < len(rest) and not rest[count].startswith("-"):
            count += 1
        if count == 0:
            raise InputError(f"{name}: expected 1 to 6 numbers ({flag.metavar}), got "
                             f"{_describe(rest[0]) if rest else 'nothing'}")
        if count < flag.nargs and count < len(rest) and rest[count] not in BY_NAME \
                and parse_number(rest[count]) is not None:
            # C stops reading -cell at a token starting with '-' and treats what follows as flags
            raise InputError(f"{name}: got the negative number {rest[count]!r} after {count} value"
                             f"{'s' if count > 1 else ''}; lengths and angles cannot be negative (C stops "
                             f"reading {name} at a token starting with '-'; a missing or zero angle means 90 "
                             f"degrees)")
        return rest[:count], i + count
    if flag.kind == MISSET and rest and "rand" in rest[0]:
        return rest[:1], i + 1
    if len(rest) < flag.nargs:
        got = f"only {len(rest)}" if rest else "nothing"
        raise InputError(f"{name}: expected {_expected(flag)}, got {got}")
    if flag.kind == FILE and rest[0] in BY_NAME:
        raise InputError(f"{name}: expected {_expected(flag)}, got the flag {rest[0]}")
    if flag.kind == PIXEL_FILE and rest[2] in BY_NAME:
        raise InputError(f"{name}: expected {_expected(flag)}, got the flag {rest[2]}")
    return rest[:flag.nargs], i + flag.nargs


def _convert(flag: Flag, name: str, raw: list[str]) -> tuple:
    """Values of the flag's kind from its tokens; InputError naming the flag for a bad token."""
    kind = flag.kind
    if kind == FILE and "\0" in raw[0]:
        raise InputError(f"{name}: expected a file name, got {raw[0]!r} (a file name cannot hold a NUL byte)")
    if kind in (SWITCH, FILE):
        return tuple(raw)
    if kind == CHOICE:
        if raw[0] not in flag.choices:
            raise InputError(f"{name}: expected one of {', '.join(flag.choices)}, got {raw[0]!r}")
        return tuple(raw)
    if kind == MISSET and "rand" in raw[0]:
        return ("random",)
    if kind == ABSORB and "inf" in raw[0].lower():
        return (math.inf,)
    if kind == PIXEL_FILE:
        return _convert_ints(flag, name, raw[:2]) + (raw[2],)
    if kind == INT:
        return _convert_ints(flag, name, raw)
    values = []
    for token in raw:
        value = parse_number(token)
        if value is None:
            raise InputError(f"{name}: expected {_expected(flag)}, got {token!r}")
        values.append(value)
    return tuple(values)


def _convert_ints(flag: Flag, name: str, raw: list[str]) -> tuple:
    """32-bit integers from tokens ("5" or "5.0"); InputError naming the flag otherwise."""
    for token in raw:
        if not _INTEGER.fullmatch(token):
            raise InputError(f"{name}: expected {_expected(flag)}, got {token!r}")
    values = tuple(int(token.split(".", 1)[0]) for token in raw)
    for token, value in zip(raw, values):
        if not _INT_MIN <= value <= _INT_MAX:
            raise InputError(f"{name}: {token} is out of range for a 32-bit integer")
    return values


def _expected(flag: Flag) -> str:
    """What the flag's values look like, for messages."""
    if flag.kind == FILE:
        return "a file name"
    if flag.kind == CHOICE:
        return f"one of {', '.join(flag.choices)}"
    if flag.kind == MISSET:
        return "'random' or three angles RX RY RZ (degrees)"
    if flag.kind == ABSORB:
        return "an attenuation depth in um, or inf"
    if flag.kind == CELL:
        return f"1 to 6 numbers ({flag.metavar})"
    if flag.kind == PIXEL_FILE:
        return f"two integers and a file name ({flag.metavar})"
    noun = "integer" if flag.kind == INT else "number"
    if flag.nargs == 1:
        return f"{'an' if noun == 'integer' else 'a'} {noun} ({flag.metavar})"
    return f"{flag.nargs} {noun}s ({flag.metavar})"


def _describe(token: str) -> str:
    return f"the flag {token}" if token in BY_NAME else repr(token)


def _unknown_message(token: str) -> str:
    """Message for a token that is not a flag: a stray value, or an unknown flag with suggestions."""
    if not token.startswith("-") or parse_number(token) is not None:
        return (f"unexpected argument {token!r}: it is neither a flag nor a value of the flag before it")
    names = list(BY_NAME)
    guesses = [name for name in names if name.startswith(token)][:3]
    if not guesses:
        # names inside the token, which nanoBragg.c's substring tests still ignore (a length test, letter
        # case, a '_' for the '-'): -phi_start has -phi, -polarization -polar, -detector_distance -distance
        inside = sorted((name for name in names if len(name.strip("-")) >= 3
                         and name.strip("-").lower() in token.lower()), key=len, reverse=True)
        close = difflib.get_close_matches(token, names, n=3, cutoff=0.6)
        guesses = list(dict.fromkeys(inside + close))[:3]
    if not guesses:
        return f"unknown flag {token} (nanoBragg.c would ignore it; see nbnumba -h for the list of flags)"
    if len(guesses) == 1:
        listed = guesses[0]
    else:
        listed = ", ".join(guesses[:-1]) + " or " + guesses[-1]
    return f"unknown flag {token} (nanoBragg.c would ignore it; did you mean {listed}?)"


def _apply_headers(params: Params, steps: list[Step], read_image) -> None:
    """Apply the headers of the last -mask, then the last -img file, as nanoBragg.c does before its flag loop."""
    last = {}
    for step in steps:
        if step.flag.name in ("-mask", "-img"):
            last[step.flag.name] = step.values[0]
    for what in ("-mask", "-img"):
        if what in last:
            apply_smv_header(params, read_image(last[what], what), what)


def apply_smv_header(params: Params, frame, what: str) -> None:
    """Set detector, wavelength and rotation fields from an SMV header, as nanoBragg.c does for -img and -mask.

    Only keys present in the header (not NaN) are applied. TWOTHETA is ignored, as in
    nanoBragg.c. BEAM_CENTER_Y of a -mask file sets Ybeam to detsize_s - value, unlike -img
    (nanoBragg.c's inconsistency, kept).

    Parameters
    ----------
    params : Params
        Updated in place.
    frame : nbnumba.io.smv.SMVImage
        The image read from the file the flag names.
    what : str
        ``"-img"`` or ``"-mask"``.

    Raises
    ------
    InputError
        If a header value is infinite.
    """
    params.fpixels = frame.width
    params.spixels = frame.height
    pixel_mm = _header_number(frame, "PIXEL_SIZE", what)
    if not math.isnan(pixel_mm):
        params.pixel_size = pixel_mm / 1000.0
    params.detsize_f = params.pixel_size * params.fpixels
    params.detsize_s = params.pixel_size * params.spixels
    for key, field, convert in _HEADER_FIELDS:
        number = _header_number(frame, key, what)
        if math.isnan(number):
            continue
        if key == "BEAM_CENTER_Y" and what == "-mask":
            params.Ybeam = params.detsize_s - number / 1000.0
        else:
            setattr(params, field, convert(number))


def _header_number(frame, key: str, what: str) -> float:
    """The header's value of `key` (NaN when absent, as nanoBragg.c's ValueOf); InputError for inf."""
    number = value_of(frame.header, key)
    if math.isinf(number):
        raise InputError(f"{what} file {frame.path}: header value {key}={number:g} is not a finite number")
    return number
