# SPDX-License-Identifier: BSD-3-Clause
"""Hardening of the pipeline (issue 14, items 1, 4, 6, 9 and 11): NaN geometry and NaN Miller
indices, outputs that would overwrite inputs or each other, renders Ctrl-C could not stop, tracebacks
from the Python API and set-up, and messages that named the wrong flag. Every refusal: exit 2, one
'nbnumba: error:' line naming the flags, no traceback, no file left but the inputs."""
import dataclasses
import importlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_refused, command_process, read_until, run_cli

from nbnumba.cli.main import main_argv
from nbnumba.errors import InputError
from nbnumba.io.smv import HEADER_BYTES
from nbnumba.kernels import physics as ph
from nbnumba.kernels import types as kt
from nbnumba.params import Params

REPO = Path(__file__).resolve().parents[1]
#: a valid 8 x 8 pixel run; tests add or override flags after it (later flags win)
BASE = ["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", "8", "-nonoise", "-nopgm",
        "-noprogress", "-floatfile", "out.bin", "-intfile", "out.img"]
#: the issue's B
B = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "64"]
BOX_HKL = b"-3000 -100 -100 10\n0 100 100 10\n"


def smv_bytes(width, height):
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={width};\nSIZE2={height};\nPIXEL_SIZE=0.1;\n}}\f").encode("latin-1")
    return head.ljust(HEADER_BYTES, b" ") + np.ones((height, width), "<u2").tobytes()


# --- item 1: NaN geometry and NaN Miller indices ---

def test_curved_detector_at_a_tiny_distance_is_refused(folder, capsys):
    """The issue's segfault: NaN pixel positions, so NaN h,k,l read the F table out of bounds (C
    segfaults too, or renders NaN with a smaller table)."""
    (folder / "box.hkl").write_bytes(BOX_HKL)
    status, out, err = run_cli(["-cell", "100", "100", "100", "90", "90", "90", "-hkl", "box.hkl", "-N", "1",
                                "-interpolate", "-curved_det", "-distance", "1e-320", "-oversample", "1",
                                "-detpixels", "32"], capsys)
    assert_refused(status, out, err, folder, ["box.hkl"], "not finite", "-curved_det", "-distance")
    assert (folder / "box.hkl").read_bytes() == BOX_HKL


@pytest.mark.parametrize("argv, fragments", [
    (["-curved_det", "-distance", "1e-300"], ("-curved_det", "-distance")),
    (["-detector_thick", "1e308", "-thicksteps", "3"], ("-detector_thick",)),
    (["-xds", "-ORGX", "1e307", "-pixel", "10"], ("beam centre",)),
])
def test_non_finite_pixel_positions_are_refused(folder, capsys, argv, fragments):
    status, out, err = run_cli(BASE + ["-oversample", "1"] + argv, capsys)
    assert_refused(status, out, err, folder, [], "detector geometry is not finite", *fragments)


def test_nan_miller_index_is_no_index():
    for x in (math.nan, math.inf, -math.inf, 1e300, -2.0 ** 62):
        assert ph.nearest_index(x) == ph.NO_INDEX
    for x in (0.0, 0.49, 0.5, -0.5, -0.51, 7.3, -7.7, 2.0 ** 61):
        assert ph.nearest_index(x) == int(math.ceil(x - 0.5))
    fhkl = np.arange(6 * 6 * 6, dtype=float).reshape(6, 6, 6)
    # h in [-3, 2]: every NaN or infinite index is out of interpolation range and off the table
    for bad in (math.nan, math.inf, -math.inf):
        assert ph.interpolation_out_of_range(bad, 0.0, 0.0, -3, -3, -3, 6, 6, 6)
        assert ph.interpolation_out_of_range(0.0, 0.0, bad, -3, -3, -3, 6, 6, 6)
        assert math.isnan(ph.tricubic_F(fhkl, bad, 0.0, 0.0, -3, -3, -3))
        i = ph.nearest_index(bad)
        assert not ph.in_table(1, i, 0, 0, -3, 2, -3, 2, -3, 2)
    # finite indices: C's test, unchanged
    assert not ph.interpolation_out_of_range(-0.5, 0.0, -0.2, -3, -3, -3, 6, 6, 6)
    assert ph.interpolation_out_of_range(-0.5, 0.0, 0.2, -3, -3, -3, 6, 6, 6)
    assert ph.interpolation_out_of_range(1.5, 0.0, 0.0, -3, -3, -3, 6, 6, 6)
    assert ph.tricubic_F(fhkl, -0.5, 0.0, 0.0, -3, -3, -3) == pytest.approx(fhkl[2, 3, 3] * 0.5 + fhkl[3, 3, 3] * 0.5)


