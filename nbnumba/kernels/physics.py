# SPDX-License-Identifier: BSD-3-Clause
"""Scalar physics shared by the CPU and CUDA kernels and by the host-side geometry: vectors are
3-tuples, every helper is a lazily compiled ``@njit`` function (no signatures, no arrays of
state), so numba-cuda can compile the same source for the device. Arithmetic follows nanoBragg.c's
evaluation order so that results agree with the C program to the last bits where possible."""
import math
import sys

from numba import njit

from .._jit import JIT_OPTIONS, python_twins

SQUARE, ROUND, GAUSS, TOPHAT = 0, 1, 2, 3


@njit(**JIT_OPTIONS)
def dot(x, y):
    return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]


@njit(**JIT_OPTIONS)
def cross(x, y):
    return (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])


@njit(**JIT_OPTIONS)
def magnitude(v):
    return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


@njit(**JIT_OPTIONS)
def unitize(v):
    """(magnitude, unit vector); the zero vector stays zero (C ``unitize``)."""
    mag = magnitude(v)
    if mag != 0.0:
        return mag, (v[0] / mag, v[1] / mag, v[2] / mag)
    return mag, (0.0, 0.0, 0.0)


@njit(**JIT_OPTIONS)
def scale(v, s):
    return (s * v[0], s * v[1], s * v[2])


@njit(**JIT_OPTIONS)
def rotate(v, phix, phiy, phiz):
    """Rotate about lab x, then y, then z (C ``rotate``, L3311)."""
    new_x, new_y, new_z = v[0], v[1], v[2]
    if phix != 0:
        ryy = math.cos(phix)
        ryz = -math.sin(phix)
        rzy = math.sin(phix)
        rzz = math.cos(phix)
        rotated_y = new_y * ryy + new_z * ryz
        rotated_z = new_y * rzy + new_z * rzz
        new_y, new_z = rotated_y, rotated_z
    if phiy != 0:
        rxx = math.cos(phiy)
        rxz = math.sin(phiy)
        rzx = -math.sin(phiy)
        rzz = math.cos(phiy)
        rotated_x = new_x * rxx + new_y * 0.0 + new_z * rxz
        rotated_z = new_x * rzx + new_y * 0.0 + new_z * rzz
        new_x, new_z = rotated_x, rotated_z
    if phiz != 0:
        rxx = math.cos(phiz)
        rxy = -math.sin(phiz)
        ryx = math.sin(phiz)
        ryy = math.cos(phiz)
        rotated_x = new_x * rxx + new_y * rxy
        rotated_y = new_x * ryx + new_y * ryy
        new_x, new_y = rotated_x, rotated_y
    return (new_x, new_y, new_z)


@njit(**JIT_OPTIONS)
def rotate_axis(v, axis, phi):
    """Rodrigues rotation of ``v`` about the unit vector ``axis`` by ``phi`` (C ``rotate_axis``)."""
    sinphi = math.sin(phi)
    cosphi = math.cos(phi)
    d = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - cosphi)
    return (axis[0] * d + v[0] * cosphi + (-axis[2] * v[1] + axis[1] * v[2]) * sinphi,
            axis[1] * d + v[1] * cosphi + (axis[2] * v[0] - axis[0] * v[2]) * sinphi,
            axis[2] * d + v[2] * cosphi + (-axis[1] * v[0] + axis[0] * v[1]) * sinphi)


@njit(**JIT_OPTIONS)
def rotate_umat(v, u00, u01, u02, u10, u11, u12, u20, u21, u22):
    """Multiply ``v`` by a row-major 3x3 matrix (C ``rotate_umat``)."""
    return (u00 * v[0] + u01 * v[1] + u02 * v[2],
            u10 * v[0] + u11 * v[1] + u12 * v[2],
            u20 * v[0] + u21 * v[1] + u22 * v[2])


@njit(**JIT_OPTIONS)
def sincg(x, n):
    """Fourier transform of a grating, sin(N x)/sin(x); N at x == 0 (C ``sincg``)."""
    if x == 0.0:
        return n
    return math.sin(x * n) / math.sin(x)


#: Taylor coefficients of cos(pi d) in powers of d^2: (-1)^k pi^(2k) / (2k)!. Twelve terms reach
#: the last bit for |d| <= 1/2 (the 13th is below 2e-17).
_COS_PI_0 = 1.0
_COS_PI_1 = -math.pi ** 2 / 2.0
_COS_PI_2 = math.pi ** 4 / 24.0
_COS_PI_3 = -math.pi ** 6 / 720.0
_COS_PI_4 = math.pi ** 8 / 40320.0
_COS_PI_5 = -math.pi ** 10 / 3628800.0
_COS_PI_6 = math.pi ** 12 / 479001600.0
_COS_PI_7 = -math.pi ** 14 / 87178291200.0
_COS_PI_8 = math.pi ** 16 / 20922789888000.0
_COS_PI_9 = -math.pi ** 18 / 6402373705728000.0
_COS_PI_10 = math.pi ** 20 / 2432902008176640000.0
_COS_PI_11 = -math.pi ** 22 / 1124000727777607680000.0

