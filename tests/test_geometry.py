# SPDX-License-Identifier: BSD-3-Clause
"""Detector geometry, sampling resolution and random numbers, checked against independent
calculations (ray-plane intersections, the documented C rules, a big-integer ran1)."""
import math

import numpy as np
import pytest

from nbnumba import params_from_argv, rng
from nbnumba.rng import RandomStreams, mosaic_umats, seed_array
from nbnumba.setup import prepare

BASE = "-cell 100 100 100 90 90 90 -default_F 1 -N 5 -lambda 1 -distance 100 -detpixels 64 -pixel 0.1".split()
PX = 1e-4


def setup_for(*flags):
    params, _ = params_from_argv(BASE + list(flags))
    return prepare(params)


def beam_spot(det):
    """Where the direct beam meets the detector plane, in (fast, slow) metres from pix0's corner, and the
    distance from the sample along the beam: solves pix0 + F fdet + S sdet = t beam."""
    m = np.column_stack([det.fdet, det.sdet, -np.asarray(det.beam)])
    f, s, t = np.linalg.solve(m, -np.asarray(det.pix0))
    return f, s, t


def close_point(det):
    """Foot of the perpendicular from the sample onto the detector plane, (fast, slow) metres, and its distance."""
    o = np.asarray(det.odet)
    d = float(np.dot(det.pix0, o))
    foot = d * o - np.asarray(det.pix0)
    return float(np.dot(foot, det.fdet)), float(np.dot(foot, det.sdet)), d


@pytest.mark.parametrize("convention,expected_px", [
    ("-mosflm", 33.0),   # edge coordinate N/2 + 1 pixels: the code's extra +0.5 px (c_behaviour.md 3.3)
    ("-denzo", 32.5),    # centre of pixel N/2
    ("-adxv", 32.5),
    ("-xds", 32.0),      # detsize / 2
    ("-dials", 32.0),
])
def test_default_beam_centre_per_convention(convention, expected_px):
    f, s, t = beam_spot(setup_for(convention).detector)
    assert f / PX == pytest.approx(expected_px, abs=1e-9)
    assert s / PX == pytest.approx(expected_px, abs=1e-9)
    assert t == pytest.approx(0.1, rel=1e-12)


def test_custom_convention_beam_centre_and_meaning_of_xbeam():
    f, s, _ = beam_spot(setup_for("-spindle_axis", "0", "0", "1").detector)
    assert (f / PX, s / PX) == pytest.approx((32.0, 32.0), abs=1e-9)
    # in CUSTOM, Xbeam is along fast and Ybeam along slow, no half-pixel shift
    f, s, _ = beam_spot(setup_for("-spindle_axis", "0", "0", "1", "-Xbeam", "2.0", "-Ybeam", "3.0").detector)
    assert (f, s) == pytest.approx((2.0e-3, 3.0e-3), abs=1e-12)


def test_beam_centre_flags_per_convention():
    # MOSFLM: Xbeam is along slow, Ybeam along fast, plus half a pixel
    f, s, _ = beam_spot(setup_for("-Xbeam", "2.0", "-Ybeam", "3.0").detector)
    assert (f, s) == pytest.approx((3.0e-3 + PX / 2, 2.0e-3 + PX / 2), abs=1e-12)
    # ADXV: Xbeam along fast, Ybeam from the far slow edge
    f, s, _ = beam_spot(setup_for("-adxv", "-Xbeam", "2.0", "-Ybeam", "3.0").detector)
    assert (f, s) == pytest.approx((2.0e-3, 6.4e-3 - 3.0e-3), abs=1e-12)
    # XDS: -Xbeam has no geometric effect, -ORGX/-ORGY place the near point (1-based pixel centres)
    f, s, _ = beam_spot(setup_for("-xds", "-Xbeam", "2.0", "-Ybeam", "3.0").detector)
    assert (f / PX, s / PX) == pytest.approx((32.0, 32.0), abs=1e-9)
    det = setup_for("-xds", "-ORGX", "20", "-ORGY", "40").detector
    f, s, d = close_point(det)
    assert (f / PX, s / PX, d) == pytest.approx((19.5, 39.5, 0.1), abs=1e-9)
    assert (det.ORGX, det.ORGY) == pytest.approx((20.0, 40.0), abs=1e-9)


def test_beam_pivot_keeps_the_beam_spot():
    """MOSFLM forces the BEAM pivot, even after -pivot sample or -twotheta (which ask for SAMPLE)."""
    det = setup_for("-pivot", "sample", "-twotheta", "20", "-detector_rotx", "3").detector
    assert det.pivot == "beam"
    f, s, t = beam_spot(det)
    assert (f / PX, s / PX, t) == pytest.approx((33.0, 33.0, 0.1), abs=1e-9)


