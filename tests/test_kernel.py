# SPDX-License-Identifier: BSD-3-Clause
"""The restructured kernel: grating transform against C's formula, -printout trace against the
rendered pixel, row blocks against one call, and the compilation-cache key."""
import math
import os
import shutil

import numpy as np
import pytest
from reference import INPUTS

from nbnumba.kernels import physics as ph
from nbnumba.kernels import types as kt


def c_sincg(h, n):
    """nanoBragg.c's sincg(M_PI*h, n), as C writes it (N at x == 0)."""
    x = math.pi * h
    return n if x == 0.0 else math.sin(x * n) / math.sin(x)


def test_cos_pi_polynomial_matches_libm():
    d = np.linspace(-0.5, 0.5, 20001)
    ours = np.array([ph.cos_pi(x) for x in d])
    assert np.max(np.abs(ours - np.cos(np.pi * d))) <= 4e-16


@pytest.mark.parametrize("n", [1.0, 2.0, 3.0, 5.0, 10.0, 17.0, 64.0])
def test_grating_equals_c_formula_for_integer_n(n):
    rng = np.random.default_rng(int(n))
    # C's large-argument sines lose about |h| ulp of pi*h: compare to that accuracy
    for h in np.concatenate([rng.uniform(-60, 60, 3000), rng.uniform(-1, 1, 500)]):
        h0 = int(math.ceil(h - 0.5))
        expected = 1.0 if n <= 1 else c_sincg(h, n)
        assert ph.grating(h, h0, n) == pytest.approx(expected, rel=1e-9, abs=1e-11 * n * (1 + abs(h)))


def test_grating_special_values():
    assert ph.grating(0.0, 0, 10.0) == 10.0
    assert ph.grating(-0.0, 0, 7.0) == 7.0
    # exactly on a Bragg peak: the limit (-1)^((N-1) h0) N, where C divides two rounding residues
    assert ph.grating(3.0, 3, 10.0) == -10.0
    assert ph.grating(3.0, 3, 9.0) == 9.0
    assert ph.grating(-5.0, -5, 4.0) == -4.0
    # C skips the factor for N <= 1
    assert ph.grating(0.3, 0, 0.5) == 1.0
    assert ph.grating(0.3, 0, 1.0) == 1.0
    # fractional and large N take C's own formula
    assert ph.grating(2.3, 2, 7.5) == c_sincg(2.3, 7.5)
    assert ph.grating(2.3, 2, 100.0) == c_sincg(2.3, 100.0)


@pytest.mark.parametrize("na,nb,nc", [(10.0, 10.0, 10.0), (5.0, 7.0, 2.0), (1.0, 5.0, 5.0), (3.0, 3.0, 2.5)])
def test_lattice_square_is_the_product_of_gratings(na, nb, nc):
    rng = np.random.default_rng(7)
    for h, k, l in rng.uniform(-30, 30, (500, 3)):
        h0, k0, l0 = (int(math.ceil(v - 0.5)) for v in (h, k, l))
        product = ph.grating(h, h0, na) * ph.grating(k, k0, nb) * ph.grating(l, l0, nc)
        assert ph.lattice_square(h, k, l, h0, k0, l0, na, nb, nc) == pytest.approx(product, rel=1e-12, abs=1e-12)
        if na == nb == nc:
            assert ph.lattice_square_equal(h, k, l, h0, k0, l0, int(na)) == pytest.approx(
                product, rel=1e-12, abs=1e-12)


def _simulate(argv, tmp_path, monkeypatch, progress=None):
    from nbnumba import params_from_argv, simulate
    for name in os.listdir(INPUTS):
        shutil.copy(INPUTS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    params = params_from_argv(argv)[0]
    return simulate(params, progress=progress)


SMALL = ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "100", "-N", "5", "-lambda", "1.0",
         "-distance", "100", "-detpixels", "48", "-pixel", "1.6", "-mosaic", "0.4", "-mosaic_domains", "3",
         "-mosaic_seed", "12345", "-phi", "0", "-osc", "3", "-phisteps", "3", "-oversample", "2"]
INTERP = ["-hkl", "cubic.hkl", "-cell", "100", "100", "100", "90", "90", "90", "-N", "5", "-lambda", "6.2",
          "-distance", "100", "-detpixels", "40", "-pixel", "2.4", "-interpolate"]