#: largest integer N for which grating() uses the Chebyshev recurrence (N-1 multiply-adds);
#: larger or fractional N use the sine ratio on the reduced argument
GRATING_RECURRENCE_MAX_N = 64


@njit(**dict(JIT_OPTIONS, fastmath={"contract"}))
def cos_pi(d):
    """cos(pi d) for |d| <= 1/2 as a polynomial (no library call; the same arithmetic on a GPU),
    within 3e-16 of libm. Estrin's scheme: a short dependency chain (the kernels are bound by the
    latency of this and the recurrence, not by the number of operations)."""
    t = d * d
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    p01 = _COS_PI_0 + _COS_PI_1 * t
    p23 = _COS_PI_2 + _COS_PI_3 * t
    p45 = _COS_PI_4 + _COS_PI_5 * t
    p67 = _COS_PI_6 + _COS_PI_7 * t
    p89 = _COS_PI_8 + _COS_PI_9 * t
    p1011 = _COS_PI_10 + _COS_PI_11 * t
    return (p01 + p23 * t2) + (p45 + p67 * t2) * t4 + (p89 + p1011 * t2) * t8


#: the recurrences may fuse multiply-adds (one rounding instead of two; nothing else reordered)
_CONTRACT = dict(JIT_OPTIONS, fastmath={"contract"})


@njit(**_CONTRACT)
def grating_terms(n):
    """How ``grating``/``lattice_square`` evaluate sin(n pi h)/sin(pi h): n itself for an integer
    1 <= n <= GRATING_RECURRENCE_MAX_N (Chebyshev recurrence), 0 for n < 1 (C skips the factor:
    1), -1 otherwise (sine ratio, C's formula)."""
    if n < 1.0:
        return 0
    if n == math.floor(n) and n <= GRATING_RECURRENCE_MAX_N:
        return int(n)
    return -1


@njit(**_CONTRACT)
def grating(h, h0, n):
    """The grating transform C evaluates as ``sincg(M_PI*h, n)`` = sin(n pi h)/sin(pi h) (1 for
    n < 1, where C skips the factor), on the fractional index d = h - h0 (h0 = ceil(h - 0.5), so
    |d| <= 1/2).

    For integer n, sin(n pi h)/sin(pi h) = (-1)^((n-1) h0) sin(n pi d)/sin(pi d)
    = (-1)^((n-1) h0) U_{n-1}(cos pi d), the Chebyshev polynomial of the second kind, evaluated
    by its three-term recurrence: no library trigonometry, no division, no large-argument range
    reduction, and the limit n at d == 0 (C's ``sincg`` returns n only at h == 0; at other
    integers it divides two rounding residues). Fractional or large n use C's sine ratio."""
    terms = grating_terms(n)
    if terms == 0:
        return 1.0
    if terms < 0:
        return sincg(math.pi * h, n)
    c2 = 2.0 * cos_pi(h - h0)
    u_prev = 1.0          # U_0
    u = c2                # U_1 = 2c
    for _ in range(terms - 2):
        u_next = c2 * u - u_prev
        u_prev = u
        u = u_next
    if terms == 1:
        u = 1.0
    if ((terms - 1) & 1) and (h0 & 1):
        return -u
    return u


@njit(**_CONTRACT)
def lattice_square_equal(h, k, l, h0, k0, l0, terms):
    """``lattice_square`` for Na = Nb = Nc = ``terms`` = grating_terms(N) >= 2 (the common case; the
    kernels hoist the test out of their sample loop): three lockstep recurrences, no selects."""
    ca = 2.0 * cos_pi(h - h0)
    cb = 2.0 * cos_pi(k - k0)
    cc = 2.0 * cos_pi(l - l0)
    ua_prev = 1.0
    ub_prev = 1.0
    uc_prev = 1.0
    ua = ca
    ub = cb
    uc = cc
    for _ in range(terms - 2):
        ua_next = ca * ua - ua_prev
        ub_next = cb * ub - ub_prev
        uc_next = cc * uc - uc_prev
        ua_prev = ua
        ua = ua_next
        ub_prev = ub
        ub = ub_next
        uc_prev = uc
        uc = uc_next
    if (terms - 1) & 1:
        if h0 & 1:
            ua = -ua
        if k0 & 1:
            ub = -ub
        if l0 & 1:
            uc = -uc
    return ua * ub * uc


