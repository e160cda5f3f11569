# SPDX-License-Identifier: BSD-3-Clause
"""``--precision single``: the float32 kernel against nanoBragg.c's reference images (every case but the
noise ones: float image within 1e-5 of the maximum, correlation >= 0.9999999, SMV identical but for at
most 0.1% of pixels off by one ADU), its float32 helpers against independent double-precision formulas,
and the flag."""
import math

import numba
import numpy as np
import pytest
from reference import assert_smv_matches, manifest, reference_bytes, reference_float, run_case

from nbnumba import params_from_argv
from nbnumba.errors import InputError
from nbnumba.kernels import physics, precision
from nbnumba.render.plan import make_plan
from nbnumba.setup import prepare

FLOAT_TOLERANCE = 1e-5
MIN_CORRELATION = 0.9999999
INT_OFF_BY_ONE_FRACTION = 1e-3
EPS32 = float(np.finfo(np.float32).eps)

CASES = [name for name in sorted(manifest()) if not name.startswith("noise_")]


def check_single_against_c(case, workdir):
    m = manifest()[case]
    argv = m["argv"]
    ref_case = m.get("port_matches", case)
    ours = np.fromfile(workdir / argv[argv.index("-floatfile") + 1], np.float32).astype(np.float64)
    ref = reference_float(ref_case).astype(np.float64).ravel()
    assert ours.shape == ref.shape
    scale = np.abs(ref).max()
    rel = np.abs(ours - ref).max() / scale
    assert rel <= FLOAT_TOLERANCE, "float image differs by %.3g of the maximum" % rel
    if ref.std() > 0:
        corr = np.corrcoef(ours, ref)[0, 1]
        assert corr >= MIN_CORRELATION, "correlation 1 - %.3g" % (1 - corr)
    else:  # a flat image: correlation is undefined; the images must then be equal to the tolerance above
        assert np.ptp(ours) <= FLOAT_TOLERANCE * scale

    ours_int = (workdir / argv[argv.index("-intfile") + 1]).read_bytes()
    assert_smv_matches(ours_int, reference_bytes(ref_case, "int"), INT_OFF_BY_ONE_FRACTION)


@pytest.mark.parity
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_single_precision_matches_c(case, tmp_path, capsys):
    extra = ["--precision", "single"]
    if manifest()[case]["phi_carryover"]:
        extra += ["--phi-carryover-mode", "c-parity"]
    assert run_case(case, tmp_path, extra) == manifest()[case]["exit_code"]
    capsys.readouterr()
    check_single_against_c(case, tmp_path)


# ---- the float32 helpers against independent formulas (numpy / math in double) ----

def returns_float32(dispatcher):
    """Every compiled signature of ``dispatcher`` returns float32 (numba boxes it as a Python float)."""
    signatures = dispatcher.nopython_signatures
    return bool(signatures) and all(sig.return_type == numba.float32 for sig in signatures)


def exact_grating(h, h0, n):
    d = h - h0
    value = n if d == 0 else math.sin(n * math.pi * d) / math.sin(math.pi * d)
    return -value if ((n - 1) * h0) & 1 else value


#: the GPU's helpers: up to precision.SINE_RATIO_MIN_N the recurrence, above it the closed form (sine_ratio); the
#: CPU's: the closed form for every N (precision.CPU_SINE_RATIO_MIN_N)
@pytest.mark.parametrize("sine_ratio_min_n", [precision.SINE_RATIO_MIN_N, precision.CPU_SINE_RATIO_MIN_N],
                         ids=["gpu", "cpu"])
@pytest.mark.parametrize("n", [2, 3, 5, 8, 10, 11, 12, 20, 64])
def test_float32_lattice_factor_within_n_ulps_of_the_peak(n, sine_ratio_min_n):
    f32 = precision.real_helpers("float32", sine_ratio_min_n=sine_ratio_min_n)
    rng = np.random.default_rng(n)
    worst = 0.0
    for _ in range(3000):
        hkl0 = rng.integers(-400, 400, 3)
        # fractions from 1e-7 (at the peak, where float32 cos(pi d) would have lost N^2/6 ulps) to 1/2
        hkl = hkl0 + rng.uniform(-0.5, 0.5, 3) * 10.0 ** rng.uniform(-7, 0, 3)
        h0, k0, l0 = (int(v) for v in hkl0)
        value = f32.lattice_square_equal(hkl[0], hkl[1], hkl[2], h0, k0, l0, n)
        exact = exact_grating(hkl[0], h0, n) * exact_grating(hkl[1], k0, n) * exact_grating(hkl[2], l0, n)
        worst = max(worst, abs(float(value) - exact) / n ** 3)
        mixed = f32.lattice_factor(physics.SQUARE, *hkl, h0, k0, l0, float(n), 2.0, 3.0, 1.0, (0.0,) * 3,
                                   (0.0,) * 3, (0.0,) * 3)
        exact_mixed = exact_grating(hkl[0], h0, n) * exact_grating(hkl[1], k0, 2) * exact_grating(hkl[2], l0, 3)
        assert abs(float(mixed) - exact_mixed) <= (n + 2) * EPS32 * 6 * n
    assert worst <= (n + 2) * EPS32, worst
    assert returns_float32(f32.lattice_square_equal) and returns_float32(f32.lattice_factor)


