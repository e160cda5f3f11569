# SPDX-License-Identifier: BSD-3-Clause
"""The per-sample physics for a given real type: ``make_physics(precision)`` returns the namespace the
pixel function calls as ``ph`` (``kernels.pixel``), the same source on the CPU and the GPU.

``DOUBLE`` is ``kernels.physics`` itself (nanoBragg.c's arithmetic; the default images do not change).
``SINGLE`` (``--precision single``) replaces the per-sample helpers, ``lattice_square_equal`` (and its
four- and eight-lane forms ``lattice_square_equal_4``/``_8``), ``lattice_factor`` and ``tricubic_F``, with
float32 versions built from the templates below: every constant is a typed ``REAL`` (numba would promote
float32 * a Python float to float64). The F table is float32 (the pixel function reads it as it is).

What stays float64 in the single-precision kernel, and why (docs/usage.md, "Single precision"):

- the geometry (pixel position, diffracted direction, solid angle, capture fraction, polarisation) and the
  scattering vector: the Miller index h = cell . s is a few hundred at most, and its fractional part must
  be right to ~1e-8 (float32 has 7 digits: h = 300 would keep 1e-5);
- the Miller index h, its nearest integer h0 and the fraction d = h - h0 (|d| <= 1/2): computed in
  double, *then* rounded to float32. Everything after depends only on d, which float32 holds to 6e-8
  relative: sin(N pi h) of the full index is never formed (nanoBraggCUDA's single precision loses its
  digits there);
- the tophat shape's edge test (a step: float32 would move samples across the edge), the Gaussian shape's
  lattice factor (see ``make_physics``) and the sine ratio of fractional or large N
  (> GRATING_RECURRENCE_MAX_N: C's formula on the full index);
- the pixel's sum over samples (a product per sample, added to a float64 sum: 10^3-10^5 samples in float32
  would lose digits);
- on the CPU, the product F^2 F_latt^2 itself: the lattice factor is computed in float32 and returned as a
  float64 (the same value; ``real_helpers``' ``wide``), and F_cell^2 (float32) times it is formed in double.
  The CPU pixel function carries eight lattice factors in a tuple, where float32 lanes cost 7-9% of the
  kernel's time (``make_physics``). The GPU's product stays float32 (``make_physics``' ``gpu``: double
  arithmetic is slow on most GPUs).

float32: the lattice factor of square and round crystals (on the CPU ``sine_ratio``'s closed form for every N,
CPU_SINE_RATIO_MIN_N, the same operations for every sample, which the CPU's vectorised sample stream needs; on the
GPU the grating as a Chebyshev recurrence in Reinsch's form, stable where cos(pi d) is near 1, i.e. at the Bragg
peaks, up to SINE_RATIO_MIN_N, the closed form above it, whose cost does not grow with N), the structure factor
(the F table is stored as float32; tricubic interpolation on the fractional index), F_cell^2 and, on the GPU, the
per-sample product F^2 F_latt^2."""
import math
import types
from functools import lru_cache

import numpy as np
from numba import njit

from nbnumba._jit import JIT_OPTIONS
from nbnumba.kernels import physics

#: ``KernelFlags.precision`` codes
DOUBLE, SINGLE = 0, 1
#: the ``--precision`` words, by code
NAMES = {DOUBLE: "double", SINGLE: "single"}
CODES = {name: code for code, name in NAMES.items()}
#: the real type of each code
REAL_TYPES = {DOUBLE: np.float64, SINGLE: np.float32}

#: contractions allowed in the recurrences (as in ``physics``)
_CONTRACT = dict(JIT_OPTIONS, fastmath={"contract"})
#: ``sine_ratio``, ``sine_ratio_terms`` and ``sine_ratio_3`` are inlined by numba, so that the lanes' copies form
#: one block LLVM packs into SIMD (left to LLVM's inliner, the kernel took 0.335-0.350 s instead of 0.208 s at
#: N = 30); ``sin_pi_over`` is left to LLVM, which inlines it: each numba inlining copies IR, and inlining it too
#: cost 1 s more of a single-precision kernel's first compilation
_INLINE = dict(_CONTRACT, inline="always")