@pytest.mark.parametrize("table", ["box", "small", "none"])
def test_kernel_with_nan_geometry_reads_no_table_out_of_bounds(folder, table):
    """Below the set-up check: NaN pixel positions given straight to the kernel (as the issue's run
    did) render NaN pixels instead of reading outside the F table."""
    from nbnumba import params_from_argv
    from nbnumba.render import plan as render_plan
    from nbnumba.setup import prepare
    hkl = {"box": BOX_HKL, "small": b"-5 -5 -5 10\n5 5 5 10\n", "none": None}[table]
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "1", "-interpolate", "-curved_det",
            "-oversample", "1", "-detpixels", "8"]
    if hkl is None:
        argv += ["-default_F", "10"]
    else:
        (folder / "in.hkl").write_bytes(hkl)
        argv += ["-hkl", "in.hkl"]
    plan = render_plan.make_plan(prepare(params_from_argv(argv)[0]))
    vectors = plan.vectors.copy()
    vectors[kt.PIX0] = math.nan
    plan = dataclasses.replace(plan, vectors=vectors)
    rendering = render_plan.render(plan, "cpu")
    assert np.isnan(rendering.floatimage).all()


# --- item 4: outputs that would overwrite inputs or each other ---

MAT = b"0.01 0 0\n0 0.01 0\n0 0 0.01\n"
OVERLAPS = [
    ({}, ["-floatfile", "X", "-intfile", "X"], ("-intfile X", "-floatfile X")),
    ({}, ["--hdf5", "f.bin", "-floatfile", "f.bin"], ("--hdf5 f.bin", "-floatfile f.bin")),
    ({}, ["-pgmfile", "out.img"], ("-pgmfile out.img", "-intfile out.img")),
    ({"in.hkl": b"1 2 3 4\n"}, ["-hkl", "in.hkl", "-dump", "in.hkl"], ("-dump in.hkl", "input -hkl in.hkl")),
    ({"in.hkl": b"1 2 3 4\n"}, ["-hkl", "in.hkl", "-floatfile", "Fdump.bin"], ("-floatfile Fdump.bin",
                                                                               "-dump Fdump.bin")),
    ({"Fdump.bin": b"cache"}, ["-intfile", "Fdump.bin"], ("-intfile Fdump.bin", "input -dump Fdump.bin")),
    ({"m.img": smv_bytes(8, 8)}, ["-mask", "m.img", "-intfile", "m.img"], ("-intfile m.img", "input -mask m.img")),
    ({"i.img": smv_bytes(8, 8)}, ["-img", "i.img", "-floatfile", "i.img"], ("-floatfile i.img", "input -img i.img")),
    ({"a.mat": MAT}, ["-mat", "a.mat", "-floatfile", "a.mat"], ("-floatfile a.mat", "input -mat a.mat")),
    ({"s.txt": b"0 0 -10 1 1e-10\n"}, ["-sourcefile", "s.txt", "-intfile", "s.txt"], ("input -sourcefile s.txt",)),
    ({"t.txt": b"0.1 1\n"}, ["-stol", "t.txt", "-floatfile", "t.txt"], ("input -stol t.txt",)),
    ({}, ["-noisefile", "out.bin"], ("-noisefile out.bin", "-floatfile out.bin")),
    ({}, ["--hdf5", "a.h5", "--hdf5-noise", "a.h5"], ("--hdf5-noise a.h5", "--hdf5 a.h5")),
]


