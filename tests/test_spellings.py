# SPDX-License-Identifier: BSD-3-Clause
"""Command lines as nanoBragg users write them: spellings nanoBragg.c's substring matching takes
(``nbnumba.argv.spellings``), flags nanoBragg's documentation uses that C ignores, and no arguments.

The rule is checked three ways: against the flag table (every C test names a table flag, every C-derived
table name sets off its own flag's tests), against nbnumba itself (a spelling renders the canonical flag's
image and prints one warning), and, with NB_C_BIN set, against the C program: C's output for the spelling
equals its output for the flag the rule names and differs from its output without it; for a spelling the
rule refuses as a typo or accepts as ignored, C's output equals its output without it."""
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from reference import INPUTS

from nbnumba import params_from_argv
from nbnumba.argv.flags import BY_NAME, FLAGS, G_DOC_IGNORED, G_PORT, IGNORED
from nbnumba.argv.parse import DEVIATIONS, split_argv
from nbnumba.argv.spellings import C_TESTS, COLLIDING_FLAGS, c_flags, c_tests, taken_as
from nbnumba.cli.main import main, main_argv, usage_text
from nbnumba.errors import ExitStatus, InputError
from nbnumba.params import Params

C_BIN = os.environ.get("NB_C_BIN")
needs_c = pytest.mark.skipif(not C_BIN, reason="NB_C_BIN (a nanoBragg.c binary) not set")

#: a small, fast image; "-pixel 1.6" spreads 64 pixels over wide angles so geometry flags show
BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 64 -pixel 1.6".split()
NO_CELL = BASE[7:]
OUTPUTS = ["-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile", "i.img"]

#: spellings users write, with the flag nanoBragg.c's source (L398-1116) applies them as, values, and the
#: command line before them; the image without the flag is that command line's (BASE for -matfile). The
#: flag is read off the C source by hand here and checked against the rule
#: (test_rule_takes_the_spelling_as_c_does) and, live, against the C program.
SPELLINGS = {
    "-oscillation": ("-osc", ["1"], BASE),
    "-pixel_size": ("-pixel", ["1.0"], BASE),
    "-curved_detector": ("-curved_det", [], BASE),
    "-exposure_time": ("-exposure", ["2"], BASE + ["-flux", "1e12"]),
    "-water_size": ("-water", ["50"], BASE),
    "-nopolarization": ("-nopolar", [], BASE),
    "-matfile": ("-mat", ["tet.mat"], NO_CELL),
    "-adcoffset": ("-adc", ["10"], BASE),  # nanoBragg's README documents -adcoffset
    "--lambda": ("-lambda", ["5"], BASE),
    "-distance_mm": ("-distance", ["90"], BASE),
    "-Xbeam_mm": ("-Xbeam", ["40"], BASE),
    "-hklfile": ("-hkl", ["cubic.hkl"], BASE),
    "-mosaic_spread_deg": ("-mosaic", ["1"], BASE + ["-mosaic_domains", "3"]),
    # sets off C's -printout and -printout_pixel tests, as -printout_pixel does (L1045, L1094)
    "-printout_pixels": ("-printout_pixel", ["5", "6"], BASE),
}

#: spellings C matches no test for and nanoBragg's documentation does not use: errors, with a suggestion
SPELLINGS_C_IGNORES = {
    "-lamda": (["2"], "-lambda"),
    "-polarization": (["0.5"], "-polar"),  # strlen must be 6 (L818)
    "-detector_distance": (["90"], "-distance"),  # "_distance" is not "-distance"
    "-Distance": (["90"], "-distance"),  # strstr is case-sensitive
    "-phi_start": (["10"], "-phi"),  # strlen must be 4 (L939)
    "-detector_thickness_um": (["100"], "-detector_thick"),  # strlen must be 15 (L752)
    "-trace_pixel": (["5", "6"], None),
    "-noise": (["3"], None),
    "-air": (["3"], None),
}

#: spellings that set off several flags' C tests that no table flag reproduces: refused. For the live check,
#: two command lines that would give the same image if C took the spelling as its first flag only
SPELLINGS_REFUSED = {
    "-twotheta_axis_vector": (["0", "0", "1"], ("-twotheta_axis", "-twotheta"),
                              # with twotheta 0 the axis does not matter; C also sets twotheta = x degrees
                              (BASE + ["-twotheta_axis_vector", "0", "0", "-1"],
                               BASE + ["-twotheta_axis_vector", "5", "0", "-1"])),
    "-misset_seed_value": (["3"], ("-misset", "-misset_seed"),
                           # a seed does nothing without -misset random; C also reads misset angles
                           (["-misset_seed_value", "0"] + BASE, ["-misset_seed_value", "20"] + BASE)),
    "-xds-adxv": ([], ("-xds", "-adxv"), (BASE + ["-xds-adxv"], BASE + ["-xds"])),
}