#: samples the CPU pixel function evaluates side by side (``kernels.pixel``): eight (source, phi step, mosaic
#: domain) samples' Miller indices and lattice factors in lockstep, as two groups of four (``sample_group_8``)
LANES = 8  # what sample_group_8 and the pixel function's _add_samples_8 take
#: with fewer samples left than this the CPU pixel function takes them one at a time (a lockstep group costs
#: about as much as four single samples: its time is the latency of the chains, not their operations); the CPU
#: kernel renders pixels with fewer (phi step, mosaic domain) samples four pixels side by side instead
#: (``kernels.pixel.make_pixel_group_function``; ``KernelFlags.few_samples``)
LOCKSTEP_MIN = 4


@njit(**_CONTRACT)
def _cos_pi_4(x, x0):
    """2 cos(pi (x - x0)) of four lanes."""
    return (2.0 * cos_pi(x[0] - x0[0]), 2.0 * cos_pi(x[1] - x0[1]), 2.0 * cos_pi(x[2] - x0[2]),
            2.0 * cos_pi(x[3] - x0[3]))


@njit(**_CONTRACT)
def _chebyshev_step_4(c, u, u_prev):
    """One step c U_j - U_{j-1} of the recurrence in four lanes (each lane's arithmetic as ``lattice_square_equal``)."""
    return (c[0] * u[0] - u_prev[0], c[1] * u[1] - u_prev[1], c[2] * u[2] - u_prev[2], c[3] * u[3] - u_prev[3])


@njit(**_CONTRACT)
def grating_sign_4(u, x0, odd):
    """(-1)^((n-1) x0) of four lanes (``odd``: n - 1 is odd)."""
    return (-u[0] if odd and (x0[0] & 1) else u[0], -u[1] if odd and (x0[1] & 1) else u[1],
            -u[2] if odd and (x0[2] & 1) else u[2], -u[3] if odd and (x0[3] & 1) else u[3])


@njit(**_CONTRACT)
def lattice_square_equal_4(h, k, l, h0, k0, l0, terms):
    """``lattice_square_equal`` of four samples at once (4-tuples in, a 4-tuple out): twelve lockstep
    chains, each lane the same operations in the same order as the scalar function (the same bits)."""
    ca = _cos_pi_4(h, h0)
    cb = _cos_pi_4(k, k0)
    cc = _cos_pi_4(l, l0)
    one = (1.0, 1.0, 1.0, 1.0)
    ua_prev = ub_prev = uc_prev = one
    ua = ca
    ub = cb
    uc = cc
    for _ in range(terms - 2):
        ua, ua_prev = _chebyshev_step_4(ca, ua, ua_prev), ua
        ub, ub_prev = _chebyshev_step_4(cb, ub, ub_prev), ub
        uc, uc_prev = _chebyshev_step_4(cc, uc, uc_prev), uc
    odd = ((terms - 1) & 1) == 1
    ua = grating_sign_4(ua, h0, odd)
    ub = grating_sign_4(ub, k0, odd)
    uc = grating_sign_4(uc, l0, odd)
    return (ua[0] * ub[0] * uc[0], ua[1] * ub[1] * uc[1], ua[2] * ub[2] * uc[2], ua[3] * ub[3] * uc[3])


@njit(**_CONTRACT)
def lattice_square_equal_8(h, k, l, h0, k0, l0, terms):
    """``lattice_square_equal`` of eight samples (8-tuples in, an 8-tuple out): ``lattice_square_equal_4`` of
    each half, their recurrences interleaved. Six independent chains of four lanes (each a SIMD register)
    instead of three: the recurrence is a chain of dependent multiply-adds, bound by their latency, which the
    second half's chains fill. Each lane the same operations in the same order as the scalar function."""
    ha, hb = h[:4], h[4:]
    ka, kb = k[:4], k[4:]
    la, lb = l[:4], l[4:]
    ca = _cos_pi_4(ha, h0[:4])
    cb = _cos_pi_4(ka, k0[:4])
    cc = _cos_pi_4(la, l0[:4])
    ca2 = _cos_pi_4(hb, h0[4:])
    cb2 = _cos_pi_4(kb, k0[4:])
    cc2 = _cos_pi_4(lb, l0[4:])
    one = (1.0, 1.0, 1.0, 1.0)
    ua_prev = ub_prev = uc_prev = ua2_prev = ub2_prev = uc2_prev = one
    ua = ca
    ub = cb
    uc = cc
    ua2 = ca2
    ub2 = cb2
    uc2 = cc2
    for _ in range(terms - 2):
        ua, ua_prev = _chebyshev_step_4(ca, ua, ua_prev), ua
        ub, ub_prev = _chebyshev_step_4(cb, ub, ub_prev), ub
        uc, uc_prev = _chebyshev_step_4(cc, uc, uc_prev), uc
        ua2, ua2_prev = _chebyshev_step_4(ca2, ua2, ua2_prev), ua2
        ub2, ub2_prev = _chebyshev_step_4(cb2, ub2, ub2_prev), ub2
        uc2, uc2_prev = _chebyshev_step_4(cc2, uc2, uc2_prev), uc2
    odd = ((terms - 1) & 1) == 1
    ua = grating_sign_4(ua, h0[:4], odd) + grating_sign_4(ua2, h0[4:], odd)
    ub = grating_sign_4(ub, k0[:4], odd) + grating_sign_4(ub2, k0[4:], odd)
    uc = grating_sign_4(uc, l0[:4], odd) + grating_sign_4(uc2, l0[4:], odd)
    return (ua[0] * ub[0] * uc[0], ua[1] * ub[1] * uc[1], ua[2] * ub[2] * uc[2], ua[3] * ub[3] * uc[3],
            ua[4] * ub[4] * uc[4], ua[5] * ub[5] * uc[5], ua[6] * ub[6] * uc[6], ua[7] * ub[7] * uc[7])