def test_sine_polynomial_is_sin_pi_x_over_x():
    """``precision.SIN_PI_OVER`` (the closed form's sines): sin(pi x)/x for |x| <= 1/2 to 1e-8 relative in double,
    and its float32 evaluation to 2 float32 epsilons."""
    f32 = precision.real_helpers("float32")
    x = np.linspace(0.0, 0.5, 20001)
    exact = np.array([math.pi if v == 0 else math.sin(math.pi * v) / v for v in x])
    t = x * x
    double = sum(c * t ** j for j, c in enumerate(precision.SIN_PI_OVER))
    assert np.max(np.abs(double / exact - 1.0)) <= 1e-8
    single = np.array([float(f32.sin_pi_over(np.float32(v))) for v in t[::20]])
    exact32 = np.array([math.pi if v == 0 else math.sin(math.pi * math.sqrt(float(np.float32(v))))
                        / math.sqrt(float(np.float32(v))) for v in t[::20]])
    assert np.max(np.abs(single / exact32 - 1.0)) <= 2 * EPS32


def test_float32_sinc3_and_shapes():
    f32 = precision.real_helpers("float32")
    for x in np.concatenate([[0.0], np.geomspace(1e-6, 30.0, 400)]):
        exact = 1.0 if x == 0 else (1.0 - x * x / 10.0 + x ** 4 / 280.0 if x < 1e-3
                                    else 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x))
        value = f32.sinc3(np.float32(x))
        assert abs(float(value) - exact) <= 4 * EPS32 + 2 * EPS32 * abs(exact) + abs(exact) * 2 * EPS32, x
    a_star, b_star, c_star = (0.011, 0.001, -0.002), (0.0, 0.012, 0.003), (0.001, 0.0, 0.009)
    rng = np.random.default_rng(7)
    for shape in (physics.ROUND, physics.GAUSS, physics.TOPHAT):
        for _ in range(500):
            hkl = rng.uniform(-50, 50, 3)
            h0, k0, l0 = (int(math.ceil(v - 0.5)) for v in hkl)
            args = (*hkl, h0, k0, l0, 5.0, 5.0, 5.0, 0.9, a_star, b_star, c_star)
            double = physics.lattice_factor(shape, *args)
            single = f32.lattice_factor(shape, *args)
            assert abs(float(single) - double) <= 8 * EPS32 * 125, (shape, hkl)
    assert returns_float32(f32.sinc3) and returns_float32(f32.lattice_factor)


def test_float32_tricubic_against_the_double_interpolation():
    f32 = precision.real_helpers("float32")
    rng = np.random.default_rng(3)
    table = rng.uniform(0, 1000, (12, 12, 12))
    for _ in range(300):
        h, k, l = rng.uniform(2.0, 8.0, 3) - 3  # table index origin -3
        double = physics.tricubic_F(table, h, k, l, -3, -3, -3)
        single = f32.tricubic_F(table.astype(np.float32), h, k, l, -3, -3, -3)
        # weights of magnitude <= 1.3 summed over 64 points: a few float32 roundings of the largest F
        assert abs(float(single) - double) <= 64 * EPS32 * 1000
    assert returns_float32(f32.tricubic_F)


def test_double_is_the_c_physics_and_single_is_float32():
    assert precision.make_physics(precision.DOUBLE) is physics
    assert precision.make_physics(precision.DOUBLE, gpu=True) is physics
    ph = precision.make_physics(precision.SINGLE)
    # the CPU's lattice factors: float32 values returned as float64, the closed form for every N; the GPU's:
    # float32, the recurrence up to SINE_RATIO_MIN_N
    cpu = precision.real_helpers("float32", wide=True, sine_ratio_min_n=precision.CPU_SINE_RATIO_MIN_N)
    assert ph.lattice_factor is cpu.lattice_factor
    assert ph.sine_ratio_3 is cpu.sine_ratio_3
    gpu = precision.make_physics(precision.SINGLE, gpu=True)
    assert gpu.lattice_factor is precision.real_helpers("float32").lattice_factor
    assert ph.grating_terms is physics.grating_terms
    assert precision.make_physics(precision.SINGLE, physics.GAUSS).lattice_factor is physics.lattice_factor
    assert precision.make_physics(precision.SINGLE, physics.ROUND).lattice_factor is ph.lattice_factor
    with pytest.raises(ValueError):
        precision.make_physics(7)