def _versine_coefficients():
    """2 - 2 cos(pi d) = sum_k>=1 (-1)^(k+1) 2 pi^(2k) d^(2k) / (2k)!: seven terms reach float32's last bit
    for |d| <= 1/2 (the eighth is below 1e-10)."""
    return [(-1) ** (k + 1) * 2.0 * math.pi ** (2 * k) / math.factorial(2 * k) for k in range(1, 8)]


def _sinc3_coefficients():
    """sinc3(x) = 3 (sin x / x - cos x) / x^2 = sum_k>=1 (-1)^(k+1) 6k x^(2k-2) / (2k+1)!: seven terms for
    x < SINC3_SERIES_MAX (the eighth is below 1e-11)."""
    return [(-1) ** (k + 1) * 6.0 * k / math.factorial(2 * k + 1) for k in range(1, 8)]


#: the GPU's square crystal's lattice factor for N above this is ``sine_ratio``'s closed form (a constant cost), for
#: N up to it the recurrence (N - 1 steps). The kernel times cross here (kernel_seconds, 2 threads, min of 3,
#: twice; BENCH-1's shape at 512², BENCH-2's at 1024² in brackets; recurrence against closed form): N = 10
#: 0.2032 s against 0.207-0.215 s (0.486 s against 0.481-0.486 s); N = 11 0.201-0.202 s against 0.205-0.208 s
#: (0.483-0.485 s against 0.478-0.479 s); N = 12 0.210 s against 0.206-0.207 s (0.503-0.504 s against
#: 0.477-0.479 s); N = 30 0.296 s against 0.208 s; N = 64 0.460 s against 0.209 s
SINE_RATIO_MIN_N = 11
#: the CPU's: the closed form for every N, as its vectorised sample loop (``kernels.pixel``'s sample stream) needs
#: the same operations for every sample, and every other CPU path (the lanes, one sample at a time, four pixels
#: side by side, -printout) must give the same values. Where the stream does not apply (-printout, interpolation,
#: the c-parity carryover, -oversample_thick/_polar/_omega, unequal N, stills) that costs a few percent at N = 10
#: (the eight lanes' figures above: 0.207-0.215 s against 0.2032 s)
CPU_SINE_RATIO_MIN_N = 1

#: sin(pi x)/x = sum_j SIN_PI_OVER[j] x^(2j) for |x| <= 1/2 (``sin_pi_over``): the polynomial of degree 4 in x^2
#: with the least maximum relative error, 5.3e-9 (fitted by iteratively reweighted least squares on 4000
#: Chebyshev nodes; ``tests/test_precision.py`` checks the error against math.sin)
SIN_PI_OVER = (3.141592636896078, -5.167709684824187, 2.5500697265635837, -0.5982421269956948, 0.07756038695623471)

#: below this argument sinc3 is a series: C's formula subtracts two numbers near 1 (error ~ eps / x^2)
SINC3_SERIES_MAX = 1.0

# ---- templates: globals REAL, ONE, ... are bound per real type by _bind (typed constants) ----
REAL = WIDE = np.float64
ZERO = ONE = TWO = PI = ROUND_NORM = GAUSS_WIDTH = SINC3_MAX = 0.0
V1 = V2 = V3 = V4 = V5 = V6 = V7 = 0.0
S1 = S2 = S3 = S4 = S5 = S6 = S7 = 0.0
N0 = N1 = N2 = N3 = D0 = D1 = D2 = D3 = 0.0
_versine_pi = _chebyshev_u = _grating = _lattice_square_equal = _lattice_square = _sinc3 = _polint = None
_versine_pi_4 = _reinsch_step_4 = _lattice_square_equal_4 = None
_sin_pi_over = _sine_ratio = _sine_ratio_terms = _sine_ratio_3 = _quotient = None
HALF = ROUND_MAGIC = P1 = P3 = P5 = P7 = P9 = 0.0
#: bound per variant (``_constants``): ``sine_ratio_min_n`` < 2, the closed form for every N. A constant, so that
#: numba drops the recurrence from the CPU's helpers (their first compilation within a kernel: 0.8 s shorter
#: with phi steps and mosaic domains, 20.2-20.3 s -> 19.4-19.5 s; 0.45 s for a still)
CLOSED_FORM_ONLY = False


def versine_pi(d):
    """2 - 2 cos(pi d) for |d| <= 1/2, to REAL's relative precision (no cancellation near d = 0)."""
    t = d * d
    return t * (V1 + t * (V2 + t * (V3 + t * (V4 + t * (V5 + t * (V6 + t * V7))))))