@pytest.mark.parametrize("files, argv, fragments", OVERLAPS, ids=[" ".join(a) for _, a, _ in OVERLAPS])
def test_output_over_an_input_or_another_output_is_refused(folder, capsys, files, argv, fragments):
    for name, content in files.items():
        (folder / name).write_bytes(content)
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, list(files), *fragments)
    for name, content in files.items():
        assert (folder / name).read_bytes() == content


def test_same_file_through_a_symlink_or_a_hard_link(folder, capsys):
    (folder / "in.hkl").write_bytes(b"1 2 3 4\n")
    os.symlink("in.hkl", folder / "link.hkl")
    status, out, err = run_cli(BASE + ["-hkl", "in.hkl", "-floatfile", "link.hkl"], capsys)
    assert_refused(status, out, err, folder, ["in.hkl", "link.hkl"], "-floatfile link.hkl", "input -hkl in.hkl")
    os.mkdir(folder / "sub")
    os.link(folder / "in.hkl", folder / "sub" / "hard.hkl")
    status, out, err = run_cli(BASE + ["-hkl", "in.hkl", "-intfile", "sub/hard.hkl"], capsys)
    assert_refused(status, out, err, folder, ["in.hkl", "link.hkl", "sub"], "-intfile sub/hard.hkl")
    assert (folder / "in.hkl").read_bytes() == b"1 2 3 4\n"


def test_one_fifo_or_device_named_twice_is_no_clash(folder):
    """Writing one device or FIFO twice (``/dev/null`` for two outputs) is not an overwrite: only
    regular files (or absent paths) clash. Checked on a FIFO in the test folder, never a real /dev node."""
    from nbnumba.outputs.registry import check_distinct_files
    os.mkfifo(folder / "pipe")
    os.symlink("pipe", folder / "pipe-link")
    check_distinct_files(Params(floatfilename="pipe", intfilename="pipe", write_pgm=False, calculate_noise=False))
    check_distinct_files(Params(floatfilename="pipe", intfilename="pipe-link", hklfilename="pipe", write_pgm=False,
                                calculate_noise=False, dumpfilename="elsewhere.bin"))
    with pytest.raises(InputError, match="-intfile out.x: the same file as -floatfile out.x"):
        check_distinct_files(Params(floatfilename="out.x", intfilename="out.x"))
    assert sorted(os.listdir(folder)) == ["pipe", "pipe-link"]


# --- item 6: renders Ctrl-C could not stop ---

@pytest.mark.parametrize("argv, fragments", [
    (["-oversample", "2147483647"], ("one pixel needs 4.61e+18 samples", "2147483647 x 2147483647 sub-pixels",
                                     "years", "-oversample")),
    (["-N", "2147483647"], ("one pixel needs", "years", "auto-selected")),
    (["-oversample", "2147483647", "-dispersion", "10", "-dispsteps", "5"], ("2.31e+19 samples", "5 sources")),
    (["-oversample", "4000", "-detpixels", "8000"], ("the run needs 1.02e+15 samples", "64000000 pixels",
                                                      "-detpixels/-roi/-mask")),
])
def test_endless_runs_are_refused_up_front_with_the_estimate(folder, capsys, argv, fragments):
    status, out, err = run_cli(B + ["-nonoise", "-nopgm", "-noprogress"] + argv, capsys)
    assert_refused(status, out, err, folder, [], *fragments)


def test_roi_and_mask_count_in_the_total(folder, capsys, monkeypatch):
    """The total counts the rendered pixels only: the same run passes the total limit with a small ROI."""
    prepare_module = importlib.import_module("nbnumba.setup.prepare")
    monkeypatch.setattr(prepare_module, "MAX_SAMPLES", 1e5)
    status, out, err = run_cli(BASE + ["-oversample", "40"], capsys)  # 64 pixels x 1600 samples
    assert_refused(status, out, err, folder, [], "the run needs 1.02e+05 samples", "64 pixels")
    status, out, err = run_cli(BASE + ["-oversample", "40", "-roi", "0", "2", "0", "1"], capsys)
    assert status == 0, err