@njit(**_CONTRACT)
def lattice_square(h, k, l, h0, k0, l0, na, nb, nc):
    """F_latt of a parallelepiped crystal: grating(h) grating(k) grating(l) (C L2825-2836), with
    the three recurrences run side by side (independent chains: the processor overlaps them)."""
    ta = grating_terms(na)
    tb = grating_terms(nb)
    tc = grating_terms(nc)
    if ta < 2 or tb < 2 or tc < 2:
        return grating(h, h0, na) * grating(k, k0, nb) * grating(l, l0, nc)
    if ta == tb and ta == tc:
        return lattice_square_equal(h, k, l, h0, k0, l0, ta)
    ca = 2.0 * cos_pi(h - h0)
    cb = 2.0 * cos_pi(k - k0)
    cc = 2.0 * cos_pi(l - l0)
    ua_prev = 1.0
    ub_prev = 1.0
    uc_prev = 1.0
    ua = ca
    ub = cb
    uc = cc
    for j in range(2, max(ta, tb, tc)):
        ua_next = ca * ua - ua_prev
        ub_next = cb * ub - ub_prev
        uc_next = cc * uc - uc_prev
        if j < ta:
            ua_prev = ua
            ua = ua_next
        if j < tb:
            ub_prev = ub
            ub = ub_next
        if j < tc:
            uc_prev = uc
            uc = uc_next
    if ((ta - 1) & 1) and (h0 & 1):
        ua = -ua
    if ((tb - 1) & 1) and (k0 & 1):
        ub = -ub
    if ((tc - 1) & 1) and (l0 & 1):
        uc = -uc
    # C's order: F_latt = 1.0; F_latt *= a; F_latt *= b; F_latt *= c
    return ua * ub * uc


@njit(**JIT_OPTIONS)
def sinc3(x):
    """Fourier transform of a sphere, 3(sin x/x - cos x)/x^2; 1 at x == 0 (C ``sinc3``)."""
    if x == 0.0:
        return 1.0
    return 3.0 * (math.sin(x) / x - math.cos(x)) / (x * x)


@njit(**JIT_OPTIONS)
def polarization_factor(kahn_factor, incident, diffracted, axis):
    """Kahn polarisation factor (C ``polarization_factor``, L4053). Like C it unitises its vector
    arguments; the unitised diffracted vector is returned too because C updates it in place."""
    _, incident = unitize(incident)
    _, diffracted = unitize(diffracted)
    _, axis = unitize(axis)
    cos2theta = dot(incident, diffracted)
    cos2theta_sqr = cos2theta * cos2theta
    sin2theta_sqr = 1 - cos2theta_sqr
    psi = 0.0
    if kahn_factor != 0.0:
        _, b_in = unitize(cross(axis, incident))
        _, e_in = unitize(cross(incident, b_in))
        e_out = dot(diffracted, e_in)
        b_out = dot(diffracted, b_in)
        psi = -math.atan2(b_out, e_out)
    return 0.5 * (1.0 + cos2theta_sqr - kahn_factor * math.cos(2 * psi) * sin2theta_sqr), diffracted


@njit(**JIT_OPTIONS)
def solid_angle(pixel_size, airpath, close_distance, point_pixel):
    """Solid angle of a pixel seen from the sample (C L2724-2729)."""
    if point_pixel:
        return 1.0 / airpath / airpath
    return pixel_size * pixel_size / airpath / airpath * close_distance / airpath


@njit(**JIT_OPTIONS)
def capture_fraction(thick_tic, thickstep, mu, parallax):
    """Fraction of photons absorbed by sensor layer ``thick_tic`` (C L2736-2742)."""
    return (math.exp(-thick_tic * thickstep * mu / parallax)
            - math.exp(-(thick_tic + 1) * thickstep * mu / parallax))


