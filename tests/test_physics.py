# SPDX-License-Identifier: BSD-3-Clause
"""The shared scalar physics against independent formulas."""
import math

import numpy as np
import pytest

from nbnumba.kernels import physics as ph


def test_sincg_at_zero_is_n_and_continuous():
    assert ph.sincg(0.0, 5.0) == 5.0
    assert ph.sincg(1e-9, 5.0) == pytest.approx(5.0, rel=1e-12)
    # at integer h (x = pi h) the grating transform peaks at +-N (limit of sin(Nx)/sin(x))
    assert abs(ph.sincg(math.pi * 3.0000001, 5.0)) == pytest.approx(5.0, rel=1e-7)
    assert ph.sincg(0.3, 4.0) == pytest.approx(math.sin(1.2) / math.sin(0.3), rel=1e-15)


def test_sinc3_at_zero_is_one_and_continuous():
    assert ph.sinc3(0.0) == 1.0
    # (sin x/x - cos x) cancels: about 1e-16/x^2 of rounding noise near 0
    assert ph.sinc3(1e-4) == pytest.approx(1.0, abs=1e-6)
    # first zero of the sphere transform: tan x = x at x = 4.4934094579
    assert abs(ph.sinc3(4.4934094579090641753)) < 1e-12


def _polar_reference(kahn, incident, diffracted, e_vector):
    """Kahn et al. polarisation: P = 1/2 (1 + cos^2 2t - K cos 2psi sin^2 2t), psi measured from the
    plane of the E-vector, computed with numpy from projections."""
    i = np.asarray(incident, float) / np.linalg.norm(incident)
    d = np.asarray(diffracted, float) / np.linalg.norm(diffracted)
    e = np.asarray(e_vector, float)
    e = e - i * np.dot(e, i)
    e /= np.linalg.norm(e)
    b = np.cross(i, e)
    cos2t = np.dot(i, d)
    psi = math.atan2(np.dot(d, b), np.dot(d, e))
    return 0.5 * (1 + cos2t ** 2 - kahn * math.cos(2 * psi) * (1 - cos2t ** 2))


@pytest.mark.parametrize("kahn", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("diffracted", [(1, 0, 0.5), (1, 0.5, 0), (1, 0.3, -0.4), (0.2, 1, 1)])
def test_polarization_factor(kahn, diffracted):
    incident, e_vector = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    polar, unit = ph.polarization_factor(kahn, incident, tuple(map(float, diffracted)), e_vector)
    assert polar == pytest.approx(_polar_reference(kahn, incident, diffracted, e_vector), rel=1e-12)
    assert np.linalg.norm(unit) == pytest.approx(1.0, rel=1e-15)


def test_polarization_limits():
    # fully polarised, scattering in the E-vector plane at 2theta = 90 deg: no intensity
    assert ph.polarization_factor(1.0, (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, 1.0))[0] == pytest.approx(0.0, abs=1e-15)
    # perpendicular to the E-vector: no loss
    assert ph.polarization_factor(1.0, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))[0] == pytest.approx(1.0)
    # unpolarised: (1 + cos^2 2theta) / 2
    assert ph.polarization_factor(0.0, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))[0] == pytest.approx(0.5)


def _rotation_matrix(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def test_rotate_axis_and_rotate_match_rotation_matrices():
    v = (0.3, -1.2, 2.5)
    axis = tuple(np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5]))
    np.testing.assert_allclose(ph.rotate_axis(v, axis, 0.7), _rotation_matrix(axis, 0.7) @ v, rtol=1e-13)
    expected = _rotation_matrix((0, 0, 1), 0.3) @ _rotation_matrix((0, 1, 0), -0.2) @ _rotation_matrix((1, 0, 0), 0.1) @ v
    np.testing.assert_allclose(ph.rotate(v, 0.1, -0.2, 0.3), expected, rtol=1e-13)
    assert ph.rotate_axis(v, axis, 0.0) == v


def test_lattice_factors_peak_at_bragg_positions():
    zero = (0.0, 0.0, 0.0)
    a_star = (0.01, 0.0, 0.0)
    b_star = (0.0, 0.01, 0.0)
    c_star = (0.0, 0.0, 0.01)
    for shape in (ph.GAUSS, ph.TOPHAT):
        assert ph.lattice_factor(shape, 2.0, -1.0, 3.0, 2, -1, 3, 5.0, 6.0, 7.0, 1.0, a_star, b_star, c_star) == pytest.approx(210.0)
    # the round crystal is scaled by sqrt(pi/6), the volume ratio of a sphere to its bounding cube
    assert ph.lattice_factor(ph.ROUND, 2.0, -1.0, 3.0, 2, -1, 3, 5.0, 6.0, 7.0, 1.0, a_star, b_star, c_star) == pytest.approx(210.0 * math.sqrt(math.pi / 6), rel=1e-14)
    # (exactly at a non-zero integer h, sin(N pi h)/sin(pi h) is 0/0 in floating point, as in C)
    near = 1e-7
    assert abs(ph.lattice_factor(ph.SQUARE, 2.0 + near, -1.0 + near, 3.0 + near, 2, -1, 3, 5.0, 6.0, 7.0, 1.0,
                                 zero, zero, zero)) == pytest.approx(210.0, rel=1e-6)
    # first zero of the square transform along h is at h = 1/N away from the peak
    assert ph.lattice_factor(ph.SQUARE, 2.2, 0.0, 0.0, 2, 0, 0, 5.0, 1.0, 1.0, 1.0, zero, zero, zero) == pytest.approx(0.0, abs=1e-12)


