# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the command line: the flag table, params_from_argv (nanoBragg.c's parsing rules) and the click command."""
import dataclasses
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbnumba import params_from_argv
from nbnumba.argv.flags import (
    ABSORB,
    BY_NAME,
    CELL,
    CHOICE,
    COMMAND,
    FILE,
    FLAGS,
    FLOAT,
    GROUPS,
    IGNORED,
    INT,
    MISSET,
    PIXEL_FILE,
    SWITCH,
)
from nbnumba.argv.parse import DEVIATIONS
from nbnumba.cli.main import main, main_argv, usage_text
from nbnumba.constants import RTD
from nbnumba.errors import InputError
from nbnumba.params import Params

REPO = Path(__file__).resolve().parents[1]


def _inputs_dir():
    for base in (REPO / "c_reference" / "inputs", Path("/work/shared/c_reference/inputs")):
        if (base / "header128.img").exists():
            return base
    return None


INPUTS = _inputs_dir()
needs_inputs = pytest.mark.skipif(INPUTS is None, reason="c_reference/inputs/header128.img not found")


def parse(text):
    return params_from_argv(text.split())[0]


def comparable(params):
    """Params as a dict in which NaN equals NaN."""
    return {key: ("nan" if isinstance(value, float) and math.isnan(value) else value)
            for key, value in dataclasses.asdict(params).items()}


def example_values(flag):
    """A representative value list for a flag, chosen to differ from the defaults."""
    if flag.kind == SWITCH:
        return []
    if flag.kind == CELL:
        return ["70", "80", "90", "75", "85", "95"]
    if flag.kind == MISSET:
        return ["1", "2", "3"]
    if flag.kind == ABSORB:
        return ["50"]
    if flag.kind == FILE and flag.name in ("-img", "-mask"):
        if INPUTS is None:
            pytest.skip("needs c_reference/inputs/header128.img")
        return [str(INPUTS / "header128.img")]
    if flag.kind == FILE:
        return ["some_file.dat"]
    if flag.kind == PIXEL_FILE:
        return ["3", "4", "trace.json"]
    if flag.kind == CHOICE:
        return [next(c for c in flag.choices if c not in ("beam", "spec", "auto", "gzip", "double"))]  # not the default
    if flag.kind == INT:
        return [str(3 + k) for k in range(flag.nargs)]
    if flag.kind == FLOAT:
        return [str(0.25 * (k + 1) + 1.5) for k in range(flag.nargs)]
    raise AssertionError(flag.kind)


# --- the table ---

def test_names_are_unique_and_grouped():
    names = [name for flag in FLAGS for name in flag.names]
    assert len(names) == len(set(names)) == len(BY_NAME)
    assert all(flag.group in GROUPS for flag in FLAGS)
    assert all(flag.help and "\n" not in flag.help for flag in FLAGS)


C_FLAGS = [
    "-mat", "-matrix", "-hkl", "-misset", "-cell", "-default_F", "-dump", "-interpolate", "-nointerpolate",
    "-misset_seed", "-distance", "-close_distance", "-detsize", "-detsize_f", "-detsize_s", "-detpixels",
    "-detpixels_f", "-detpixels_x", "-detpixels_s", "-detpixels_y", "-pixel", "-img", "-mask",
    "-detector_abs", "-detector_absorb", "-detector_absorption", "-detector_thick", "-detector_thicksteps",
    "-thicksteps", "-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-mosflm", "-xds", "-adxv", "-denzo", "-dials",
    "-ORGX", "-ORGY", "-pivot", "-twotheta", "-detector_rotx", "-detector_roty", "-detector_rotz",
    "-point_pixel", "-curved_det", "-N", "-Na", "-Nb", "-Nc", "-xtalsize", "-xtal_size", "-samplesize",
    "-sample_size", "-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x", "-sample_width", "-sample_y",
    "-xtal_width", "-xtal_y", "-width", "-sample_height", "-sample_z", "-xtal_height", "-xtal_z", "-height",
    "-square_xtal", "-round_xtal", "-gauss_xtal", "-tophat_spots", "-binary_spots", "-fudge", "-oversample",
    "-oversample_thick", "-oversample_polar", "-oversample_omega", "-roi", "-dmin", "-lambda", "-wavelength",
    "-wave", "-energy", "-dispersion", "-dispsteps", "-divergence", "-hdivrange", "-vdivrange", "-hdivstep",
    "-vdivstep", "-hdivsteps", "-vdivsteps", "-divsteps", "-square_div", "-round_div", "-sourcefile", "-polar",
    "-nopolar", "-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_domains", "-mosaic_dom", "-mosaic_seed",
    "-phi", "-osc", "-phistep", "-phisteps", "-water", "-floatfile", "-floatimage", "-intfile", "-intimage",
    "-scale", "-adc", "-noisefile", "-noiseimage", "-pgmfile", "-pgmimage", "-pgmscale", "-nopgm", "-nonoise",
    "-seed", "-printout", "-printout_pixel", "-fluence", "-flux", "-beamsize", "-exposure", "-noprogress",
    "-progress", "-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector", "-polar_vector",
    "-spindle_axis", "-twotheta_axis", "-pix0_vector", "-pix0_vector_mm", "-density", "-sample_density", "-MW",
    "-molecular_weight", "-coherent", "-stol", "-4stol", "-Q", "-stolout", "--phi-carryover-mode",
    "--version", "-h", "--help",
]