@njit(**JIT_OPTIONS)
def lattice_factor(shape, h, k, l, h0, k0, l0, na, nb, nc, fudge, a_star, b_star, c_star):
    """Lattice transform F_latt for the crystal shape (C L2825-2866). ``shape`` is a compile-time
    constant in the kernels, so only one branch survives."""
    if shape == SQUARE:
        return lattice_square(h, k, l, h0, k0, l0, na, nb, nc)
    dh = h - h0
    dk = k - k0
    dl = l - l0
    if shape == ROUND:
        hrad_sqr = dh * dh * na * na + dk * dk * nb * nb + dl * dl * nc * nc
        return na * nb * nc * 0.723601254558268 * sinc3(math.pi * math.sqrt(hrad_sqr * fudge))
    dx_star = dh * a_star[0] + dk * b_star[0] + dl * c_star[0]
    dy_star = dh * a_star[1] + dk * b_star[1] + dl * c_star[1]
    dz_star = dh * a_star[2] + dk * b_star[2] + dl * c_star[2]
    rad_star_sqr = (dx_star * dx_star + dy_star * dy_star + dz_star * dz_star) * na * na * nb * nb * nc * nc
    if shape == GAUSS:
        return na * nb * nc * math.exp(-(rad_star_sqr / 0.63 * fudge))
    if rad_star_sqr * fudge < 0.3969:
        return na * nb * nc * 1.0
    return na * nb * nc * 0.0


@njit(inline="always", **JIT_OPTIONS)
def lattice_factor_4(shape, h, k, l, h0, k0, l0, terms, na, nb, nc, fudge, a_star, b_star, c_star):
    """``lattice_factor`` of four samples (4-tuples h, ..., l0; a 4-tuple out); ``terms``: ``grating_terms``
    of Na when Na = Nb = Nc (else 0): then the square shape's factors run in lockstep."""
    if shape == SQUARE and terms >= 2:
        return lattice_square_equal_4(h, k, l, h0, k0, l0, terms)
    return (lattice_factor(shape, h[0], k[0], l[0], h0[0], k0[0], l0[0], na, nb, nc, fudge, a_star, b_star, c_star),
            lattice_factor(shape, h[1], k[1], l[1], h0[1], k0[1], l0[1], na, nb, nc, fudge, a_star, b_star, c_star),
            lattice_factor(shape, h[2], k[2], l[2], h0[2], k0[2], l0[2], na, nb, nc, fudge, a_star, b_star, c_star),
            lattice_factor(shape, h[3], k[3], l[3], h0[3], k0[3], l0[3], na, nb, nc, fudge, a_star, b_star, c_star))


@njit(inline="always", **JIT_OPTIONS)
def lattice_factor_8(shape, h, k, l, h0, k0, l0, terms, na, nb, nc, fudge, a_star, b_star, c_star):
    """``lattice_factor_4`` of eight samples (8-tuples)."""
    if shape == SQUARE and terms >= 2:
        return lattice_square_equal_8(h, k, l, h0, k0, l0, terms)
    return (lattice_factor_4(shape, h[:4], k[:4], l[:4], h0[:4], k0[:4], l0[:4], terms, na, nb, nc, fudge, a_star,
                             b_star, c_star)
            + lattice_factor_4(shape, h[4:], k[4:], l[4:], h0[4:], k0[4:], l0[4:], terms, na, nb, nc, fudge, a_star,
                               b_star, c_star))


@njit(inline="always", **JIT_OPTIONS)
def miller_index(cells, phi_tic, mos_tic, s0, s1, s2):
    """h, k, l of the scattering vector (s0, s1, s2) for the rotated cell ``cells[phi_tic, mos_tic]`` (rows
    a, b, c): C's h = dot(a, scattering) ... (L2803-2805). Inlined by numba (``inline="always"``): a call
    that passes an array costs a reference count increment and decrement, atomic and shared by the threads."""
    h = cells[phi_tic, mos_tic, 0, 0] * s0 + cells[phi_tic, mos_tic, 0, 1] * s1 + cells[phi_tic, mos_tic, 0, 2] * s2
    k = cells[phi_tic, mos_tic, 1, 0] * s0 + cells[phi_tic, mos_tic, 1, 1] * s1 + cells[phi_tic, mos_tic, 1, 2] * s2
    l = cells[phi_tic, mos_tic, 2, 0] * s0 + cells[phi_tic, mos_tic, 2, 1] * s1 + cells[phi_tic, mos_tic, 2, 2] * s2
    return h, k, l


@njit(**JIT_OPTIONS)
def next_sample(phi_tic, mos_tic, phisteps, mosaic_domains):
    """The (phi step, mosaic domain) after this one in C's loop order. The last one has no successor and
    returns itself: the loops never use that value, and it keeps every index inside the cells table."""
    if mos_tic + 1 < mosaic_domains:
        return phi_tic, mos_tic + 1
    if phi_tic + 1 < phisteps:
        return phi_tic + 1, 0
    return phi_tic, mos_tic