def test_blocks_of_pixels_give_the_same_image(folder, monkeypatch):
    """Blocks of a few pixels (rows split between calls, several passes) and one block per pass give
    bit-identical images and solid-angle sums, with the interpolation cut, the phi carryover and both."""
    from nbnumba import params_from_argv, simulate
    from nbnumba.kernels import cpu
    (folder / "in.hkl").write_bytes(b"".join(b"%d %d %d %d\n" % (h, k, l, 10 + h + 2 * k + 3 * l)
                                             for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)))
    runs = {
        "interpolation cut": ["-hkl", "in.hkl", "-cell", "100", "100", "100", "90", "90", "90", "-N", "2",
                              "-lambda", "6.2", "-distance", "100", "-detpixels", "13", "-pixel", "8",
                              "-interpolate"],
        "phi carryover": ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "100", "-N", "5",
                          "-detpixels", "11", "-pixel", "8", "-mosaic", "0.4", "-mosaic_domains", "3",
                          "-phi", "0", "-osc", "3", "-phisteps", "3", "-oversample", "2", "-dmin", "30",
                          "--phi-carryover-mode", "c-parity"],
    }
    # both: the first rendered pixel evaluates no phi loop; the first loop is the pixel of the interpolation cut,
    # which the first pass, stopping after the cut's block, has rendered
    runs["both"] = runs["phi carryover"] + ["-hkl", "in.hkl", "-interpolate"]
    for name, argv in runs.items():
        params = params_from_argv(argv)[0]
        images = []
        for block_seconds, max_pixels in ((1e-9, 5), (1e-9, 1), (1e9, 1 << 30)):
            monkeypatch.setattr(cpu, "BLOCK_SECONDS", block_seconds)
            monkeypatch.setattr(cpu, "MAX_BLOCK_PIXELS", max_pixels)
            result = simulate(params.copy(), device="cpu")
            images.append((result.floatimage, result.omega_sum, result.rendering.passes))
        for image, omega, passes in images[1:]:
            assert np.array_equal(image, images[0][0], equal_nan=True), name
            assert omega == images[0][1], name
            assert passes == images[0][2], name
        assert len(images[0][2]) == 2 or name == "phi carryover", name  # the cut pass ran


@pytest.mark.parametrize("mode", ["spec", "c-parity"])
def test_interpolation_pass_stops_at_the_block_of_the_cut(folder, monkeypatch, mode):
    """With interpolation, the first pass stops after the first block of pixels with a failure: the pixels
    after that block are rendered once, by the switch-off pass, and each pixel's solid angle is kept once,
    in row-major order. The image is the one-block image (``test_blocks_of_pixels_give_the_same_image``),
    with and without the c-parity phi carryover (whose first loop is then the first pixel's)."""
    from nbnumba import params_from_argv, simulate
    from nbnumba.kernels import cpu
    # the beam at the first pixel, a table of -8..8 in each index: pixels further out along the first row
    # reach beyond it (the cut)
    (folder / "in.hkl").write_bytes(b"".join(b"%d %d %d %d\n" % (h, k, l, 10 + h + 2 * k + 3 * l)
                                             for h in range(-8, 9) for k in range(-8, 9) for l in range(-8, 9)))
    argv = ["-hkl", "in.hkl", "-cell", "100", "100", "100", "90", "90", "90", "-N", "2", "-lambda", "6.2",
            "-distance", "100", "-detpixels", "13", "-pixel", "4", "-Xbeam", "0", "-Ybeam", "0", "-phi", "0",
            "-osc", "2", "-phisteps", "2", "--phi-carryover-mode", mode]
    pixels = 13 * 13
    whole = simulate(params_from_argv(argv)[0], device="cpu")
    calls = []
    real_run = cpu.CpuRenderer.run

    def run(self, passes, sc, pixel_start, pixel_end, keep_omega=True):
        calls.append((passes, pixel_start, pixel_end, keep_omega))
        return real_run(self, passes, sc, pixel_start, pixel_end, keep_omega)

    monkeypatch.setattr(cpu.CpuRenderer, "run", run)
    monkeypatch.setattr(cpu, "BLOCK_SECONDS", 1e-9)
    monkeypatch.setattr(cpu, "MAX_BLOCK_PIXELS", 5)
    result = simulate(params_from_argv(argv)[0], device="cpu")
    assert np.array_equal(result.floatimage, whole.floatimage) and result.omega_sum == whole.omega_sum
    (_, first), (cut, cut_pass) = result.rendering.passes
    assert 5 <= cut < pixels - 5  # the first pass takes several blocks, and stops well before the end
    first_blocks = [(start, end) for passes, start, end, _ in calls if passes == first]
    # the first pass: consecutive blocks from pixel 0 up to the end of the block that holds the cut
    assert first_blocks[0][0] == 0 and all(a[1] == b[0] for a, b in zip(first_blocks, first_blocks[1:]))
    assert first_blocks[-1][0] <= cut < first_blocks[-1][1] < pixels
    # the switch-off pass: every pixel from the cut on, once; solid angles of every pixel once, in order
    rendered_after = [p for passes, start, end, _ in calls if passes == cut_pass for p in range(start, end)]
    assert rendered_after == list(range(cut, pixels))
    kept = [p for _, start, end, keep in calls if keep for p in range(start, end)]
    assert kept == list(range(pixels))