def test_every_c_flag_is_in_the_table():
    assert [name for name in C_FLAGS if name not in BY_NAME] == []


@pytest.mark.parametrize("flag", [f for f in FLAGS if f.status != COMMAND],
                         ids=lambda f: f.name)
def test_every_flag_parses_its_example(flag):
    params, warnings = params_from_argv([flag.name] + example_values(flag))
    assert comparable(params) != comparable(Params()) or warnings or flag.name in (
        "-mosflm", "-square_xtal", "-round_div", "-progress")
    assert bool(warnings) == (flag.status == IGNORED)


ALIAS_PAIRS = [(flag, alias) for flag in FLAGS for alias in flag.aliases]


@pytest.mark.parametrize("flag,alias", ALIAS_PAIRS, ids=[a for _, a in ALIAS_PAIRS])
def test_alias_sets_what_its_canonical_flag_sets(flag, alias):
    values = example_values(flag)
    if flag.status == COMMAND:
        assert BY_NAME[alias] is flag
        return
    canonical, canonical_warnings = params_from_argv([flag.name] + values)
    aliased, aliased_warnings = params_from_argv([alias] + values)
    assert comparable(aliased) == comparable(canonical)
    assert [w.replace(alias, flag.name, 1) for w in aliased_warnings] == canonical_warnings
    assert comparable(canonical) != comparable(Params()) or canonical_warnings


def test_deviations_are_one_line_each():
    assert len(DEVIATIONS) >= 4
    assert all(isinstance(line, str) and "\n" not in line for line in DEVIATIONS)


# --- order rules ---

def test_later_flags_win():
    assert parse("-distance 100 -distance 200").distance == 0.2
    assert parse("-lambda 1 -energy 12398.42").lambda0 == (12398.42 / 12398.42) / 1.0e10
    assert parse("-energy 12398.42 -lambda 2").lambda0 == 2 / 1.0e10
    assert parse("-polar 0.5 -nopolar").nopolar is True
    assert parse("-nopolar -polar 0.5").nopolar is False
    assert parse("-round_xtal -gauss_xtal").xtal_shape == "gauss"
    assert parse("-interpolate -nointerpolate").interpolate == 0


def test_distance_after_close_distance_flips_the_pivot():
    p = parse("-close_distance 100 -distance 120")
    assert (p.detector_pivot, p.close_distance, p.distance) == ("beam", 0.1, 0.12)
    assert parse("-distance 120 -close_distance 100").detector_pivot == "sample"


@pytest.mark.parametrize("text,pivot", [
    ("-Xbeam 10", "beam"), ("-Ybeam 10", "beam"), ("-Xclose 10", "sample"), ("-Yclose 10", "sample"),
    ("-ORGX 10", "sample"), ("-ORGY 10", "sample"), ("-twotheta 10", "sample"), ("-pivot sample", "sample"),
    ("-xds -pivot beam", "beam"), ("-twotheta 10 -Xbeam 5", "beam"),
])
def test_pivot_side_effects(text, pivot):
    assert parse(text).detector_pivot == pivot