@njit(inline="always", **JIT_OPTIONS)
def sample_group_1(cells, phi_tic, mos_tic, count, phisteps, mosaic_domains, s0, s1, s2, shape, terms, na, nb, nc,
                   fudge, a_star, b_star, c_star):
    """The next sample of the pixel function's (phi step, mosaic domain) loops, (``phi_tic``, ``mos_tic``):
    ``(phis, moss, hs, ks, ls, h0s, k0s, l0s, F_latts, next_phi, next_mos)``, 1-tuples and the sample after
    it (``count``: the samples left, >= 1, of which this takes one; ``terms``: as ``lattice_factor_4``).
    Inlined, as ``sample_group_8`` is: they take the ``cells`` array (see ``miller_index``)."""
    h, k, l = miller_index(cells, phi_tic, mos_tic, s0, s1, s2)
    # int(ceil(h - 0.5)) (C L2817), guarded: NaN is no index
    h0 = nearest_index(h)
    k0 = nearest_index(k)
    l0 = nearest_index(l)
    if shape == SQUARE and terms >= 2:
        F_latt = lattice_square_equal(h, k, l, h0, k0, l0, terms)
    else:
        F_latt = lattice_factor(shape, h, k, l, h0, k0, l0, na, nb, nc, fudge, a_star, b_star, c_star)
    next_phi, next_mos = next_sample(phi_tic, mos_tic, phisteps, mosaic_domains)
    return (phi_tic,), (mos_tic,), (h,), (k,), (l,), (h0,), (k0,), (l0,), (F_latt,), next_phi, next_mos


@njit(inline="always", **JIT_OPTIONS)
def source_scattering(sources, source, diffracted):
    """``(incident, lambda, scattering)`` of source ``source`` for a pixel's ``diffracted`` direction: C's
    incident = -source, scattering = (diffracted - incident) / lambda (L2745-2757). Inlined (it takes an
    array, see ``miller_index``)."""
    incident = (-sources[source, 0], -sources[source, 1], -sources[source, 2])
    lam = sources[source, 3]
    return incident, lam, ((diffracted[0] - incident[0]) / lam, (diffracted[1] - incident[1]) / lam,
                           (diffracted[2] - incident[2]) / lam)


@njit(inline="always", **JIT_OPTIONS)
def next_stream_sample(sources, diffracted, at, source_end, phisteps, mosaic_domains):
    """The sample after ``at`` = (source, phi step, mosaic domain, scattering vector) in C's loop order over the
    sources up to ``source_end`` (exclusive), in that form: within a source, ``next_sample``; the next source
    starts at (0, 0) with its own vector (``source_scattering``). The last sample returns itself."""
    source, phi_tic, mos_tic, s = at
    if mos_tic + 1 < mosaic_domains or phi_tic + 1 < phisteps:
        phi_tic, mos_tic = next_sample(phi_tic, mos_tic, phisteps, mosaic_domains)
        return source, phi_tic, mos_tic, s
    if source + 1 < source_end:
        return source + 1, 0, 0, source_scattering(sources, source + 1, diffracted)[2]
    return source, phi_tic, mos_tic, s


@njit(inline="always", **JIT_OPTIONS)
def _indices_4(cells, a0, a1, a2, a3):
    """The Miller indices of four samples (each (source, phi step, mosaic domain, scattering vector)):
    ``(phis, moss, hs, ks, ls, h0s, k0s, l0s, a3)``, 4-tuples and the last sample."""
    h_0, k_0, l_0 = miller_index(cells, a0[1], a0[2], a0[3][0], a0[3][1], a0[3][2])
    h_1, k_1, l_1 = miller_index(cells, a1[1], a1[2], a1[3][0], a1[3][1], a1[3][2])
    h_2, k_2, l_2 = miller_index(cells, a2[1], a2[2], a2[3][0], a2[3][1], a2[3][2])
    h_3, k_3, l_3 = miller_index(cells, a3[1], a3[2], a3[3][0], a3[3][1], a3[3][2])
    h0s = (nearest_index(h_0), nearest_index(h_1), nearest_index(h_2), nearest_index(h_3))
    k0s = (nearest_index(k_0), nearest_index(k_1), nearest_index(k_2), nearest_index(k_3))
    l0s = (nearest_index(l_0), nearest_index(l_1), nearest_index(l_2), nearest_index(l_3))
    return ((a0[1], a1[1], a2[1], a3[1]), (a0[2], a1[2], a2[2], a3[2]), (h_0, h_1, h_2, h_3), (k_0, k_1, k_2, k_3),
            (l_0, l_1, l_2, l_3), h0s, k0s, l0s, a3)