DOC_IGNORED = [name for flag in FLAGS if flag.group == G_DOC_IGNORED for name in flag.names]


def doc_ignored_values(name):
    return ["0.28"] * BY_NAME[name].nargs


# ----------------------------------------------------------------- the rule against the table

def test_every_c_test_names_a_table_flag():
    assert all(test.flag in BY_NAME and BY_NAME[test.flag].name == test.flag for test in C_TESTS)
    assert [test.line for test in C_TESTS] == sorted(test.line for test in C_TESTS)


C_NAMES = [name for name, flag in BY_NAME.items() if flag.group not in (G_PORT, G_DOC_IGNORED)]


@pytest.mark.parametrize("name", C_NAMES)
def test_every_c_flag_name_sets_off_its_own_flags_test(name):
    """Every table name of a nanoBragg.c flag (aliases included) is one C recognises as that flag:
    the table and the transcription of C's tests agree."""
    flag = BY_NAME[name]
    if name == "-pix0_vector_mm":  # a port flag (see DEVIATIONS): C takes it as -pix0_vector
        assert c_flags(name) == ("-pix0_vector",)
        return
    assert flag.name in c_flags(name)


def comparable(params):
    """Params as a dict in which NaN equals NaN."""
    return {key: ("nan" if value != value else value) for key, value in vars(params).items()}


POOL = ["5", "6", "7"]


def _sequential(name):
    """Params after applying, in C's order, every flag whose C test `name` sets off (values from POOL)."""
    params = Params()
    for flag_name in c_flags(name):
        flag = BY_NAME[flag_name]
        flag.apply(params, split_argv([flag_name] + POOL[:flag.nargs])[0].values)
    return comparable(params)


def test_table_names_that_set_off_several_tests():
    """A table name that sets off other flags' tests either does all of them (so a spelling with the same
    tests may be taken as it) or is one of the documented COLLIDING_FLAGS, which the rule refuses."""
    several = [name for name in C_NAMES if len(c_flags(name)) > 1]
    assert set(COLLIDING_FLAGS) <= set(several)
    for name in several:
        port = comparable(params_from_argv([name] + POOL[:BY_NAME[name].nargs])[0])
        if BY_NAME[name].name in COLLIDING_FLAGS:
            assert port != _sequential(name), name
            assert any(name in line for line in DEVIATIONS)
        else:
            assert port == _sequential(name), name


def test_documented_ignored_flags_match_no_c_test():
    assert DOC_IGNORED and all(c_tests(name) == () for name in DOC_IGNORED)
    assert all(BY_NAME[name].status == IGNORED for name in DOC_IGNORED)


# ----------------------------------------------------------------- the rule on spellings

@pytest.mark.parametrize("token", sorted(SPELLINGS))
def test_rule_takes_the_spelling_as_c_does(token):
    assert token not in BY_NAME
    assert taken_as(token).name == SPELLINGS[token][0]


@pytest.mark.parametrize("token", sorted(SPELLINGS_C_IGNORES))
def test_spellings_c_ignores_stay_errors(token):
    values, suggestion = SPELLINGS_C_IGNORES[token]
    assert c_tests(token) == () and taken_as(token) is None
    with pytest.raises(InputError) as info:
        params_from_argv([token] + values)
    message = str(info.value)
    assert message.startswith(f"unknown flag {token} ")
    if suggestion:
        assert "did you mean" in message and suggestion in message


@pytest.mark.parametrize("token", sorted(SPELLINGS_REFUSED))
def test_spellings_c_applies_as_several_flags_are_refused(token):
    values, flags, _ = SPELLINGS_REFUSED[token]
    assert c_flags(token) == flags
    with pytest.raises(InputError, match=re.escape(f"{token}: nanoBragg.c would apply this as")) as info:
        params_from_argv([token] + values)
    assert all(flag in str(info.value) for flag in flags)


@pytest.mark.parametrize("token", ["-lambda=1", "--hkl=P1.hkl"])
def test_spellings_with_an_equals_sign_are_refused(token):
    with pytest.raises(InputError, match="read its value from the next argument"):
        params_from_argv([token, "x"])