@pytest.mark.parametrize("text,convention,pivot", [
    ("-mosflm", "mosflm", "beam"), ("-xds", "xds", "sample"), ("-adxv", "adxv", "beam"),
    ("-denzo", "denzo", "beam"), ("-dials", "dials", "beam"),
    ("-xds -beam_vector 0 0 1", "custom", "sample"), ("-beam_vector 0 0 1 -xds", "xds", "sample"),
    ("-fdet_vector 0 0 1", "custom", "beam"), ("-sdet_vector 0 -1 0", "custom", "beam"),
    ("-odet_vector 1 0 0", "custom", "beam"), ("-polar_vector 0 0 1", "custom", "beam"),
    ("-spindle_axis 0 0 1", "custom", "beam"), ("-twotheta_axis 0 1 0", "custom", "beam"),
    ("-pix0_vector 0.1 0 0", "custom", "beam"), ("-xds -mosflm", "mosflm", "beam"),
])
def test_convention_side_effects(text, convention, pivot):
    p = parse(text)
    assert (p.beam_convention, p.detector_pivot) == (convention, pivot)


def test_vectors_are_stored_as_given():
    p = parse("-beam_vector 0 0 1 -spindle_axis -1 0 0 -twotheta_axis 3 0 0")
    assert p.beam_vector == (0.0, 0.0, 1.0)
    assert p.spindle_vector == (-1.0, 0.0, 0.0)
    assert p.twotheta_axis == (3.0, 0.0, 0.0)


def test_twotheta_axis_sets_only_the_axis():
    p = parse("-twotheta 10 -twotheta_axis 3 0 0")
    assert p.detector_twotheta == 10 / RTD


# --- values ---

def test_cell_with_one_number_stops_at_the_next_flag():
    p = parse("-cell 90 -default_F 100")
    assert p.user_cell is True
    assert (p.cell_a, p.cell_b, p.cell_c, p.cell_alpha, p.cell_beta, p.cell_gamma) == (90, 0, 0, 0, 0, 0)
    assert p.default_F == 100


def test_cell_six_numbers_angles_in_radians():
    p = parse("-cell 70 80 90 75 85 95")
    assert (p.cell_a, p.cell_b, p.cell_c) == (70, 80, 90)
    assert (p.cell_alpha, p.cell_beta, p.cell_gamma) == (75 / RTD, 85 / RTD, 95 / RTD)


def test_cell_keeps_earlier_values_it_does_not_repeat():
    p = parse("-cell 70 80 90 -cell 50")
    assert (p.cell_a, p.cell_b, p.cell_c) == (50, 80, 90)


def test_negative_values():
    p = parse("-phi -10 -misset -89.9 -31.3 177.7 -Xbeam -5 -beam_vector -1 0 0 -adc -40")
    assert p.phi0 == -10 / RTD
    assert p.misset == (-89.9 / RTD, -31.3 / RTD, 177.7 / RTD)
    assert p.misset_random is False
    assert p.Xbeam == -5 / 1000.0
    assert p.beam_vector == (-1.0, 0.0, 0.0)
    assert p.adc_offset == -40.0


def test_misset_random():
    p = parse("-misset random")
    assert p.misset_random is True and p.misset is None
    assert parse("-misset randomly").misset_random is True
    p = parse("-misset random -misset 1 2 3")
    assert p.misset_random is False and p.misset == (1 / RTD, 2 / RTD, 3 / RTD)
    assert parse("-misset 1 2 3 -misset random").misset_random is True


@pytest.mark.parametrize("text", ["-misset_seed 7 -misset random", "-misset random -misset_seed 7"])
def test_misset_seed_in_either_order(text):
    p = parse(text)
    assert p.misset_random is True
    assert p.misset_seed == 7
    assert p.misset is None


def test_seeds_are_stored_negated():
    p = parse("-seed 12345 -mosaic_seed 99 -misset_seed 7")
    assert (p.seed, p.mosaic_seed, p.misset_seed) == (12345, 99, 7)  # as given; set-up negates them as C does