@pytest.mark.parametrize("argv", [SMALL, SMALL + ["--phi-carryover-mode", "c-parity"], INTERP],
                         ids=["spec", "c-parity", "interpolate"])
def test_trace_reproduces_rendered_pixels(argv, tmp_path, monkeypatch):
    from nbnumba.constants import R_E_SQR
    from nbnumba.render import plan

    def trace_pixel(result, fpixel, spixel):
        return plan.trace_pixel(result.plan, result.rendering, fpixel, spixel)

    result = _simulate(argv, tmp_path, monkeypatch)
    s = result.setup
    image = result.floatimage
    spixel, fpixel = np.unravel_index(np.argmax(image), image.shape)
    for f, sp in ((0, 0), (fpixel, spixel), (17, 29), (image.shape[1] - 1, image.shape[0] - 1)):
        trace = trace_pixel(result, f, sp)
        assert trace.shape == (kt.TRACE_LEN,)
        assert np.float32(trace[kt.TRACE_PIXEL]) == image[sp, f]
        # the pixel from the traced factors (no oversample_* flags: the corrections come last)
        value = R_E_SQR * s.fluence * trace[kt.TRACE_I] / s.n_steps
        value *= trace[kt.TRACE_CAPTURE] * trace[kt.TRACE_POLAR] * trace[kt.TRACE_OMEGA]
        assert value == pytest.approx(trace[kt.TRACE_PIXEL], rel=1e-14)
        h, k, l = trace[kt.TRACE_H], trace[kt.TRACE_K], trace[kt.TRACE_L]
        assert [trace[kt.TRACE_H0], trace[kt.TRACE_K0], trace[kt.TRACE_L0]] == [math.ceil(v - 0.5) for v in (h, k, l)]
        assert trace[kt.TRACE_F_LATT] == pytest.approx(c_sincg(h, 5.0) * c_sincg(k, 5.0) * c_sincg(l, 5.0),
                                                        rel=1e-9, abs=1e-9)
        assert 0 <= trace[kt.TRACE_PHI_TIC] < s.steps.phisteps
        assert 0 <= trace[kt.TRACE_MOS_TIC] < s.steps.mosaic_domains
        # the last sample's Miller indices come from the last rotation it used, on the pixel's
        # last sub-pixel position and the scattering vector that implies
        table = s.cells_first if trace[kt.TRACE_CELL_TABLE] == 0 else s.cells_carry
        cell = table[int(trace[kt.TRACE_PHI_TIC]), int(trace[kt.TRACE_MOS_TIC])]
        pos = trace[[kt.TRACE_POS_X, kt.TRACE_POS_Y, kt.TRACE_POS_Z]]
        source = s.sources[-1]
        scattering = (pos / np.linalg.norm(pos) + source[:3]) / source[3]
        assert cell @ scattering == pytest.approx([h, k, l], rel=1e-9, abs=1e-9)
        assert 0.5 * np.linalg.norm(scattering) == pytest.approx(trace[kt.TRACE_STOL], rel=1e-12)
    if "c-parity" in argv:
        # one sample position and source: pixel 0's only phi loop is the image's first
        single = _simulate(argv + ["-oversample", "1"], tmp_path, monkeypatch)
        assert trace_pixel(single, 0, 0)[kt.TRACE_CELL_TABLE] == 0.0
        assert trace_pixel(single, 1, 0)[kt.TRACE_CELL_TABLE] == 1.0
        assert trace_pixel(result, 0, 0)[kt.TRACE_CELL_TABLE] == 1.0  # its later sub-pixels carry on


@pytest.mark.parametrize("argv", [SMALL + ["--phi-carryover-mode", "c-parity"], INTERP],
                         ids=["c-parity", "interpolate"])