def chebyshev_u(s, terms):
    """U_{terms-1}(2 - s), the Chebyshev polynomial of the second kind, by Reinsch's form of the
    recurrence: the differences D_j = U_j - U_{j-1} are carried (D_{j+1} = D_j - s U_j), so the result
    keeps REAL's precision where 2 - s = 2 cos(pi d) is near 2 (the Bragg peaks), where the plain
    recurrence c U_j - U_{j-1} loses (N^2/6) ulp(2) relative. ``terms`` >= 1."""
    u = ONE
    dlt = ONE - s
    for _ in range(terms - 1):
        u = u + dlt
        dlt = dlt - s * u
    return u


def sin_pi_over(t):
    """sin(pi x)/x at t = x^2 for |x| <= 1/2: SIN_PI_OVER, a polynomial of degree 4 in t (relative error 5.3e-9,
    a tenth of float32's rounding; the Taylor series needs seven terms for that, which took the CPU's sample
    stream 0.1126 s instead of 0.1039 s on BENCH-1's shape)."""
    return P1 + t * (P3 + t * (P5 + t * (P7 + t * P9)))


def sine_ratio(d, x0, nf, odd):
    """(-1)^((n-1) x0) sin(n pi d)/sin(pi d), d = x - x0 (REAL, |d| <= 1/2), n = ``nf`` (``odd``: n - 1 is odd),
    in closed form: with m the integer nearest n d and r = n d - m (one rounding: a fused multiply-add),
    sin(n pi d) = (-1)^m sin(pi r), and both sines are x sin_pi_over(x^2); at m = 0 the ratio r/d is n itself.
    The same operations for any n (the recurrence takes n - 1 steps of two dependent operations); the product
    of three axes (``sine_ratio_3``) stays within 2.0-3.5 float32 epsilons (2^-23) of its peak n^3 for
    n = 2 ... 64, the recurrence's within 4-13 for n = 13 ... 64 (20000 random indices each, against the exact
    ratio in double). Branch-free (selects), so that the lanes of ``lattice_square_equal_4`` pack into SIMD
    instructions and the CPU's sample stream vectorises. Integers are
    rounded by adding and subtracting ROUND_MAGIC (1.5 x 2^(mantissa bits)), which leaves the nearest
    integer of any |x| < 2^22 (here |n d| <= 32): no conversion to an integer type, and numba-cuda has no
    scalar floor of a float."""
    numerator, denominator = _sine_ratio_terms(d, x0, nf, odd)
    return _quotient(numerator, denominator)


def sine_ratio_terms(d, x0, nf, odd):
    """``sine_ratio``'s numerator (with the sign) and denominator, ``(numerator, denominator)``."""
    m = (nf * d + ROUND_MAGIC) - ROUND_MAGIC
    r = nf * d - m
    zero = m == ZERO
    numerator = (nf if zero else r) * _sin_pi_over(r * r)
    half = m * HALF
    flip = (((half + ROUND_MAGIC) - ROUND_MAGIC) != half) != (odd and (x0 & 1) == 1)  # m odd, x0 odd
    return -numerator if flip else numerator, (ONE if zero else d) * _sin_pi_over(d * d)


def quotient(a, b):
    """a / b, IEEE-rounded on the GPU too: compiled without fastmath flags (NVVM turns a division that carries
    ``contract`` into div.approx), and not inlined into the contracting caller (numba's inlining would lower it
    with the caller's flags). On the CPU LLVM may still inline it; an instruction keeps its own flags."""
    return a / b


def sine_ratio_3(h, k, l, h0, k0, l0, terms):
    """``sine_ratio`` of the three axes for Na = Nb = Nc = ``terms``, multiplied, with one division (the three
    numerators' product over the denominators': 0.1098 -> 0.1080 s, the CPU's sample stream then eight samples
    wide, BENCH-1's shape at 512², 2 threads; ``lattice_square_equal`` for terms > SINE_RATIO_MIN_N)."""
    nf = REAL(terms)
    odd = ((terms - 1) & 1) == 1
    na, da = _sine_ratio_terms(REAL(h - h0), h0, nf, odd)
    nb, db = _sine_ratio_terms(REAL(k - k0), k0, nf, odd)
    nc, dc = _sine_ratio_terms(REAL(l - l0), l0, nf, odd)
    return _quotient(na * nb * nc, da * db * dc)