def test_n_sets_all_three_then_per_axis():
    p = parse("-N 5 -Nb 3")
    assert (p.Na, p.Nb, p.Nc) == (5, 3, 5)
    assert parse("-Na 5.0").Na == 5


@pytest.mark.parametrize("text,field,expected", [
    ("-lambda 1.5", "lambda0", 1.5 / 1.0e10),
    ("-wavelength 6.2", "lambda0", 6.2 / 1.0e10),
    ("-energy 8000", "lambda0", (12398.42 / 8000) / 1.0e10),
    ("-distance 100", "distance", 100 / 1000.0),
    ("-close_distance 95.5", "close_distance", 95.5 / 1000.0),
    ("-Xbeam 51.25", "Xbeam", 51.25 / 1000.0),
    ("-pixel 0.172", "pixel_size", 0.172 / 1000.0),
    ("-detsize 51.2", "detsize_s", 51.2 / 1000.0),
    ("-xtalsize 0.05", "sample_z", 0.05 / 1000),
    ("-beamsize 0.02", "beamsize", 0.02 / 1000),
    ("-detector_abs inf", "detector_mu", 0.0),
    ("-detector_abs 0", "detector_mu", 0.0),
    ("-detector_abs 320", "detector_mu", 1.0 / (320 * 1e-6)),
    ("-detector_thick 100", "detector_thick", 100 * 1e-6),
    ("-water 100", "water_size", 100 / 1e6),
    ("-divergence 0.5", "vdivrange", 0.5 / 1000.0),
    ("-hdivstep 0.02", "hdivstep", 0.02 / 1000.0),
    ("-dispersion 10", "dispersion", 10 / 100.0),
    ("-mosaic 0.4", "mosaic_spread", 0.4 / RTD),
    ("-phi 3", "phi0", 3 / RTD),
    ("-osc 0.5", "osc", 0.5 / RTD),
    ("-twotheta 20", "detector_twotheta", 20 / RTD),
    ("-detector_rotz 1.5", "detector_rotz", 1.5 / RTD),
    ("-dmin 2.5", "dmin", 2.5 * 1e-10),
    ("-ORGX 64.5", "ORGX", 64.5),
    ("-fluence 1e24", "fluence", 1e24),
    ("-pix0_vector_mm -100 51.2 -51.2", "pix0_vector", (-0.1, 51.2 / 1000.0, -51.2 / 1000.0)),
])
def test_units(text, field, expected):
    assert getattr(parse(text), field) == expected


def test_detector_abs_inf_or_zero_also_zeroes_the_thickness():
    for value in ("inf", "0", "INF"):
        p = parse(f"-detector_thick 100 -detector_abs {value}")
        assert (p.detector_thick, p.detector_mu) == (0.0, 0.0)
    p = parse("-detector_abs 0 -detector_thick 100")
    assert (p.detector_thick, p.detector_mu) == (100 * 1e-6, 0.0)
    p = parse("-detector_thick 100 -detector_abs 50")
    assert p.detector_thick == 100 * 1e-6


def test_divergence_and_divsteps_set_both_axes():
    p = parse("-divergence 0.5 -divsteps 4 -hdivrange 0.2")
    assert (p.hdivrange, p.vdivrange) == (0.2 / 1000.0, 0.5 / 1000.0)
    assert (p.hdivsteps, p.vdivsteps) == (4, 4)


def test_detector_pixels_and_sizes():
    p = parse("-detpixels 128 -detpixels_x 100 -detsize 50 -detsize_s 40")
    assert (p.fpixels, p.spixels) == (100, 128)
    assert (p.detsize_f, p.detsize_s) == (50 / 1000.0, 40 / 1000.0)