def test_first_pass_carries_on_when_the_carryover_takes_its_failure_back():
    """The c-parity carryover re-renders the first pixel that evaluates a phi loop with the first loop's
    orientation, which can take back the interpolation failure the first pass stopped at: the first pass then
    carries on to the next failure, and every pixel is rendered. A stand-in renderer of one row of 40 pixels:
    pixel 12 evaluates first and fails only with the wrong orientation, pixels from 30 on fail."""
    from nbnumba.render import serial_order

    class Renderer:
        shape = (1, 40)
        block_samples, block_seconds, min_block_pixels, max_block_pixels = 5, 1e-9, 5, 5

        def __init__(self):
            self.events = np.full(40, -1, np.int32)
            self.evaluated_pixels = np.zeros(40, np.uint8)
            self.rendered_by = {}

        def run(self, passes, sc, start, end, keep_omega=True):
            for p in range(max(start, passes.start_pixel), end):
                if passes.roi_xmin <= p <= passes.roi_xmax:
                    self.rendered_by[p] = passes
                    self.evaluated_pixels[p] = p >= 12
                    fails = (p == 12 and passes.first_eval_pixel != 12) or p >= 30
                    self.events[p] = 0 if fails and p < passes.interp_cut_pixel else -1

        def evaluated(self):
            return self.evaluated_pixels

        def interp_event(self, start, end):
            return self.events[start:end]

    renderer = Renderer()
    flags = kt.KernelFlags(*[0] * len(kt.KernelFlags._fields))._replace(interpolate=True, phi_carryover=True)
    history = serial_order.render_passes(renderer, flags, serial_order.first_pass((0, 39, 0, 0)), None,
                                         np.ones(40, bool))
    (_, first), (cut, cut_pass) = history
    assert first.first_eval_pixel == 12 and cut == 30 and cut_pass.interp_cut_eval == 0
    assert sorted(renderer.rendered_by) == list(range(40))  # every pixel, none left out
    assert renderer.rendered_by[12] == first._replace(roi_xmin=12, roi_xmax=12)  # the carryover's re-render
    # before the cut: the first pass (interpolating throughout; before or after its first loop moved to 12)
    assert all(renderer.rendered_by[p] in (first, first._replace(first_eval_pixel=0)) for p in range(13, 30))
    assert all(renderer.rendered_by[p] == cut_pass for p in range(30, 40))