def grating(h, h0, n):
    """``physics.grating`` in REAL: sin(n pi h)/sin(pi h) from d = h - h0 (rounded to REAL once)."""
    terms = physics.grating_terms(n)
    if terms == 0:
        return ONE
    if terms < 0:
        return REAL(physics.sincg(math.pi * h, n))  # fractional or large N: C's formula, in double
    if CLOSED_FORM_ONLY or terms > SINE_RATIO_MIN_N:
        return _sine_ratio(REAL(h - h0), h0, REAL(terms), ((terms - 1) & 1) == 1)
    u = _chebyshev_u(_versine_pi(REAL(h - h0)), terms)
    if ((terms - 1) & 1) and (h0 & 1):
        return -u
    return u


def lattice_square_equal(h, k, l, h0, k0, l0, terms):
    """``physics.lattice_square_equal`` in REAL: Na = Nb = Nc, ``terms`` >= 2, three lockstep chains (above
    SINE_RATIO_MIN_N the closed form, ``sine_ratio``)."""
    if CLOSED_FORM_ONLY or terms > SINE_RATIO_MIN_N:
        return WIDE(_sine_ratio_3(h, k, l, h0, k0, l0, terms))
    sa = _versine_pi(REAL(h - h0))
    sb = _versine_pi(REAL(k - k0))
    sc = _versine_pi(REAL(l - l0))
    ua = ONE
    ub = ONE
    uc = ONE
    da = ONE - sa
    db = ONE - sb
    dc = ONE - sc
    for _ in range(terms - 1):
        ua = ua + da
        ub = ub + db
        uc = uc + dc
        da = da - sa * ua
        db = db - sb * ub
        dc = dc - sc * uc
    if (terms - 1) & 1:
        if h0 & 1:
            ua = -ua
        if k0 & 1:
            ub = -ub
        if l0 & 1:
            uc = -uc
    return WIDE(ua * ub * uc)


def versine_pi_4(x, x0):
    """``versine_pi`` of the fractions x - x0 of four lanes (each rounded to REAL once)."""
    return (_versine_pi(REAL(x[0] - x0[0])), _versine_pi(REAL(x[1] - x0[1])), _versine_pi(REAL(x[2] - x0[2])),
            _versine_pi(REAL(x[3] - x0[3])))


def reinsch_step_4(u, dlt, s):
    """One step of ``chebyshev_u``'s recurrence in four lanes: (U_j, D_j) -> (U_j+1, D_j+1)."""
    u = (u[0] + dlt[0], u[1] + dlt[1], u[2] + dlt[2], u[3] + dlt[3])
    return u, (dlt[0] - s[0] * u[0], dlt[1] - s[1] * u[1], dlt[2] - s[2] * u[2], dlt[3] - s[3] * u[3])


def lattice_square_equal_4(h, k, l, h0, k0, l0, terms):
    """``lattice_square_equal`` of four samples at once (``physics.lattice_square_equal_4`` in REAL): each lane
    the same operations in the same order as the scalar function."""
    if CLOSED_FORM_ONLY or terms > SINE_RATIO_MIN_N:
        return (WIDE(_sine_ratio_3(h[0], k[0], l[0], h0[0], k0[0], l0[0], terms)),
                WIDE(_sine_ratio_3(h[1], k[1], l[1], h0[1], k0[1], l0[1], terms)),
                WIDE(_sine_ratio_3(h[2], k[2], l[2], h0[2], k0[2], l0[2], terms)),
                WIDE(_sine_ratio_3(h[3], k[3], l[3], h0[3], k0[3], l0[3], terms)))
    sa = _versine_pi_4(h, h0)
    sb = _versine_pi_4(k, k0)
    sc = _versine_pi_4(l, l0)
    ua = ub = uc = (ONE, ONE, ONE, ONE)
    da = (ONE - sa[0], ONE - sa[1], ONE - sa[2], ONE - sa[3])
    db = (ONE - sb[0], ONE - sb[1], ONE - sb[2], ONE - sb[3])
    dc = (ONE - sc[0], ONE - sc[1], ONE - sc[2], ONE - sc[3])
    for _ in range(terms - 1):
        ua, da = _reinsch_step_4(ua, da, sa)
        ub, db = _reinsch_step_4(ub, db, sb)
        uc, dc = _reinsch_step_4(uc, dc, sc)
    odd = ((terms - 1) & 1) == 1
    ua = physics.grating_sign_4(ua, h0, odd)
    ub = physics.grating_sign_4(ub, k0, odd)
    uc = physics.grating_sign_4(uc, l0, odd)
    return (WIDE(ua[0] * ub[0] * uc[0]), WIDE(ua[1] * ub[1] * uc[1]), WIDE(ua[2] * ub[2] * uc[2]),
            WIDE(ua[3] * ub[3] * uc[3]))