def test_switches_and_output_flags():
    p = parse("-nonoise -nopgm -noprogress -curved_det -point_pixel -square_div -oversample_thick "
              "-oversample_polar -oversample_omega -tophat_spots")
    assert (p.calculate_noise, p.write_pgm, p.progress_meter) == (False, False, False)
    assert (p.curved_detector, p.point_pixel, p.round_div) == (True, True, False)
    assert (p.oversample_thick, p.oversample_polar, p.oversample_omega) == (True, True, True)
    assert p.xtal_shape == "tophat"
    p = parse("-printout_pixel 10 20 -roi 1 2 3 4 -oversample 3 -scale 2.5 -adc 0 -fudge 2")
    assert (p.printout, p.printout_fpixel, p.printout_spixel) == (True, 10, 20)
    assert (p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax) == (1, 2, 3, 4)
    assert (p.oversample, p.intfile_scale, p.adc_offset, p.fudge) == (3, 2.5, 0.0, 2.0)
    p = parse("-hkl P1.hkl -mat A.mat -dump my.bin -sourcefile s.txt -floatfile f.bin -intfile i.img")
    assert (p.hklfilename, p.matfilename, p.dumpfilename) == ("P1.hkl", "A.mat", "my.bin")
    assert (p.sourcefilename, p.floatfilename, p.intfilename) == ("s.txt", "f.bin", "i.img")


def test_curved_det_works_as_the_last_token():
    assert parse("-curved_det").curved_detector is True


# --- errors ---

@pytest.mark.parametrize("token,suggestion", [
    ("-lamda", "-lambda"), ("-lambd", "-lambda"), ("-Distance", "-distance"), ("-polarization", "-polar"),
    ("-phi_start", "-phi"), ("-detector_distance", "-distance"),
])
def test_unknown_flag_suggests_the_nearest(token, suggestion):
    with pytest.raises(InputError) as info:
        params_from_argv([token, "1"])
    message = str(info.value)
    assert message.startswith(f"unknown flag {token} ")
    assert "did you mean" in message and suggestion in message


@pytest.mark.parametrize("token", ["-trace_pixel", "-noise", "-air", "-foo", "-lamda"])
def test_flags_that_c_silently_ignores_are_unknown(token):
    with pytest.raises(InputError, match=f"unknown flag {token} \\(nanoBragg.c would ignore it"):
        params_from_argv([token])


@pytest.mark.parametrize("text", ["-hdiv 0", "-vdiv 0.28", "-dispstep 3", "-source_distance 10000",
                                  "-source_dist 10000", "-detsize_x 100", "-detsize_y 100",
                                  "-xdet_vector 0 0 1", "-ydet_vector 0 -1 0", "-zdet_vector 1 0 0"])
def test_flags_of_nanobraggs_documentation_that_c_ignores_warn(text):
    params, warnings = params_from_argv(text.split())
    assert comparable(params) == comparable(Params())
    assert warnings == [f"{text.split()[0]}: {BY_NAME[text.split()[0]].note}"]
    assert warnings[0].startswith(f"{text.split()[0]}: ignored, as nanoBragg.c ignores it")


def test_spelling_nanobragg_takes_is_its_flag_with_a_warning():
    params, warnings = params_from_argv("-oscillation 1 --lambda 2".split())
    assert (params.osc, params.lambda0) == (1 / RTD, 2 / 1e10)
    assert warnings == ["-oscillation: taken as -osc, as nanoBragg.c does",
                        "--lambda: taken as -lambda, as nanoBragg.c does"]


@pytest.mark.parametrize("argv,fragment", [
    (["-distance"], "-distance: expected a number"),
    (["-misset", "1", "2"], "-misset: expected 'random' or three angles"),
    (["-beam_vector", "1", "0"], "-beam_vector: expected 3 numbers"),
    (["-cell"], "-cell: expected 1 to 6 numbers"),
    (["-hkl"], "-hkl: expected a file name"),
    (["-hkl", "-mat", "A.mat"], "got the flag -mat"),
    (["-roi", "1", "2", "3"], "-roi: expected 4 integers"),
    (["--phi-carryover-mode"], "--phi-carryover-mode: expected one of spec, c-parity"),
])
def test_missing_value(argv, fragment):
    with pytest.raises(InputError, match=fragment):
        params_from_argv(argv)


@pytest.mark.parametrize("argv,fragment", [
    (["-distance", "abc"], "-distance: expected a number"),
    (["-lambda", "nan"], "-lambda: expected a number"),
    (["-lambda", "inf"], "-lambda: expected a number"),
    (["-phi", "0x10"], "-phi: expected a number"),
    (["-N", "5.5"], "-N: expected an integer"),
    (["-N", "abc"], "-N: expected an integer"),
    (["-detpixels", "1e3"], "-detpixels: expected an integer"),
    (["-seed", "99999999999"], "-seed: 99999999999 is out of range"),
    (["-misset", "1", "x", "3"], "-misset: expected"),
    (["-cell", "70", "eighty"], "-cell: expected"),
    (["-pivot", "center"], "-pivot: expected one of sample, beam"),
    (["-energy", "0"], "-energy"),
])
def test_bad_value(argv, fragment):
    with pytest.raises(InputError, match=fragment):
        params_from_argv(argv)