def test_sample_pivot_keeps_the_near_point():
    """XDS forces the SAMPLE pivot: a two-theta swing keeps the perpendicular foot and distance."""
    det = setup_for("-xds", "-twotheta", "20").detector
    assert det.pivot == "sample"
    f, s, d = close_point(det)
    assert (f / PX, s / PX, d) == pytest.approx((32.0, 32.0, 0.1), abs=1e-9)
    # the detector normal has swung by 20 degrees away from the beam
    assert math.degrees(math.acos(np.dot(det.odet, det.beam))) == pytest.approx(20.0, abs=1e-9)


def test_custom_convention_follows_the_pivot_flag():
    assert setup_for("-spindle_axis", "0", "0", "1", "-pivot", "sample").detector.pivot == "sample"
    assert setup_for("-spindle_axis", "0", "0", "1", "-twotheta", "5", "-pivot", "beam").detector.pivot == "beam"
    assert setup_for("-twotheta", "5", "-spindle_axis", "0", "0", "1").detector.pivot == "sample"


@pytest.mark.parametrize("flags,phis_deg,osc_deg", [
    ([], [0.0], 0.0),
    (["-phistep", "0.25"], [0.0, 0.25], 0.25),          # step only: osc = step, 2 steps
    (["-osc", "2"], [0.0, 1.0], 2.0),                    # osc only: 2 steps of osc/2
    (["-osc", "1", "-phistep", "0.3"], [0.0, 0.3, 0.6, 0.9], 1.0),  # ceil(osc/step)
    (["-phisteps", "4"], [0.0, 0.25, 0.5, 0.75], 1.0),   # steps only: osc silently 1 degree
    (["-phisteps", "5", "-phistep", "0.1"], [0.0, 0.1], 0.1),  # count discarded, 2 steps
    (["-phi", "5", "-osc", "1", "-phisteps", "4"], [5.0, 5.25, 5.5, 5.75], 1.0),
])
def test_phi_step_resolution(flags, phis_deg, osc_deg):
    steps = setup_for(*flags).steps
    assert np.degrees(steps.phi_values) == pytest.approx(phis_deg, abs=1e-12)
    assert math.degrees(steps.osc) == pytest.approx(osc_deg, abs=1e-12)


@pytest.mark.parametrize("flags,steps_h,range_h,step_h", [
    ([], 1, 0.0, 0.0),
    (["-hdivrange", "2"], 2, 2e-3, 2e-3),               # range only: step = range, 2 steps
    (["-hdivstep", "0.5"], 2, 0.5e-3, 0.5e-3),          # step only: range = step
    (["-hdivrange", "1", "-hdivstep", "0.3"], 4, 1e-3, 0.3e-3),  # ceil(range/step)
    (["-hdivsteps", "3"], 3, 1.0, 1.0 / 3),             # steps only: range 1 rad (C's unit slip)
    (["-hdivrange", "2", "-hdivsteps", "5"], 5, 2e-3, 0.5e-3),   # symmetric, step = range/(n-1)
])
def test_divergence_step_resolution(flags, steps_h, range_h, step_h):
    st = setup_for(*flags).steps
    assert (st.hdivsteps, st.hdivrange, st.hdivstep) == pytest.approx((steps_h, range_h, step_h), rel=1e-12)


def test_round_divergence_trims_corners():
    assert setup_for("-divergence", "2", "-divsteps", "3").sources.shape[0] == 5
    assert setup_for("-divergence", "2", "-divsteps", "4").sources.shape[0] == 12
    assert setup_for("-divergence", "2", "-divsteps", "4", "-square_div").sources.shape[0] == 16


@pytest.mark.parametrize("flags,lambdas", [
    ([], [1.0]),
    (["-dispersion", "4"], [0.98, 1.02]),
    (["-dispersion", "4", "-dispsteps", "5"], [0.98, 0.99, 1.0, 1.01, 1.02]),
    (["-dispsteps", "5"], [1.0]),
])
def test_dispersion_resolution(flags, lambdas):
    assert setup_for(*flags).sources[:, 3] * 1e10 == pytest.approx(lambdas, rel=1e-12)


@pytest.mark.parametrize("flags,layers,step_um", [
    ([], 1, 0.0),
    (["-detector_thick", "100"], 2, 50.0),                       # auto: 2 layers, thick/2
    (["-detector_thick", "100", "-thicksteps", "3"], 3, 50.0),   # thick/(n-1)
    (["-detector_thick", "100", "-thicksteps", "1"], 2, 100.0),  # 1 becomes 2
])
def test_thickness_resolution(flags, layers, step_um):
    st = setup_for(*flags).steps
    assert st.detector_thicksteps == layers
    assert st.detector_thickstep * 1e6 == pytest.approx(step_um, rel=1e-12)