def test_tricubic_reproduces_a_cubic_polynomial():
    """Four-point Lagrange interpolation is exact for polynomials of degree 3 in each index."""
    h, k, l = np.meshgrid(np.arange(-4, 5), np.arange(-3, 6), np.arange(-5, 4), indexing="ij")
    f = lambda h, k, l: 1 + 0.5 * h ** 3 - k ** 2 * l + 0.25 * h * k * l ** 3
    table = f(h, k, l).astype(float)
    value = ph.tricubic_F(table, 0.3, 1.7, -1.2, -4, -3, -5)
    assert value == pytest.approx(f(0.3, 1.7, -1.2), rel=1e-12)


def test_in_table_inside_and_outside_the_table():
    # the table of h in [-1, 0], k in [0, 1], l in [1, 2]
    assert ph.in_table(8, 0, 1, 2, -1, 0, 0, 1, 1, 2)
    assert ph.in_table(8, -1, 0, 1, -1, 0, 0, 1, 1, 2)
    assert not ph.in_table(8, 1, 1, 2, -1, 0, 0, 1, 1, 2)
    assert not ph.in_table(8, 0, 2, 2, -1, 0, 0, 1, 1, 2)
    assert not ph.in_table(8, 0, 1, 0, -1, 0, 0, 1, 1, 2)
    assert not ph.in_table(0, 0, 1, 2, -1, 0, 0, 1, 1, 2)  # no -hkl: every F is -default_F


def _bits(value):
    """The bytes of a float, a tuple of floats or a (magnitude, vector) pair: NaN-aware equality."""
    flat = []
    for item in value if isinstance(value, tuple) else (value,):
        flat += list(item) if isinstance(item, tuple) else [item]
    return np.array(flat, dtype=np.float64).tobytes()


def _twin_cases(rng):
    """Arguments of each ``physics.HOST`` twin: random vectors over many magnitudes (and signs), unit
    axes, angles, zero vectors, numpy scalars, and infinite and NaN components and angles."""
    def vector():
        kind = rng.integers(5)
        if kind == 0:
            return (0.0, 0.0, 0.0)
        v = rng.normal(size=3) * 10.0 ** rng.integers(-300, 300)
        if kind == 1:
            v[rng.integers(3)] = rng.choice([math.inf, -math.inf, math.nan])
        values = tuple(float(x) for x in v)
        return tuple(np.float64(x) for x in values) if kind == 2 else values

    def angle():
        return float(rng.choice([0.0, math.inf, math.nan, rng.normal() * 10.0 ** rng.integers(-8, 3)]))

    for _ in range(400):
        yield "dot", (vector(), vector())
        yield "cross", (vector(), vector())
        yield "magnitude", (vector(),)
        yield "unitize", (vector(),)
        yield "scale", (vector(), float(rng.normal() * 10.0 ** rng.integers(-300, 300)))
        yield "rotate", (vector(), angle(), angle(), angle())
        yield "rotate_axis", (vector(), ph.unitize(vector())[1], angle())
        yield "rotate_umat", (vector(),) + tuple(float(x) for x in rng.normal(size=9))


def test_python_twins_give_the_compiled_floats():
    """The set-up's Python twins of the vector helpers (``physics.HOST``) return the compiled functions'
    floats bit for bit, also where Python alone would raise (sin of an infinite angle) or numpy scalars
    divide by zero."""
    rng = np.random.default_rng(20261203)
    compared = {}
    with np.errstate(all="ignore"):
        for name, args in _twin_cases(rng):
            twin = getattr(ph.HOST, name)
            assert _bits(twin(*args)) == _bits(twin.compiled(*args)), (name, args)
            compared[name] = compared.get(name, 0) + 1
    assert set(compared) == set(vars(ph.HOST))
    # the fallback: Python's math.sin(inf) raises, the twin gives the compiled NaN
    assert math.isnan(ph.HOST.rotate_axis((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), math.inf)[0])


def test_python_twins_refuse_fastmath_functions():
    from nbnumba._jit import python_twins

    with pytest.raises(ValueError, match="fastmath"):
        python_twins(ph, ("cos_pi",))