def lattice_square_equal_8(h, k, l, h0, k0, l0, terms):
    """``lattice_square_equal_4`` of eight samples, its two halves' recurrences interleaved
    (``physics.lattice_square_equal_8`` in REAL)."""
    if CLOSED_FORM_ONLY or terms > SINE_RATIO_MIN_N:
        return (_lattice_square_equal_4(h[:4], k[:4], l[:4], h0[:4], k0[:4], l0[:4], terms)
                + _lattice_square_equal_4(h[4:], k[4:], l[4:], h0[4:], k0[4:], l0[4:], terms))
    sa = _versine_pi_4(h[:4], h0[:4])
    sb = _versine_pi_4(k[:4], k0[:4])
    sc = _versine_pi_4(l[:4], l0[:4])
    sa2 = _versine_pi_4(h[4:], h0[4:])
    sb2 = _versine_pi_4(k[4:], k0[4:])
    sc2 = _versine_pi_4(l[4:], l0[4:])
    ua = ub = uc = ua2 = ub2 = uc2 = (ONE, ONE, ONE, ONE)
    da = (ONE - sa[0], ONE - sa[1], ONE - sa[2], ONE - sa[3])
    db = (ONE - sb[0], ONE - sb[1], ONE - sb[2], ONE - sb[3])
    dc = (ONE - sc[0], ONE - sc[1], ONE - sc[2], ONE - sc[3])
    da2 = (ONE - sa2[0], ONE - sa2[1], ONE - sa2[2], ONE - sa2[3])
    db2 = (ONE - sb2[0], ONE - sb2[1], ONE - sb2[2], ONE - sb2[3])
    dc2 = (ONE - sc2[0], ONE - sc2[1], ONE - sc2[2], ONE - sc2[3])
    for _ in range(terms - 1):
        ua, da = _reinsch_step_4(ua, da, sa)
        ub, db = _reinsch_step_4(ub, db, sb)
        uc, dc = _reinsch_step_4(uc, dc, sc)
        ua2, da2 = _reinsch_step_4(ua2, da2, sa2)
        ub2, db2 = _reinsch_step_4(ub2, db2, sb2)
        uc2, dc2 = _reinsch_step_4(uc2, dc2, sc2)
    odd = ((terms - 1) & 1) == 1
    ua = physics.grating_sign_4(ua, h0[:4], odd) + physics.grating_sign_4(ua2, h0[4:], odd)
    ub = physics.grating_sign_4(ub, k0[:4], odd) + physics.grating_sign_4(ub2, k0[4:], odd)
    uc = physics.grating_sign_4(uc, l0[:4], odd) + physics.grating_sign_4(uc2, l0[4:], odd)
    return (WIDE(ua[0] * ub[0] * uc[0]), WIDE(ua[1] * ub[1] * uc[1]), WIDE(ua[2] * ub[2] * uc[2]),
            WIDE(ua[3] * ub[3] * uc[3]), WIDE(ua[4] * ub[4] * uc[4]), WIDE(ua[5] * ub[5] * uc[5]),
            WIDE(ua[6] * ub[6] * uc[6]), WIDE(ua[7] * ub[7] * uc[7]))


def lattice_square(h, k, l, h0, k0, l0, na, nb, nc):
    """``physics.lattice_square`` in REAL."""
    ta = physics.grating_terms(na)
    if ta >= 2 and ta == physics.grating_terms(nb) and ta == physics.grating_terms(nc):
        return _lattice_square_equal(h, k, l, h0, k0, l0, ta)
    return WIDE(_grating(h, h0, na) * _grating(k, k0, nb) * _grating(l, l0, nc))