def test_ctrl_c_stops_a_heavy_render_within_seconds(tmp_path):
    """SIGINT to a real process rendering 9e6 samples a pixel (-oversample 3000): before blocks of
    pixels it ignored SIGINT for minutes (whole rows per compiled call); now exit 130 within seconds,
    one stderr line, no file."""
    argv = B + ["-oversample", "3000", "-nonoise", "-nopgm", "-floatfile", "out.bin", "-intfile", "out.img"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    # the kernel of these flags compiled (and cached) first, so that the signal reaches the render
    subprocess.run([sys.executable, "-c", "from nbnumba.cli.main import main; main()"] + B
                   + ["-oversample", "1", "-detpixels", "2", "-nonoise", "-nopgm", "-floatfile", "w.bin", "-intfile",
                      "w.img"], cwd=tmp_path, env=env, capture_output=True, timeout=600, check=True)
    for name in os.listdir(tmp_path):
        os.unlink(tmp_path / name)
    with command_process(argv, tmp_path, env) as (proc, lines):
        read_until(proc, lines, "nbnumba: rendering", 120)
        time.sleep(3.0)  # inside the render (the whole render takes minutes)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        latency = time.monotonic() - sent
        err = proc.stderr.read()
    assert proc.returncode == -signal.SIGINT, err  # dies of SIGINT after cleaning up, so a shell loop stops
    assert err.strip() == "nbnumba: interrupted"
    assert latency < 10.0, latency
    assert os.listdir(tmp_path) == []


# --- item 9: tracebacks ---

@pytest.mark.parametrize("argv, fragments", [
    (["-xtalsize", "1e308"], ("-xtalsize", "unit cells", "finite")),
    (["-sample_thick", "1e308"], ("-sample_thick", "unit cells")),
    (["-xtal_x", "1e308"], ("-sample_thick",)),  # the beam clips -sample_width/-sample_height, as in C
    (["-floatfile", "a\0b"], ("-floatfile", "NUL")),
    (["-hkl", "a\0b"], ("-hkl", "NUL")),
    (["-mask", "a\0b"], ("-mask", "NUL")),
])
def test_set_up_overflows_and_nul_bytes_are_one_line(folder, capsys, argv, fragments):
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, [], *fragments)


CELL = dict(user_cell=True, cell_a=100.0, cell_b=100.0, cell_c=100.0, cell_alpha=math.pi / 2,
            cell_beta=math.pi / 2, cell_gamma=math.pi / 2, default_F=100.0, fpixels=8, spixels=8)
BAD_PARAMS = {
    "float as str": dict(Na="5"), "float None": dict(distance=None), "int as float": dict(oversample=2.5),
    "int beyond 32 bits": dict(oversample=2 ** 40), "seed as str": dict(seed="x"), "bool as str": dict(nopolar="yes"),
    "unknown shape": dict(xtal_shape="cube"), "convention as int": dict(beam_convention=3),
    "unknown device": dict(device="gpu"), "vector as str": dict(beam_vector="abc"),
    "vector of 2": dict(beam_vector=(1.0, 0.0)), "vector with NaN": dict(misset=(math.nan, 0.0, 0.0)),
    "misset as str": dict(misset="random"), "NUL in -hkl": dict(hklfilename="a\0b"),
    "NUL in -floatfile": dict(floatfilename="a\0b"), "NUL in --hdf5": dict(hdf5filename="a\0b"),
    "empty file name": dict(intfilename=""), "crystal 1e308 m": dict(sample_x=1e308),
    "crystal inf thick": dict(sample_x=math.inf), "oversample 2^31-1": dict(oversample=2 ** 31 - 1),
    "N 2^31-1 auto-oversampled": dict(Na=2.0 ** 31 - 1),
    "huge beam vector": dict(beam_vector=(1e308, 1e308, 1e308), beam_convention="custom"),
    "tiny spindle": dict(spindle_vector=(1e-200, 0.0, 0.0), beam_convention="custom"),
    "NaN distance": dict(distance=math.nan), "NaN two-theta": dict(detector_twotheta=math.nan),
    "infinite beam centre": dict(Xbeam=math.inf), "NaN cell angle": dict(cell_alpha=math.nan),
    "too many mosaic domains": dict(mosaic_domains=2 ** 31 - 1, mosaic_spread=0.01),
    "negative pixel count": dict(fpixels=-3), "NaN wavelength": dict(lambda0=math.nan),
    "curved at 1e-320": dict(curved_detector=True, distance=1e-320),
}