def test_a_spelling_used_twice_warns_once():
    params, warnings = params_from_argv("-oscillation 1 -oscillation 2".split())
    assert warnings == ["-oscillation: taken as -osc, as nanoBragg.c does"]
    assert params.osc == params_from_argv("-osc 2".split())[0].osc


def test_errors_name_the_spelling_as_written():
    with pytest.raises(InputError, match="-oscillation: expected a number"):
        params_from_argv(["-oscillation", "abc"])


# ----------------------------------------------------------------- nbnumba's images

def _run_nbnumba(argv, folder, capsys):
    folder.mkdir()
    for name in ("tet.mat", "cubic.hkl"):
        shutil.copy(INPUTS / name, folder / name)
    capsys.readouterr()
    old = os.getcwd()
    os.chdir(folder)
    try:
        status = main_argv(argv + OUTPUTS)
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    assert status == 0, out.err
    return {"f.bin": (folder / "f.bin").read_bytes(), "i.img": (folder / "i.img").read_bytes(),
            "stdout": out.out}, out.err


@pytest.mark.parametrize("token", sorted(SPELLINGS))
def test_spelling_renders_the_canonical_image(token, tmp_path, capsys):
    canonical, values, before = SPELLINGS[token]
    spelled, err = _run_nbnumba(before + [token] + values, tmp_path / "spelled", capsys)
    expected, canonical_err = _run_nbnumba(before + [canonical] + values, tmp_path / "canonical", capsys)
    without, _ = _run_nbnumba(before if before is not NO_CELL else BASE, tmp_path / "without", capsys)
    assert spelled == expected
    assert spelled != without  # the flag does something, so the comparison can fail
    assert err.splitlines() == [f"WARNING: {token}: taken as {canonical}, as nanoBragg.c does"]
    assert canonical_err == ""


@pytest.mark.parametrize("name", DOC_IGNORED)
def test_documented_ignored_flag_renders_as_without_it(name, tmp_path, capsys):
    ours, err = _run_nbnumba(BASE + [name] + doc_ignored_values(name), tmp_path / "with", capsys)
    without, _ = _run_nbnumba(BASE, tmp_path / "without", capsys)
    assert ours == without
    assert len(err.splitlines()) == 1
    assert err.startswith(f"WARNING: {name}: ignored, as nanoBragg.c ignores it")


def test_no_arguments_prints_the_usage():
    result = CliRunner().invoke(main, [])
    assert result.exit_code == ExitStatus.INPUT_ERROR
    assert result.stdout == usage_text() + "\n"
    assert result.stderr == ""


# ----------------------------------------------------------------- live: the C program


def _run_c(argv, folder):
    folder.mkdir()
    for name in ("tet.mat", "cubic.hkl"):
        shutil.copy(INPUTS / name, folder / name)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([C_BIN] + argv + OUTPUTS, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    stdout = "".join(line for line in done.stdout.splitlines(keepends=True) if not line.endswith("% done\n"))
    return {"f.bin": (folder / "f.bin").read_bytes(), "i.img": (folder / "i.img").read_bytes(), "stdout": stdout}


@needs_c
@pytest.mark.parametrize("token", sorted(SPELLINGS))
def test_live_c_takes_the_spelling_as_the_rule_says(token, tmp_path):
    canonical, values, before = SPELLINGS[token]
    spelled = _run_c(before + [token] + values, tmp_path / "spelled")
    assert spelled == _run_c(before + [taken_as(token).name] + values, tmp_path / "canonical")
    without = _run_c(before if before is not NO_CELL else BASE, tmp_path / "without")
    assert spelled != without  # the flag does something


@needs_c
@pytest.mark.parametrize("token", sorted(SPELLINGS_C_IGNORES) + DOC_IGNORED)
def test_live_c_ignores_the_spelling(token, tmp_path):
    values = SPELLINGS_C_IGNORES[token][0] if token in SPELLINGS_C_IGNORES else doc_ignored_values(token)
    assert _run_c(BASE + [token] + values, tmp_path / "with") == _run_c(BASE, tmp_path / "without")


@needs_c
@pytest.mark.parametrize("token", sorted(SPELLINGS_REFUSED))
def test_live_c_applies_the_refused_spelling_as_several_flags(token, tmp_path):
    """What the rule refuses, C applies as more than its first flag: two command lines that would give the
    same output if C applied only the first flag give different outputs."""
    first, second = SPELLINGS_REFUSED[token][2]
    assert _run_c(first, tmp_path / "first") != _run_c(second, tmp_path / "second")


@needs_c
def test_live_c_prints_its_usage_without_arguments(tmp_path):
    done = subprocess.run([C_BIN], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "usage: nanoBragg" in done.stdout