@njit(inline="always", **JIT_OPTIONS)
def _source_indices_4(cells, at, phisteps, mosaic_domains):
    """``_indices_4`` of the four samples from ``at``, all of one source (its scattering vector shared)."""
    source, phi0, mos0, s = at
    phi1, mos1 = next_sample(phi0, mos0, phisteps, mosaic_domains)
    phi2, mos2 = next_sample(phi1, mos1, phisteps, mosaic_domains)
    phi3, mos3 = next_sample(phi2, mos2, phisteps, mosaic_domains)
    return _indices_4(cells, at, (source, phi1, mos1, s), (source, phi2, mos2, s), (source, phi3, mos3, s))


@njit(inline="always", **JIT_OPTIONS)
def _stream_indices_4(cells, sources, diffracted, at, source_end, phisteps, mosaic_domains):
    """``_indices_4`` of the four samples of the stream from ``at`` (``next_stream_sample``)."""
    a1 = next_stream_sample(sources, diffracted, at, source_end, phisteps, mosaic_domains)
    a2 = next_stream_sample(sources, diffracted, a1, source_end, phisteps, mosaic_domains)
    a3 = next_stream_sample(sources, diffracted, a2, source_end, phisteps, mosaic_domains)
    return _indices_4(cells, at, a1, a2, a3)


@njit(inline="always", **JIT_OPTIONS)
def sample_group_8(cells, sources, diffracted, at, count, source_end, phisteps, mosaic_domains, shape, terms, na, nb,
                   nc, fudge, a_star, b_star, c_star):
    """The CPU pixel function's next samples of its stream (``at``: the first, as (source, phi step, mosaic
    domain, scattering vector); C's loop order over the sources up to ``source_end``):
    ``(phis, moss, hs, ks, ls, h0s, k0s, l0s, F_latts, at, taken)``, 8-tuples, the sample after them and
    how many lanes hold samples (``count``: the samples left, >= 1). With ``LOCKSTEP_MIN`` or more left,
    min(count, 8) side by side (``lattice_factor_8``); with fewer, the next one alone (``taken`` = 1: the
    caller calls again for each; one inlined ``sample_group_1``, not three, keeps the compilation short).
    Lanes past ``taken`` repeat the last sample. Each sample's values are ``sample_group_1``'s, bit for bit.
    Inlined (it takes arrays, see ``miller_index``)."""
    if count < LOCKSTEP_MIN:
        # fewer left than a lockstep group pays for: the next one alone, as sample_group_1 takes it
        g = sample_group_1(cells, at[1], at[2], count, phisteps, mosaic_domains, at[3][0], at[3][1], at[3][2],
                           shape, terms, na, nb, nc, fudge, a_star, b_star, c_star)
        return (_lanes_8(g[0]), _lanes_8(g[1]), _lanes_8(g[2]), _lanes_8(g[3]), _lanes_8(g[4]), _lanes_8(g[5]),
                _lanes_8(g[6]), _lanes_8(g[7]), _lanes_8(g[8]),
                next_stream_sample(sources, diffracted, at, source_end, phisteps, mosaic_domains), 1)
    if at[1] * mosaic_domains + at[2] + LANES <= phisteps * mosaic_domains:
        # all eight in this source: one scattering vector (the stream's walk below gives the same samples, but
        # the interpolating kernel, whose groups never cross sources, ran 5% slower with it alone)
        a = _source_indices_4(cells, at, phisteps, mosaic_domains)
        b = _source_indices_4(cells, (at[0],) + next_sample(a[8][1], a[8][2], phisteps, mosaic_domains) + (at[3],),
                              phisteps, mosaic_domains)
    else:
        a = _stream_indices_4(cells, sources, diffracted, at, source_end, phisteps, mosaic_domains)
        b = _stream_indices_4(cells, sources, diffracted,
                              next_stream_sample(sources, diffracted, a[8], source_end, phisteps, mosaic_domains),
                              source_end, phisteps, mosaic_domains)
    F_latts = lattice_factor_8(shape, a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6], a[7] + b[7],
                               terms, na, nb, nc, fudge, a_star, b_star, c_star)
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6], a[7] + b[7],
            F_latts, next_stream_sample(sources, diffracted, b[8], source_end, phisteps, mosaic_domains),
            min(count, LANES))


@njit(inline="always", **JIT_OPTIONS)
def _lanes_8(a):
    """A sample's 1-tuple as an 8-tuple."""
    return a[0], a[0], a[0], a[0], a[0], a[0], a[0], a[0]


@njit(**JIT_OPTIONS)
def polint(x0, x1, x2, x3, y0, y1, y2, y3, x):
    """Four-point Lagrange interpolation (C ``polint``)."""
    t0 = (x - x1) * (x - x2) * (x - x3) * y0 / ((x0 - x1) * (x0 - x2) * (x0 - x3))
    t1 = (x - x0) * (x - x2) * (x - x3) * y1 / ((x1 - x0) * (x1 - x2) * (x1 - x3))
    t2 = (x - x0) * (x - x1) * (x - x3) * y2 / ((x2 - x0) * (x2 - x1) * (x2 - x3))
    t3 = (x - x0) * (x - x1) * (x - x2) * y3 / ((x3 - x0) * (x3 - x1) * (x3 - x2))
    return t0 + t1 + t2 + t3