@pytest.mark.parametrize("name", list(BAD_PARAMS))
def test_python_api_bad_values_raise_input_error(folder, name):
    """``nbnumba.simulate(Params(...))`` with a bad value of each kind: InputError (one line naming the
    field or flag), never TypeError, KeyError, OverflowError, IndexError or ValueError; nothing written."""
    from nbnumba import simulate
    with pytest.raises(InputError) as info:
        simulate(Params(**dict(CELL, **BAD_PARAMS[name])), device="cpu")
    assert "\n" not in str(info.value)
    assert os.listdir(folder) == []


def test_python_api_run_checks_before_touching_paths(folder):
    from nbnumba.run import run
    with pytest.raises(InputError, match="Params.floatfilename"):
        run(Params(**dict(CELL, floatfilename="a\0b")))
    assert os.listdir(folder) == []


# --- item 11: messages ---

@pytest.mark.parametrize("argv, fragments", [
    (["-beam_vector", "1e308", "1e308", "1e308"], ("-beam_vector", "overflows")),
    (["-fdet_vector", "1e-200", "0", "0"], ("-fdet_vector", "underflows")),
    (["-cell", "100", "100", "100", "-90", "90", "90"], ("-cell", "'-90'", "negative")),
    (["-cell", "100", "-80"], ("-cell", "'-80'")),
    (["-N", "\u0665"], ("-N: expected an integer",)),
    (["-detpixels", "\uff18"], ("-detpixels",)),
])
def test_messages_name_the_right_flag(folder, capsys, argv, fragments):
    status, out, err = run_cli(BASE + argv, capsys)
    line = assert_refused(status, out, err, folder, [], *fragments)
    assert "-distance" not in line


def test_a_later_output_failing_leaves_none_of_the_runs_files(tmp_path, monkeypatch, capsys):
    """Issue 14 item 10: the outputs of a run are all or nothing. When a later output fails (here the PGM
    writer; in the wild -pixel 1e-320, whose SMV header no longer fits in 512 bytes) or the run is
    interrupted while writing, the earlier outputs are neither created nor replaced."""
    from nbnumba.errors import InputError
    from nbnumba.outputs import registry
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.bin").write_bytes(b"old float image")
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "16",
            "-floatfile", "old.bin", "-intfile", "i.img", "-noisefile", "n.img", "-pgmfile", "p.pgm", "-seed", "3"]

    def failing_pgm(path, pixels, scale):
        raise InputError("cannot write %s: disk full" % path)

    monkeypatch.setattr(registry, "write_pgm", failing_pgm)
    assert main_argv(argv) == 2
    assert "cannot write p.pgm" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]
    assert (tmp_path / "old.bin").read_bytes() == b"old float image"

    def interrupted(path, pixels, scale):
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "write_pgm", interrupted)
    assert main_argv(argv) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]
    assert (tmp_path / "old.bin").read_bytes() == b"old float image"
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert main_argv(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.img", "n.img", "old.bin", "p.pgm"]
    assert (tmp_path / "old.bin").stat().st_size == 16 * 16 * 4


def test_an_smv_header_that_does_not_fit_leaves_no_file(tmp_path, monkeypatch, capsys):
    """-pixel 1e-320: the SMV header's numbers no longer fit in its 512 bytes; the run stops with one
    line and the float image written before it is not left behind."""
    monkeypatch.chdir(tmp_path)
    argv = ["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", "4", "-oversample", "1",
            "-nonoise", "-nopgm", "-floatfile", "f.bin", "-intfile", "i.img", "-pixel", "1e-320"]
    assert main_argv(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SMV header" in err[0]
    assert list(tmp_path.iterdir()) == []
