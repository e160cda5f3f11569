# SPDX-License-Identifier: BSD-3-Clause
"""Every reference case of nanoBragg.c through the nbnumba command line: float image to 1e-6 of the
maximum, SMV header identical, SMV pixels identical but for at most 0.1% off by one ADU, Fdump files,
noise images (same -seed) and PGM files byte-identical."""
import numpy as np
import pytest
from reference import assert_smv_matches, manifest, reference_bytes, reference_float, relative_max_difference, run_case

FLOAT_TOLERANCE = 1e-6
SPEC_TOLERANCE = 1e-5
INT_OFF_BY_ONE_FRACTION = 1e-3

CASES = sorted(manifest())
CARRYOVER_CASES = [name for name in CASES if manifest()[name]["phi_carryover"]]


def expected_case(case):
    """The case whose outputs a correct reader reproduces (C misreads ``c_defect`` inputs)."""
    return manifest()[case].get("port_matches", case)


def argv_value(argv, flag, default=None):
    return argv[argv.index(flag) + 1] if flag in argv else default


def check_outputs(case, workdir):
    ref_case = expected_case(case)
    m = manifest()[case]
    argv = m["argv"]
    ours = np.fromfile(workdir / m["argv"][m["argv"].index("-floatfile") + 1], np.float32)
    ours = ours.reshape(m["spixels"], m["fpixels"])
    ref = reference_float(ref_case)
    rel = relative_max_difference(ours, ref)
    assert rel <= FLOAT_TOLERANCE, "float image differs by %.3g of the maximum" % rel

    ours_int = (workdir / m["argv"][m["argv"].index("-intfile") + 1]).read_bytes()
    assert_smv_matches(ours_int, reference_bytes(ref_case, "int"), INT_OFF_BY_ONE_FRACTION)

    outputs = manifest()[ref_case]["outputs"]
    for key, name in (("fdump", "Fdump.bin"), ("fdump_named", m["argv"][m["argv"].index("-dump") + 1]
                                                if "-dump" in m["argv"] else None)):
        if key in outputs:
            assert (workdir / name).read_bytes() == reference_bytes(ref_case, key), "%s differs" % name

    if "noise" in outputs:
        ours_noise = (workdir / argv_value(argv, "-noisefile")).read_bytes()
        ref_noise = reference_bytes(ref_case, "noise")
        assert ours_noise[:512] == ref_noise[:512], "noise image headers differ"
        a = np.frombuffer(ours_noise[512:], np.uint16)
        b = np.frombuffer(ref_noise[512:], np.uint16)
        assert a.shape == b.shape and np.count_nonzero(a != b) == 0, "noise pixels differ"
    if "pgm" in outputs:
        assert (workdir / argv_value(argv, "-pgmfile", "image.pgm")).read_bytes() == reference_bytes(ref_case, "pgm")
    return rel


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_case_matches_c(case, tmp_path, capsys):
    extra = ["--phi-carryover-mode", "c-parity"] if manifest()[case]["phi_carryover"] else []
    assert run_case(case, tmp_path, extra) == manifest()[case]["exit_code"]
    capsys.readouterr()
    check_outputs(case, tmp_path)


@pytest.mark.parity
@pytest.mark.parametrize("case", CARRYOVER_CASES)
def test_default_mode_rotates_each_phi_step(case, tmp_path, capsys):
    """Default (spec) mode against the average of C stills at each phi value."""
    assert run_case(case, tmp_path) == 0
    capsys.readouterr()
    m = manifest()[case]
    ours = np.fromfile(tmp_path / "float.bin", np.float32).reshape(m["spixels"], m["fpixels"])
    ref = reference_float(case, "float_spec")
    assert relative_max_difference(ours, ref) <= SPEC_TOLERANCE
    # and the carryover really matters for these cases: the C image is not the spec image
    assert relative_max_difference(reference_float(case), ref) > SPEC_TOLERANCE