def sinc3(x):
    """``physics.sinc3`` in REAL, x >= 0: a series below SINC3_MAX, C's formula above."""
    if x < SINC3_MAX:
        t = x * x
        return S1 + t * (S2 + t * (S3 + t * (S4 + t * (S5 + t * (S6 + t * S7)))))
    return (math.sin(x) / x - math.cos(x)) * (REAL(3.0) / (x * x))


def lattice_factor(shape, h, k, l, h0, k0, l0, na, nb, nc, fudge, a_star, b_star, c_star):
    """``physics.lattice_factor`` in REAL (``shape`` is a compile-time constant)."""
    if shape == physics.SQUARE:
        return _lattice_square(h, k, l, h0, k0, l0, na, nb, nc)
    if shape == physics.TOPHAT:
        # a step function of |d*|: decided in double, as C does (float32 would move samples across the edge)
        return WIDE(REAL(physics.lattice_factor(shape, h, k, l, h0, k0, l0, na, nb, nc, fudge, a_star, b_star,
                                                c_star)))
    dh = REAL(h - h0)
    dk = REAL(k - k0)
    dl = REAL(l - l0)
    ra = REAL(na)
    rb = REAL(nb)
    rc = REAL(nc)
    nnn = REAL(na * nb * nc)
    if shape == physics.ROUND:
        hrad_sqr = dh * dh * ra * ra + dk * dk * rb * rb + dl * dl * rc * rc
        return WIDE(nnn * ROUND_NORM * _sinc3(PI * math.sqrt(hrad_sqr * REAL(fudge))))
    dx_star = dh * REAL(a_star[0]) + dk * REAL(b_star[0]) + dl * REAL(c_star[0])
    dy_star = dh * REAL(a_star[1]) + dk * REAL(b_star[1]) + dl * REAL(c_star[1])
    dz_star = dh * REAL(a_star[2]) + dk * REAL(b_star[2]) + dl * REAL(c_star[2])
    rad_star_sqr = (dx_star * dx_star + dy_star * dy_star + dz_star * dz_star) * ra * ra * rb * rb * rc * rc
    return WIDE(nnn * math.exp(-(rad_star_sqr / GAUSS_WIDTH * REAL(fudge))))  # GAUSS


def polint(y0, y1, y2, y3, t):
    """``physics.polint`` on the nodes -1, 0, 1, 2 at t (the fractional index, 0 <= t < 1), in REAL."""
    return ((t - N1) * (t - N2) * (t - N3) * y0 / D0 + (t - N0) * (t - N2) * (t - N3) * y1 / D1
            + (t - N0) * (t - N1) * (t - N3) * y2 / D2 + (t - N0) * (t - N1) * (t - N2) * y3 / D3)


def tricubic_F(fhkl, h, k, l, h_min, k_min, l_min):
    """``physics.tricubic_F`` in REAL: the same 4x4x4 neighbourhood and nesting (l, then k, then h), with
    the nodes shifted to floor(index) so that REAL only ever sees the fraction index - floor(index)."""
    hf = math.floor(h)
    kf = math.floor(k)
    lf = math.floor(l)
    # as physics.tricubic_F: the neighbourhood must lie inside the table (negated, so NaN fails)
    if not (hf - 1.0 >= h_min and hf + 3.0 - h_min <= fhkl.shape[0]
            and kf - 1.0 >= k_min and kf + 3.0 - k_min <= fhkl.shape[1]
            and lf - 1.0 >= l_min and lf + 3.0 - l_min <= fhkl.shape[2]):
        return REAL(math.nan)
    th = REAL(h - hf)
    tk = REAL(k - kf)
    tl = REAL(l - lf)
    ih = int(hf) - 1 - h_min
    ik = int(kf) - 1 - k_min
    il = int(lf) - 1 - l_min
    ymh0 = ZERO
    ymh1 = ZERO
    ymh2 = ZERO
    ymh3 = ZERO
    for i1 in range(4):
        ymk0 = ZERO
        ymk1 = ZERO
        ymk2 = ZERO
        ymk3 = ZERO
        for i2 in range(4):
            row = fhkl[ih + i1, ik + i2]
            v = _polint(REAL(row[il]), REAL(row[il + 1]), REAL(row[il + 2]), REAL(row[il + 3]), tl)
            if i2 == 0:
                ymk0 = v
            elif i2 == 1:
                ymk1 = v
            elif i2 == 2:
                ymk2 = v
            else:
                ymk3 = v
        v = _polint(ymk0, ymk1, ymk2, ymk3, tk)
        if i1 == 0:
            ymh0 = v
        elif i1 == 1:
            ymh1 = v
        elif i1 == 2:
            ymh2 = v
        else:
            ymh3 = v
    return _polint(ymh0, ymh1, ymh2, ymh3, th)