@pytest.mark.parametrize("argv", [["stray"], ["-N", "5", "6"], ["-phi", "1", "-5"],
                                  ["-cell", "1", "2", "3", "4", "5", "6", "7"]])
def test_stray_token(argv):
    with pytest.raises(InputError, match="unexpected argument"):
        params_from_argv(argv)


def test_nonoise_nopgm_and_seed_accepted():
    p = parse("-nonoise -nopgm -seed 5")
    assert (p.calculate_noise, p.write_pgm, p.seed) == (False, False, 5)


# --- ignored flags ---

@pytest.mark.parametrize("text", ["-density 1.2", "-sample_density 1.2", "-MW 18", "-molecular_weight 18",
                                  "-coherent", "-stolout out.stol", "-stol water.stol", "-4stol w.stol",
                                  "-Q w.stol", "-pix0_vector 0.1 0.05 -0.05", "-pix0_vector_mm 100 50 -50"])
def test_ignored_flags_warn(text):
    params, warnings = params_from_argv(text.split())
    assert len(warnings) == 1
    assert warnings[0].startswith(text.split()[0] + ": ") and "\n" not in warnings[0]


def test_stol_file_name_is_stored():
    assert parse("-4stol water.stol").stolfilename == "water.stol"


def test_pix0_vector_switches_to_custom_and_is_stored():
    params, warnings = params_from_argv("-xds -pix0_vector 0.1 0.05 -0.05".split())
    assert params.beam_convention == "custom"
    assert params.pix0_vector == (0.1, 0.05, -0.05)
    assert "ignored" in warnings[0] and "custom" in warnings[0]
    assert parse("-pix0_vector 0.1 0.05 -0.05 -dials").beam_convention == "dials"


# --- -img and -mask headers ---

@needs_inputs
def test_img_header_values_are_applied():
    p = parse(f"-img {INPUTS / 'header128.img'}")
    assert p.imginfilename == str(INPUTS / "header128.img")
    assert (p.fpixels, p.spixels) == (128, 128)
    assert p.pixel_size == 0.6 / 1000.0
    assert p.detsize_f == p.detsize_s == (0.6 / 1000.0) * 128
    assert p.distance == 120.0 / 1000.0
    assert p.lambda0 == 5.5 / 1e10
    assert (p.Xbeam, p.Ybeam) == (40.0 / 1000.0, 35.0 / 1000.0)
    assert (p.phi0, p.osc) == (3.0 / RTD, 0.5 / RTD)
    assert p.detector_pivot == "beam" and p.detector_twotheta == 0.0


@needs_inputs
def test_cli_flags_override_the_img_header_wherever_they_are():
    p = parse(f"-distance 100 -detpixels 64 -img {INPUTS / 'header128.img'} -lambda 1")
    assert p.distance == 0.1 and p.lambda0 == 1 / 1.0e10
    assert (p.fpixels, p.spixels) == (64, 64)
    assert p.pixel_size == 0.6 / 1000.0


@needs_inputs
def test_mask_header_beam_center_y_is_measured_from_the_far_edge():
    p = parse(f"-mask {INPUTS / 'header128.img'}")
    assert p.maskfilename == str(INPUTS / "header128.img")
    assert p.Xbeam == 40.0 / 1000.0
    assert p.Ybeam == (0.6 / 1000.0) * 128 - 35.0 / 1000.0


@needs_inputs
def test_img_header_is_applied_after_the_mask_header():
    p = parse(f"-img {INPUTS / 'header128.img'} -mask {INPUTS / 'mask128.img'}")
    assert p.pixel_size == 0.6 / 1000.0
    p = parse(f"-mask {INPUTS / 'header128.img'} -img {INPUTS / 'mask128.img'}")
    assert p.pixel_size == 0.8 / 1000.0
    assert p.Ybeam == (0.6 / 1000.0) * 128 - 35.0 / 1000.0