def test_mosaic_domain_count_rules():
    assert setup_for("-mosaic", "0.5").steps.mosaic_domains == 10
    assert setup_for("-mosaic_domains", "5").steps.mosaic_domains == 1
    assert setup_for("-mosaic", "0", "-mosaic_domains", "5").steps.mosaic_domains == 1


def _ran1_oracle(seed, n):
    """Numerical Recipes ran1 written directly with Python integers (no Schrage factorisation)."""
    m, a = 2147483647, 16807
    x = 1 if -seed < 1 else -seed
    table = [0] * 32
    for j in range(39, -1, -1):
        x = a * x % m
        if j < 32:
            table[j] = x
    y = table[0]
    out = []
    for _ in range(n):
        x = a * x % m
        j = y // (1 + (m - 1) // 32)
        y = table[j]
        table[j] = x
        out.append(min(np.float32(y / m), np.float32(1.0 - 1.2e-7)))
    return out, x


@pytest.mark.parametrize("seed", [-12345678, -1, -7, 0])
def test_ran1_sequence(seed):
    streams = RandomStreams()
    idum = seed_array(seed)
    ours = [streams.uniform(idum) for _ in range(200)]
    expected, state = _ran1_oracle(seed, 200)
    assert ours == expected
    assert int(idum[0]) == state


def test_ran1_is_the_minimal_standard_generator():
    """Park & Miller's check value: the 10000th state from seed 1 is 1043618065 (40 states go into
    the shuffle table's warm-up and fill)."""
    streams = RandomStreams()
    idum = seed_array(-1)
    for _ in range(10000 - 40):
        streams.uniform(idum)
    assert int(idum[0]) == 1043618065 == pow(16807, 10000, 2147483647)


def test_mosaic_domains_are_small_rotations():
    spread = math.radians(0.5)
    umats = mosaic_umats(spread, 20, RandomStreams(), seed_array(-12345678))
    assert np.array_equal(umats[0], np.eye(3))
    for u in umats:
        np.testing.assert_allclose(u @ u.T, np.eye(3), atol=1e-14)
        assert np.linalg.det(u) == pytest.approx(1.0, abs=1e-14)
        angle = math.acos(min(1.0, (np.trace(u) - 1) / 2))
        assert angle <= spread * (1 + 1e-6)
    assert len({u.tobytes() for u in umats}) == 20


@pytest.mark.parametrize("seed", [-12345678, -1, -987654321])
def test_python_twin_rotations_are_the_compiled_ones(seed, monkeypatch):
    """Few mosaic domains (and -misset random) take ``mosaic_rotation_umat``'s Python twin: the same
    matrices to the last bit and the same random-number state as the compiled function, drawn in turn
    from one shared shuffle table; ``mosaic_umats`` gives the same domains either way."""
    twin_streams, compiled_streams = RandomStreams(), RandomStreams()
    twin_idum, compiled_idum = seed_array(seed), seed_array(seed)
    for mosaicity in (math.radians(0.2), 90.0, 1e-6, 0.0) * 200:
        twin = twin_streams.rotation(mosaicity, twin_idum, twin=True)
        compiled = compiled_streams.rotation(mosaicity, compiled_idum, twin=False)
        assert twin.tobytes() == compiled.tobytes()
    assert np.array_equal(twin_streams.table, compiled_streams.table) and twin_idum[0] == compiled_idum[0]
    domains = 25
    assert domains <= rng.TWIN_ROTATIONS
    by_twin = mosaic_umats(0.01, domains, RandomStreams(), seed_array(seed))
    monkeypatch.setattr(rng, "TWIN_ROTATIONS", 0)
    assert mosaic_umats(0.01, domains, RandomStreams(), seed_array(seed)).tobytes() == by_twin.tobytes()


@pytest.mark.parametrize("angles", [(0.1, -0.2, 0.3), (1.2, 0.7, -2.5), (-3.0, 0.05, 1.0)])
def test_umat2misset_inverts_rotate(angles):
    """umat2misset gives the x, y, z angles whose rotate() reproduces the matrix."""
    from nbnumba.kernels.physics import rotate
    from nbnumba.rng import umat2misset
    rx, ry, rz = angles
    c, s = math.cos, math.sin
    Rx = np.array([[1, 0, 0], [0, c(rx), -s(rx)], [0, s(rx), c(rx)]])
    Ry = np.array([[c(ry), 0, s(ry)], [0, 1, 0], [-s(ry), 0, c(ry)]])
    Rz = np.array([[c(rz), -s(rz), 0], [s(rz), c(rz), 0], [0, 0, 1]])
    umat = Rz @ Ry @ Rx
    found = umat2misset(umat.ravel())
    for v in np.eye(3):
        np.testing.assert_allclose(rotate(tuple(v), *found), umat @ v, atol=1e-12)