#: template -> its jit options
_TEMPLATES = {sin_pi_over: _CONTRACT, sine_ratio: _INLINE, sine_ratio_terms: _INLINE, sine_ratio_3: _INLINE,
              quotient: JIT_OPTIONS,
              versine_pi: _CONTRACT, chebyshev_u: _CONTRACT, grating: _CONTRACT,
              lattice_square_equal: _CONTRACT, versine_pi_4: _CONTRACT, reinsch_step_4: _CONTRACT,
              lattice_square_equal_4: _CONTRACT, lattice_square_equal_8: _CONTRACT, lattice_square: _CONTRACT,
              sinc3: JIT_OPTIONS, lattice_factor: JIT_OPTIONS, polint: JIT_OPTIONS, tricubic_F: JIT_OPTIONS}


def _constants(real, wide, sine_ratio_min_n):
    names = {"REAL": real, "WIDE": np.float64 if wide else real, "SINE_RATIO_MIN_N": int(sine_ratio_min_n),
             "CLOSED_FORM_ONLY": sine_ratio_min_n < 2,
             "ZERO": real(0.0), "ONE": real(1.0),
             "TWO": real(2.0), "PI": real(math.pi), "ROUND_NORM": real(0.723601254558268),
             "GAUSS_WIDTH": real(0.63), "SINC3_MAX": real(SINC3_SERIES_MAX)}
    for i, c in enumerate(_versine_coefficients(), 1):
        names["V%d" % i] = real(c)
    for i, c in enumerate(_sinc3_coefficients(), 1):
        names["S%d" % i] = real(c)
    names["HALF"] = real(0.5)
    names["ROUND_MAGIC"] = real(1.5 * 2.0 ** (np.finfo(real).nmant))
    for j, c in enumerate(SIN_PI_OVER):
        names["P%d" % (2 * j + 1)] = real(c)
    nodes = (-1.0, 0.0, 1.0, 2.0)
    for i, x in enumerate(nodes):
        names["N%d" % i] = real(x)
        denominator = 1.0
        for j, y in enumerate(nodes):
            if j != i:
                denominator *= x - y
        names["D%d" % i] = real(denominator)
    return names


def real_helpers(real_name: str, wide: bool = False,
                 sine_ratio_min_n: int = SINE_RATIO_MIN_N) -> types.SimpleNamespace:
    """The templates above compiled for ``np.dtype(real_name)`` ("float32"; "float64" compiles the same source in
    double, but ``SIN_PI_OVER`` is fitted for float32: no kernel uses it). Each is a copy of its template whose
    globals hold the typed constants and the other compiled helpers (globals, not closure cells: numba's
    cache keys a closure on its pickled cells, which for a dispatcher differ in every process), named
    ``<template>_<real>[_wide][_cf<n>]`` (cached code keeps its symbol names).

    ``wide``: the lattice factors (``lattice_square_equal``, its four- and eight-lane forms,
    ``lattice_square``, ``lattice_factor``) return their REAL value as float64 (``WIDE``; the same value,
    exactly), for the CPU kernels (``make_physics``). ``sine_ratio_min_n``: the square crystal's lattice factor
    is ``sine_ratio``'s closed form for N above it, the recurrence up to it (the CPU's kernels take
    CPU_SINE_RATIO_MIN_N, the GPU's SINE_RATIO_MIN_N)."""
    # one compilation per variant, however it is called
    return _real_helpers(real_name, bool(wide), int(sine_ratio_min_n))