def test_the_cpu_lattice_factors_are_the_float32_ones_widened():
    """``real_helpers(..., wide=True)`` (the CPU's single precision): every lattice factor returns the float32
    helper's value, exactly, as a float64 (the sample's product F^2 F_latt^2 is then formed in double); for the
    GPU's choice between the recurrence and the closed form and for the CPU's (the closed form only)."""
    for sine_ratio_min_n in (precision.SINE_RATIO_MIN_N, precision.CPU_SINE_RATIO_MIN_N):
        _assert_widened(precision.real_helpers("float32", sine_ratio_min_n=sine_ratio_min_n),
                        precision.real_helpers("float32", wide=True, sine_ratio_min_n=sine_ratio_min_n))


def _assert_widened(f32, wide):
    rng = np.random.default_rng(11)
    a_star, b_star, c_star = (0.011, 0.001, -0.002), (0.0, 0.012, 0.003), (0.001, 0.0, 0.009)
    for _ in range(200):
        hkl0 = rng.integers(-300, 300, (3, 8))
        hkl = hkl0 + rng.uniform(-0.5, 0.5, (3, 8)) * 10.0 ** rng.uniform(-8, 0, (3, 8))
        h0, k0, l0 = (int(v) for v in hkl0[:, 0])
        for terms in (7, 10, 17):  # the GPU's recurrence and (17) closed form; the CPU's closed form
            for lanes in (4, 8):
                name = "lattice_square_equal_%d" % lanes
                args = [tuple(float(v) for v in row[:lanes]) for row in hkl] + \
                       [tuple(int(v) for v in row[:lanes]) for row in hkl0]
                assert getattr(wide, name)(*args, terms) == getattr(f32, name)(*args, terms)
            assert wide.lattice_square_equal(*hkl[:, 0], h0, k0, l0, terms) == \
                f32.lattice_square_equal(*hkl[:, 0], h0, k0, l0, terms)
        for nabc in ((5.0, 6.0, 7.0), (13.0, 24.0, 40.0)):
            assert wide.lattice_square(*hkl[:, 0], h0, k0, l0, *nabc) == f32.lattice_square(*hkl[:, 0], h0, k0, l0,
                                                                                            *nabc)
        for shape in (physics.SQUARE, physics.ROUND, physics.GAUSS, physics.TOPHAT):
            args = (*hkl[:, 0], h0, k0, l0, 5.0, 6.0, 7.0, 0.9, a_star, b_star, c_star)
            assert wide.lattice_factor(shape, *args) == f32.lattice_factor(shape, *args)
    for name in ("lattice_square_equal", "lattice_square", "lattice_factor"):
        signatures = getattr(wide, name).nopython_signatures
        assert signatures and all(sig.return_type == numba.float64 for sig in signatures), name
        assert returns_float32(getattr(f32, name)), name
    for lanes in (4, 8):
        signatures = getattr(wide, "lattice_square_equal_%d" % lanes).nopython_signatures
        assert signatures and all(sig.return_type == numba.types.UniTuple(numba.float64, lanes) for sig in signatures)


# ---- the flag ----

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 8".split()


@pytest.mark.parametrize("argv, expected", [([], "double"), (["--precision", "single"], "single"),
                                            (["-precision", "single"], "single"),
                                            (["-precision", "double"], "double")])
def test_precision_flag(argv, expected):
    params, _ = params_from_argv(BASE + argv)
    assert params.precision == expected
    plan = make_plan(prepare(params, log=lambda *a: None))
    assert plan.flags.precision == precision.CODES[expected]
    assert plan.fhkl.dtype == (np.float32 if expected == "single" else np.float64)


def test_precision_environment_default(monkeypatch):
    monkeypatch.setenv("NBNUMBA_PRECISION", "single")
    assert params_from_argv(BASE)[0].precision == "single"
    assert params_from_argv(BASE + ["--precision", "double"])[0].precision == "double"


def test_precision_flag_rejects_other_values():
    with pytest.raises(InputError, match="--precision"):
        params_from_argv(BASE + ["--precision", "half"])