def test_row_blocks_give_the_same_image(argv, tmp_path, monkeypatch):
    from nbnumba.render.serial_order import MAX_BLOCKS
    calls = []
    whole = _simulate(argv, tmp_path, monkeypatch)
    blocks = _simulate(argv, tmp_path, monkeypatch, progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(whole.floatimage, blocks.floatimage)
    assert whole.omega_sum == blocks.omega_sum
    rows = whole.floatimage.shape[0]
    assert 1 < len(calls) <= MAX_BLOCKS
    assert calls[-1] == (rows, rows)
    assert all(a[0] < b[0] for a, b in zip(calls, calls[1:]))


def test_cache_is_keyed_on_every_compiled_source(tmp_path, monkeypatch):
    from nbnumba import _jit
    if not _jit.CACHE:
        pytest.skip("compilation cache switched off (NBNUMBA_NO_CACHE)")
    # the compiled helpers are cached where cache_dir() says, stamped with the source key
    ph.dot((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    locator = ph.dot._cache._impl.locator
    assert locator.get_source_stamp() == _jit.SOURCE_KEY
    assert locator.get_cache_path().startswith(_jit.cache_dir())
    # editing any compiled module (here a copy of physics.py) changes the key
    package = tmp_path / "pkg"
    for name in _jit.SOURCE_MODULES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(_jit._PACKAGE_DIR, name), package / name)
    monkeypatch.setattr(_jit, "_PACKAGE_DIR", str(package))
    assert _jit._source_key() == _jit.SOURCE_KEY
    with open(package / "kernels" / "physics.py", "a") as f:
        f.write("\n# edited\n")
    assert _jit._source_key() != _jit.SOURCE_KEY
    # and the location is overridable
    monkeypatch.setenv("NBNUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert _jit.cache_dir().startswith(str(tmp_path / "elsewhere"))


def test_specialisations_have_their_own_names():
    """Compiled code loaded from the cache keeps its symbol names; kernels specialised on different
    flags must not share one (a process loading several from the cache ran the wrong pixel
    function: seen with tests/test_live_c.py before the names carried the flags)."""
    from nbnumba.kernels.cpu import make_cpu_kernel
    from nbnumba.kernels.pixel import make_pixel_function
    from nbnumba.kernels.types import KernelFlags
    plain = KernelFlags(ph.SQUARE, False, False, False, False, False, False, False)
    polar = plain._replace(oversample_polar=True)
    traced = plain._replace(trace=True)
    names = {make_pixel_function(f).py_func.__qualname__ for f in (plain, polar, traced)}
    names |= {make_cpu_kernel(f).py_func.__qualname__ for f in (plain, polar)}
    assert len(names) == 5


def _physics_of(precision_name, shape=0):
    from nbnumba.kernels import precision
    return precision.make_physics(precision.CODES[precision_name], shape)


@pytest.mark.parametrize("precision_name", ["double", "single"])
@pytest.mark.parametrize("terms", [2, 3, 4, 5, 10, 17, 64])
@pytest.mark.parametrize("lanes", [4, 8])
def test_lockstep_lattice_factor_is_the_scalar_one_in_each_lane(precision_name, terms, lanes):
    """The lockstep lattice factors (four lanes: the CPU kernel's pixels side by side; eight: its pixel
    function's samples) give, in every lane, the scalar function's value to the last bit (the same operations
    in the same order; the default images stay C's), for both real types."""
    real = _physics_of(precision_name)
    lockstep = getattr(real, "lattice_square_equal_%d" % lanes)
    rng = np.random.default_rng(terms)
    for _ in range(300):
        # fractions from 1e-8 (at the peaks) to 1/2, odd and even indices, both signs
        hkl0 = rng.integers(-300, 300, (3, lanes))
        hkl = hkl0 + rng.uniform(-0.5, 0.5, (3, lanes)) * 10.0 ** rng.uniform(-8, 0, (3, lanes))
        args = [tuple(float(v) for v in row) for row in hkl] + [tuple(int(v) for v in row) for row in hkl0]
        values = lockstep(*args, terms)
        assert len(values) == lanes
        for j in range(lanes):
            scalar = real.lattice_square_equal(hkl[0, j], hkl[1, j], hkl[2, j], int(hkl0[0, j]), int(hkl0[1, j]),
                                               int(hkl0[2, j]), terms)
            assert values[j] == scalar and type(values[j]) is type(scalar)


def _cells(phisteps, mosaic_domains, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 40.0, (phisteps, mosaic_domains, 3, 3))


@pytest.mark.parametrize("precision_name", ["double", "single"])
@pytest.mark.parametrize("shape,na,nb,nc", [(0, 10.0, 10.0, 10.0), (0, 5.0, 7.0, 2.0), (1, 6.0, 6.0, 6.0),
                                            (2, 4.0, 4.0, 4.0), (3, 5.0, 5.0, 5.0)])
@pytest.mark.parametrize("phisteps,mosaic_domains,nsources", [(1, 1, 1), (1, 3, 1), (1, 10, 1), (4, 10, 1), (3, 3, 1),
                                                              (2, 5, 1), (1, 1, 7), (1, 3, 3), (1, 10, 9), (2, 3, 5),
                                                              (1, 2, 2)])
def test_groups_of_eight_samples_are_the_source_phi_and_mosaic_loops_in_order(precision_name, shape, na, nb, nc,
                                                                              phisteps, mosaic_domains, nsources):
    """Walked eight at a time (``sample_group_8``, the CPU's stream), the samples are C's nested source, phi and
    mosaic loops in order, each with the scalar path's indices and lattice factor for its source's scattering
    vector (``sample_group_1``, the GPU), bit for bit, whether a group runs in lockstep (four or more left,
    within one source or across sources' boundaries) or one by one (fewer: one per call); the lanes past the
    samples a call takes repeat its last (padding the kernel does not evaluate)."""
    real = _physics_of(precision_name, shape)
    cells = _cells(phisteps, mosaic_domains, seed=phisteps * 100 + mosaic_domains)
    rng = np.random.default_rng(nsources)
    # sources: direction (x, y, z) and wavelength; the pixel's diffracted direction
    sources = np.column_stack([rng.normal([-1.0, 0.0, 0.0], 0.01, (nsources, 3)), rng.uniform(0.9, 1.1, nsources)])
    diffracted = (0.93, 0.3, -0.2)
    terms = real.grating_terms(na) if shape == 0 and na == nb == nc else 0
    extra = (shape, terms, na, nb, nc, 1.0, (0.01, 0.0, 0.0), (0.0, 0.01, 0.0), (0.0, 0.0, 0.01))
    expected = []
    for source in range(nsources):
        s = real.source_scattering(sources, source, diffracted)[2]
        for phi_tic in range(phisteps):
            for mos_tic in range(mosaic_domains):
                one = real.sample_group_1(cells, phi_tic, mos_tic, 1, phisteps, mosaic_domains, *s, *extra)
                expected.append(tuple(field[0] for field in one[:-2]))
    n_stream = len(expected)
    at = (0, 0, 0, real.source_scattering(sources, 0, diffracted)[2])
    walked = []
    first = 0
    while first < n_stream:
        left = n_stream - first
        *fields, at, taken = real.sample_group_8(cells, sources, diffracted, at, left, nsources, phisteps,
                                                 mosaic_domains, *extra)
        assert taken == (min(left, 8) if left >= 4 else 1)
        for lane in range(8):
            sample = tuple(field[lane] for field in fields)
            if lane < taken:
                walked.append(sample)
            else:
                assert sample == walked[-1]
        first += taken
    assert walked == expected
    assert [type(sample[-1]) for sample in walked] == [type(sample[-1]) for sample in expected]
    # the stream ends where the loops end (its last sample repeats, as next_stream_sample says)
    assert at[:3] == (nsources - 1, phisteps - 1, mosaic_domains - 1)


#: pixels with several sources and (phi step, mosaic domain) samples: the CPU pixel function takes its samples
#: eight at a time in one stream across the sources (``physics.sample_group_8``)
SOURCES = ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "100", "-lambda", "1.0", "-distance", "100",
           "-detpixels", "12", "-pixel", "4.0", "-mosaic", "0.5", "-mosaic_seed", "7", "-hdivrange", "0.3",
           "-dispersion", "0.2", "-polar", "0.5"]


@pytest.mark.parametrize("extra", [
    # 6 sources x (2 phi steps x 3 domains): groups across the sources' boundaries, four left at the end
    ["-N", "5", "-hdivsteps", "3", "-dispsteps", "2", "-mosaic_domains", "3", "-phi", "0", "-osc", "2",
     "-phisteps", "2", "-water", "1", "-oversample", "2", "-detector_thick", "50", "-detector_thicksteps", "2",
     "-oversample_omega", "-oversample_thick"],
    # 5 x 5: one left at the end; unequal N (the lattice factors lane by lane)
    ["-Na", "5", "-Nb", "6", "-Nc", "7", "-hdivsteps", "5", "-dispsteps", "1", "-mosaic_domains", "5"],
    # 7 x 2: eight, then six in lockstep; a round crystal
    ["-N", "4", "-round_xtal", "-hdivsteps", "7", "-dispsteps", "1", "-mosaic_domains", "2"],
    ["-N", "5", "-hdivsteps", "3", "-dispsteps", "3", "-mosaic_domains", "10", "--precision", "single"],
    # where the stream stays within each source: -dmin skipping some sources, polarisation per source
    ["-N", "5", "-hdivsteps", "3", "-dispsteps", "3", "-mosaic_domains", "5", "-dmin", "4"],
    ["-N", "5", "-hdivsteps", "3", "-dispsteps", "3", "-mosaic_domains", "5", "-oversample_polar"],
], ids=["6x6-water-thick-oversample", "5x5-unequal-N", "7x2-round", "9x10-single", "dmin", "oversample-polar"])
def test_samples_streamed_across_sources_are_the_per_source_loops(extra, tmp_path, monkeypatch):
    """Every pixel the CPU kernel renders with its samples streamed eight at a time across the sources is the
    pixel that the one-sample-at-a-time pixel function renders source by source (the serial -printout
    evaluation, ``plan.trace_pixel``), to the last bit."""
    result = _simulate(SOURCES + extra, tmp_path, monkeypatch)
    assert result.plan.setup.sources.shape[0] > 1
    _assert_pixels_are_the_serial_evaluation(result)


def _assert_pixels_are_the_serial_evaluation(result):
    """Every pixel of ``result``'s image is the one the serial -printout evaluation (``plan.trace_pixel``'s: the
    pixel function one sample at a time, source by source) renders, to the last bit."""
    from nbnumba.render import plan

    image = result.floatimage
    for spixel in range(image.shape[0]):
        for fpixel in range(image.shape[1]):
            evaluated = plan._evaluate(result.plan, result.rendering, fpixel, spixel, None, 0)
            value = evaluated[5][0]
            assert np.isfinite(value) and np.float32(value) == image[spixel, fpixel], (spixel, fpixel)
    assert image.max() > 0.0


@pytest.mark.parametrize("extra, sources, per_block", [
    # 14 sources (7 divergence x 2 dispersion steps) x 5 domains, -dmin skipping some, water: blocks of 3
    # sources (15 samples, one vector) and a last of 2
    (["-N", "5", "-hdivsteps", "7", "-dispsteps", "2", "-mosaic_domains", "5", "-dmin", "4", "-water", "1"], 14, 3),
    # 9 x 10 (BENCH-2's): blocks of 3 x 10 samples, two vectors each; N = 10 and sub-pixels
    (["-N", "10", "-hdivsteps", "3", "-dispsteps", "3", "-mosaic_domains", "10", "-oversample", "2"], 9, 3),
    # 4 x (2 phi steps x 8 domains): whole vectors, one source at a time; N = 13 and F-table misses
    (["-N", "13", "-hdivsteps", "2", "-dispsteps", "2", "-mosaic_domains", "8", "-phi", "0", "-osc", "2",
      "-phisteps", "2", "-hkl", "cubic.hkl", "-default_F", "0"], 4, 1),
    # one source, 12 samples: a source at a time, the vector's last four lanes idle
    (["-N", "6", "-hdivrange", "0", "-dispersion", "0", "-mosaic_domains", "4", "-phi", "0", "-osc", "3",
      "-phisteps", "3", "-oversample", "2", "-nopolar"], 1, 1),
], ids=["14x5-dmin-water", "9x10-bench2", "4x16-whole-vectors-hkl", "1x12"])
def test_single_precision_sample_stream_is_the_per_sample_loop(extra, sources, per_block, tmp_path, monkeypatch):
    """With ``--precision single`` the CPU kernel's pixel function takes the samples of a square crystal through
    the vectorised sample stream (``kernels.pixel.sample_stream``/``source_stream``, blocks of ``per_block``
    sources): every pixel is the serial evaluation's, which adds the samples one at a time, to the last bit."""
    from nbnumba.kernels.pixel import sample_stream_applies, sample_stream_work

    result = _simulate(SOURCES + extra + ["--precision", "single"], tmp_path, monkeypatch)
    s = result.plan.setup
    assert sample_stream_applies(result.plan.flags) and not result.plan.flags.few_samples
    assert s.sources.shape[0] == sources
    assert sample_stream_work(s.cells_carry, sources, result.plan.fhkl)[2] == per_block
    _assert_pixels_are_the_serial_evaluation(result)


@pytest.mark.parametrize("samples, sources", [(1, 1), (5, 7), (10, 9), (12, 1), (16, 4), (40, 1), (7, 2), (33, 5)])
def test_sample_stream_tables(samples, sources):
    """``sample_stream_work``: the cells in C's order (source, phi step, mosaic domain) as the columns of
    ``cells_t``, each column's source in its block, and the block size that leaves the fewest lanes of whole
    vectors idle (by counting them over every block size)."""
    from nbnumba.kernels.pixel import STREAM_BLOCK_SOURCES, STREAM_VECTOR_WIDTH, sample_stream_work

    def whole(n):
        return -(-n // STREAM_VECTOR_WIDTH) * STREAM_VECTOR_WIDTH

    phisteps = 2 if samples % 2 == 0 else 1
    cells = np.random.default_rng(samples).normal(size=(phisteps, samples // phisteps, 3, 3))
    fhkl = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    cells_t, source_t, per_block, fflat, nk, nl, skipped, lattice, table_index = sample_stream_work(
        cells, sources, fhkl)
    idle = {size: (sources // size) * whole(size * samples) + whole(sources % size * samples) - sources * samples
            for size in range(1, min(sources, STREAM_BLOCK_SOURCES) + 1)}
    assert per_block == min(size for size, lanes in idle.items() if lanes == min(idle.values()))
    width = whole(per_block * samples)
    assert cells_t.shape == (9, width) and source_t.shape == lattice.shape == table_index.shape == (width,)
    flat = cells.reshape(samples, 9)
    for j in range(width):
        column = min(j, per_block * samples - 1)
        assert source_t[j] == column // samples
        assert np.array_equal(cells_t[:, j], flat[column % samples])
    assert skipped.shape == (per_block,)
    assert (nk, nl) == (3, 4) and np.array_equal(fflat, fhkl.reshape(-1))


def test_pixel_function_lanes_are_one_or_eight():
    from nbnumba.kernels.pixel import make_pixel_function
    from nbnumba.kernels.types import KernelFlags
    flags = KernelFlags(0, False, False, False, False, False, False, False)
    for lanes in (3, 4):
        with pytest.raises(ValueError, match="lanes"):
            make_pixel_function(flags, lanes)
    # the GPU's threads take one sample at a time
    with pytest.raises(ValueError, match="one sample at a time"):
        make_pixel_function(flags, 8, gpu=True)


#: stills with fewer (phi step, mosaic domain) samples per pixel (here 3) than the pixel function takes in
#: lockstep (``physics.LOCKSTEP_MIN``): the CPU kernel renders their pixels four side by side
STILL = ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "100", "-lambda", "1.0", "-distance", "100",
         "-detpixels", "20", "-pixel", "2.4", "-mosaic", "0.5", "-mosaic_domains", "3", "-mosaic_seed", "7"]


@pytest.mark.parametrize("phisteps, domains", [(1, 1), (1, 3), (3, 1), (1, 4), (2, 2), (4, 10)])
def test_few_samples_counts_phi_steps_times_mosaic_domains(phisteps, domains, tmp_path, monkeypatch):
    """The CPU kernel is compiled with the four-pixel function (``KernelFlags.few_samples``) where a pixel
    has fewer (phi step, mosaic domain) samples than the pixel function takes side by side; sources and
    sub-pixels do not count (they are not in the lockstep stream of one pixel's samples)."""
    from nbnumba import params_from_argv
    from nbnumba.render.plan import kernel_flags
    from nbnumba.setup import prepare

    monkeypatch.chdir(tmp_path)
    argv = STILL[:STILL.index("-mosaic_domains")] + ["-mosaic_domains", str(domains), "-phi", "0", "-osc", "1",
                                                      "-phisteps", str(phisteps), "-oversample", "3",
                                                      "-hdivrange", "0.1", "-hdivsteps", "5"]
    flags = kernel_flags(prepare(params_from_argv(argv)[0]))
    assert flags.few_samples == (phisteps * domains < ph.LOCKSTEP_MIN)


@pytest.mark.parametrize("extra", [
    # sources (divergence x dispersion), -dmin skipping some, Kahn polarisation, water, a thick sensor,
    # sub-pixels, an ROI whose rows split groups of four
    ["-N", "5", "-hdivrange", "0.2", "-hdivsteps", "3", "-dispersion", "0.1", "-dispsteps", "2", "-polar", "0.5",
     "-dmin", "4", "-water", "1", "-detector_thick", "50", "-detector_thicksteps", "2", "-oversample", "2",
     "-roi", "3", "15", "2", "17"],
    ["-Na", "5", "-Nb", "6", "-Nc", "7", "-round_xtal", "-oversample_omega", "-oversample_polar",
     "-oversample_thick", "-detector_thick", "50", "-curved_det", "-oversample", "2"],
    ["-N", "4", "-gauss_xtal", "--precision", "single", "-nopolar", "-point_pixel"],
    ["-N", "3", "-tophat_spots", "-hkl", "cubic.hkl", "-default_F", "0"],
], ids=["sources-dmin-water-thick", "round-oversample-flags-curved", "gauss-single-point-pixel", "tophat-hkl"])
def test_pixels_side_by_side_are_the_one_pixel_function(extra, tmp_path, monkeypatch):
    """Every pixel of a still that the CPU kernel renders four side by side
    (``kernels.pixel.make_pixel_group_function``) is the pixel that the pixel function renders alone (the
    serial -printout evaluation, ``plan.trace_pixel``), to the last bit, across the flags the grouped
    path takes; so is the image's solid-angle sum (pixel by pixel, in row order, as C adds it)."""
    from nbnumba.kernels.pixel import pixel_groups_apply
    from nbnumba.render import plan

    result = _simulate(STILL + extra, tmp_path, monkeypatch)
    assert result.plan.flags.few_samples and pixel_groups_apply(result.plan.flags)
    image = result.floatimage
    roi = result.plan.passes
    omega_rows = np.zeros(image.shape[0])
    for spixel in range(image.shape[0]):
        for fpixel in range(image.shape[1]):
            if not (roi.roi_ymin <= spixel <= roi.roi_ymax and roi.roi_xmin <= fpixel <= roi.roi_xmax):
                assert image[spixel, fpixel] == 0.0  # outside the ROI: not rendered
                continue
            # the serial -printout evaluation: (..., trace, samples, (value, omega_sum, ...))
            evaluated = plan._evaluate(result.plan, result.rendering, fpixel, spixel, None, 0)
            value, omega_sum = evaluated[5][:2]
            assert np.isfinite(value) and np.float32(value) == image[spixel, fpixel], (spixel, fpixel)
            omega_rows[spixel] += omega_sum
    assert float(omega_rows.sum()) == result.omega_sum


def _growth_template(a):
    """A loop LLVM cannot vectorise (a branch on a running value, with a call): under a forced vector width it
    prints a "loop not vectorized" remark."""
    s = 0.0
    for i in range(a.shape[0]):
        s = s * 1.5 + a[i]
        if s > 100.0:
            print(i)
    return s


def test_llvm_options_apply_inside_the_block_only_and_hide_llvm_remarks(capfd):
    """``_jit.llvm_options``: the forced vector width the CPU kernel of single precision is compiled with reaches
    LLVM while the block runs (compiling there makes LLVM print a remark, which the block takes out of the
    process's standard error; other lines stay), and is reset after it (the same loop compiled after the block
    prints nothing)."""
    from numba import njit

    from nbnumba._jit import llvm_options

    values = np.ones(3)
    with llvm_options(("--force-vector-width=16",)) as remarks:
        inside = njit(cache=False)(_growth_template)
        assert inside(values) == 4.75
        os.write(2, b"kept line\n")
    err = capfd.readouterr().err
    assert remarks and all(line.startswith("remark: ") for line in remarks)
    assert "remark:" not in err and "kept line" in err
    after = njit(cache=False)(_growth_template)
    assert after(values) == 4.75
    assert "remark:" not in capfd.readouterr().err
    with llvm_options(()) as nothing:
        pass
    assert nothing == []