@lru_cache(maxsize=None)
def _real_helpers(real_name, wide, sine_ratio_min_n):
    real = np.dtype(real_name).type
    namespace = dict(globals(), **_constants(real, wide, sine_ratio_min_n))
    compiled = {}
    for template, options in _TEMPLATES.items():
        function = types.FunctionType(template.__code__, namespace, template.__name__, template.__defaults__,
                                      template.__closure__)
        function.__name__ = function.__qualname__ = "%s_%s%s%s" % (
            template.__name__, real_name, "_wide" if wide else "",
            "" if sine_ratio_min_n == SINE_RATIO_MIN_N else "_cf%d" % sine_ratio_min_n)
        compiled[template.__name__] = njit(**options)(function)
    namespace.update({"_" + name: dispatcher for name, dispatcher in compiled.items()})
    return types.SimpleNamespace(**compiled)


#: the functions of ``physics`` the pixel function calls that call the per-sample helpers (``make_physics``
#: rebinds them), callees first
_CALLERS = ("lattice_factor_4", "lattice_factor_8", "sample_group_1", "sample_group_8")


@lru_cache(maxsize=None)
def make_physics(precision: int, shape: int = physics.SQUARE, gpu: bool = False) -> types.ModuleType:
    """What the pixel function calls as ``ph`` for ``KernelFlags.precision`` and ``.shape``: ``physics``
    for DOUBLE; for SINGLE a module with every name of ``physics``, its per-sample helpers in float32 (and
    its functions that call them, ``_CALLERS``, compiled again to call those), except the Gaussian shape's
    lattice factor, which stays ``physics``' double one: one float32 rounding of exp(-r^2) and its square is
    already ~1 ulp of float32 per sample, and bright images of single-sample pixels (10^4 ADU and more)
    would then round over 0.1% of their SMV pixels the other way (reference case xtal_gauss: 0.13%). The
    sample's product is then formed in double (F_cell^2 in float32 times F_latt^2). (A module, so that
    numba resolves ``ph.name`` at compile time, as for ``physics``.)

    ``gpu``: for the CUDA kernel, whose lattice factors stay float32 values and whose sample's product
    F_cell^2 F_latt^2 is float32 (double arithmetic is slow on most GPUs). The CPU's (``gpu`` False) return
    their float32 value as a float64 (``real_helpers``' ``wide``), and the product is formed in double as for
    the Gaussian shape: the CPU pixel function carries eight lattice factors in a tuple, where float32
    lanes cost 7-9% of the single-precision kernel's time (BENCH-1's shape at 512², 0.2186 s against
    0.1995 s; BENCH-2's at 1024², 0.5167 s against 0.4815 s; ``kernel_seconds``, 2 threads, min of 5, twice)."""
    if precision == DOUBLE:
        return physics
    if precision != SINGLE:
        raise ValueError("unknown precision code %r" % (precision,))
    # physics' names, with the float32 helpers in place of its own; ``__name__`` stays physics' (an importable
    # module: numba's cache imports it to rebuild a cached function's environment)
    namespace = dict(vars(physics))
    helpers = (real_helpers("float32") if gpu
               else real_helpers("float32", wide=True, sine_ratio_min_n=CPU_SINE_RATIO_MIN_N))
    for name in ("lattice_square_equal", "lattice_square_equal_4", "lattice_square_equal_8", "lattice_factor",
                 "tricubic_F"):
        if not (name == "lattice_factor" and shape == physics.GAUSS):
            namespace[name] = getattr(helpers, name)
    if not gpu:
        # the CPU's sample stream (``kernels.pixel``) calls the closed form itself, in its vectorised loop
        namespace["sine_ratio_3"] = helpers.sine_ratio_3
    # physics' functions that call those helpers, compiled again to call the float32 ones
    for name in _CALLERS:
        caller = getattr(physics, name)
        function = types.FunctionType(caller.py_func.__code__, namespace, name, caller.py_func.__defaults__)
        function.__name__ = function.__qualname__ = "%s_float32_%d%s" % (name, shape, "_gpu" if gpu else "")
        options = dict(JIT_OPTIONS, **{k: v for k, v in caller.targetoptions.items() if k in ("inline", "fastmath")})
        namespace[name] = njit(**options)(function)
    module = types.ModuleType("nbnumba.kernels.precision.single_%d%s" % (shape, "_gpu" if gpu else ""))
    module.__dict__.update({name: value for name, value in namespace.items() if not name.startswith("__")})
    return module


__all__ = ["CODES", "DOUBLE", "NAMES", "REAL_TYPES", "SINGLE", "make_physics", "real_helpers"]