@njit(**JIT_OPTIONS)
def interpolation_out_of_range(h, k, l, h_min, k_min, l_min, h_range, k_range, l_range):
    """True where C gives up tricubic interpolation (L2936-2948). Written as C's test negated
    (``not (x <= bound ...)``, the same result for every finite index) so that a NaN index is out of
    range too: C's own form lets NaN through and reads its table out of bounds."""
    return not ((h - h_min + 3) <= h_range and (h - 2 >= h_min)
                and (k - k_min + 3) <= k_range and (k - 2 >= k_min)
                and (l - l_min + 3) <= l_range and (l - 2 >= l_min))


#: what ``nearest_index`` returns for a NaN or huge index: beyond every F table (a float-to-int
#: conversion of NaN or of a value outside int64 is undefined behaviour, in C and in LLVM alike)
NO_INDEX = -(2 ** 62)
_INDEX_LIMIT = 2.0 ** 62


@njit(**JIT_OPTIONS)
def nearest_index(x):
    """C's ``h0 = ceil(h - 0.5)``: the nearest integer Miller index, as an integer; ``NO_INDEX`` for
    a NaN, infinite or huge (|x| >= 2**62) ``x``, which no table holds (C's cast is undefined there)."""
    if not (-_INDEX_LIMIT < x < _INDEX_LIMIT):
        return NO_INDEX
    return int(math.ceil(x - 0.5))


@njit(**JIT_OPTIONS)
def tricubic_F(fhkl, h, k, l, h_min, k_min, l_min):
    """Tricubic Lagrange interpolation of F on the 4x4x4 neighbourhood (C ``polin3``; interpolates
    along l, then k, then h, as C nests it)."""
    hf = math.floor(h)
    kf = math.floor(k)
    lf = math.floor(l)
    # the 4x4x4 neighbourhood must lie inside the table: interpolation_out_of_range guarantees it for
    # the indices the kernels pass; checked again here (negated, so NaN fails) so that no index can
    # ever read outside the table
    if not (hf - 1.0 >= h_min and hf + 3.0 - h_min <= fhkl.shape[0]
            and kf - 1.0 >= k_min and kf + 3.0 - k_min <= fhkl.shape[1]
            and lf - 1.0 >= l_min and lf + 3.0 - l_min <= fhkl.shape[2]):
        return math.nan
    ih = int(hf) - 1 - h_min
    ik = int(kf) - 1 - k_min
    il = int(lf) - 1 - l_min
    ymh0 = 0.0
    ymh1 = 0.0
    ymh2 = 0.0
    ymh3 = 0.0
    for i1 in range(4):
        ymk0 = 0.0
        ymk1 = 0.0
        ymk2 = 0.0
        ymk3 = 0.0
        for i2 in range(4):
            row = fhkl[ih + i1, ik + i2]
            v = polint(lf - 1.0, lf, lf + 1.0, lf + 2.0,
                       row[il], row[il + 1], row[il + 2], row[il + 3], l)
            if i2 == 0:
                ymk0 = v
            elif i2 == 1:
                ymk1 = v
            elif i2 == 2:
                ymk2 = v
            else:
                ymk3 = v
        v = polint(kf - 1.0, kf, kf + 1.0, kf + 2.0, ymk0, ymk1, ymk2, ymk3, k)
        if i1 == 0:
            ymh0 = v
        elif i1 == 1:
            ymh1 = v
        elif i1 == 2:
            ymh2 = v
        else:
            ymh3 = v
    return polint(hf - 1.0, hf, hf + 1.0, hf + 2.0, ymh0, ymh1, ymh2, ymh3, h)


@njit(**JIT_OPTIONS)
def in_table(hkls, h0, k0, l0, h_min, h_max, k_min, k_max, l_min, l_max):
    """Whether the F table holds (h0, k0, l0): the pixel function then reads it there, else takes -default_F
    (C L2999-3009). ``h0`` etc. come from ``nearest_index`` (a NaN index is ``NO_INDEX``: outside). (The
    pixel function reads the table itself: a call that passes an array costs a reference count increment
    and decrement per sample, atomic and shared by the threads.)"""
    return hkls and h_min <= h0 <= h_max and k_min <= k0 <= k_max and l_min <= l0 <= l_max


#: the vector helpers as the set-up calls them: plain-Python twins (``nbnumba._jit.python_twins``), so
#: that a run loads no compiled code for them
HOST = python_twins(sys.modules[__name__], ("dot", "cross", "magnitude", "unitize", "scale", "rotate", "rotate_axis",
                                            "rotate_umat"))