def test_unreadable_img_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="-img"):
        params_from_argv(["-img", str(tmp_path / "missing.img")])


# --- port-only options ---

@pytest.mark.parametrize("argv", [["--phi-carryover-mode", "c-parity"], ["--phi-carryover-mode=c-parity"]])
def test_phi_carryover_mode(argv):
    assert params_from_argv(argv)[0].phi_carryover_mode == "c-parity"
    assert Params().phi_carryover_mode == "spec"


@pytest.mark.parametrize("argv", [["--phi-carryover-mode", "exact"], ["--phi-carryover-mode=C-PARITY"],
                                  ["--phi-carryover-mode="]])
def test_bad_phi_carryover_mode(argv):
    with pytest.raises(InputError, match="--phi-carryover-mode: expected one of spec, c-parity"):
        params_from_argv(argv)


# --- the reference suite's command lines ---

def _manifest_cases():
    path = REPO / "c_reference" / "manifest.json"
    if not path.exists():
        return []
    return sorted(json.loads(path.read_text()).items())


@pytest.mark.parametrize("case", _manifest_cases(), ids=lambda case: case[0])
def test_reference_command_lines_parse(case, tmp_path, monkeypatch):
    name, entry = case
    if INPUTS is not None:
        for source in INPUTS.iterdir():
            (tmp_path / source.name).symlink_to(source)
    monkeypatch.chdir(tmp_path)
    argv = entry["argv"]
    if INPUTS is None and any(token in ("-img", "-mask") for token in argv):
        pytest.skip("needs c_reference/inputs")
    params, _ = params_from_argv(argv)
    assert params.fpixels == entry["fpixels"] or params.fpixels == 0


# --- the click command ---

@pytest.fixture
def fake_run(monkeypatch):
    calls = []

    def run(params, **_):
        calls.append(params)

    import nbnumba.run
    monkeypatch.setattr(nbnumba.run, "run", run)
    return calls


def test_help_lists_the_flags(fake_run):
    for args in (["--help"], ["-h"], ["-hkl", "x", "-h"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0
        for name in ("-hkl", "-mat", "-lambda", "-matrix", "--phi-carryover-mode", "--version"):
            assert name in result.output
        assert "spec (default)" in result.output
    assert not fake_run


def test_usage_lists_every_flag_and_alias():
    text = usage_text()
    for flag in FLAGS:
        for name in flag.names:
            assert name in text


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("nbnumba ")


def test_flags_reach_the_parser_untouched(fake_run):
    args = ["-hkl", "P1.hkl", "-phi", "-10", "-N", "5", "-Q", "q.stol", "--phi-carryover-mode=c-parity",
            "-misset", "-89.9", "-31.3", "177.7"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (params,) = fake_run
    assert params.hklfilename == "P1.hkl" and params.phi0 == -10 / RTD and params.Na == 5
    assert params.phi_carryover_mode == "c-parity" and params.stolfilename == "q.stol"
    assert "WARNING: -Q:" in result.stderr


def test_unknown_flag_exits_2_with_one_line(fake_run):
    result = CliRunner().invoke(main, ["-foo"])
    assert result.exit_code == 2
    assert "-foo" in result.stderr
    assert result.stderr.startswith("nbnumba: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not fake_run


def test_double_dash_is_not_swallowed(fake_run):
    result = CliRunner().invoke(main, ["--"])
    assert result.exit_code == 2
    assert "unknown flag --" in result.stderr


def test_run_status_and_errors_from_run(monkeypatch, fake_run, capsys):
    import nbnumba.run as run_module

    assert main_argv(["-nonoise"]) == 0 and len(fake_run) == 1

    def bad(params, **_):
        raise InputError("-hkl file x cannot be read")

    monkeypatch.setattr(run_module, "run", bad)
    assert main_argv(["-nonoise"]) == 2
    assert capsys.readouterr().err == "nbnumba: error: -hkl file x cannot be read\n"

    def interrupted(params, **_):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run", interrupted)
    assert main_argv(["-nonoise"]) == 130
    assert capsys.readouterr().err == "nbnumba: interrupted\n"
