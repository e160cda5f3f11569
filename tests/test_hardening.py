# SPDX-License-Identifier: BSD-3-Clause
"""Bad input, one class at a time: every refusal is one line on stderr naming the flag or file, exit
status 2 (130 for Ctrl-C), no traceback, and no output or temporary file left in the folder."""
import contextlib
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_refused, command_process, read_until, run_cli

from nbnumba import limits
from nbnumba.errors import ExitStatus

EXIT_INPUT_ERROR, EXIT_INTERRUPTED = ExitStatus.INPUT_ERROR, ExitStatus.INTERRUPTED
from nbnumba import params_from_argv
from nbnumba.io.smv import HEADER_BYTES
from nbnumba.setup import prepare

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = ["-floatfile", "out.bin", "-intfile", "out.img"]
#: a valid 8 x 8 pixel run; tests add or override flags after it (later flags win)
BASE = ["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", "8",
        "-nonoise", "-nopgm", "-noprogress"] + OUTPUTS


def smv_bytes(width=4, height=4, extra="", pixels=None):
    """A small valid SMV file (header + uint16 pixels), with `extra` header lines."""
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={width};\nSIZE2={height};\nPIXEL_SIZE=0.1;\n{extra}}}\f").encode("latin-1")
    data = np.ones((height, width), "<u2") if pixels is None else pixels
    return head.ljust(HEADER_BYTES, b" ") + data.tobytes()


def write_inputs(folder, files):
    for name, content in files.items():
        path = folder / name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
    return list(files)


# --- missing or unreadable files ---

@pytest.mark.parametrize("flag", ["-hkl", "-mat", "-sourcefile", "-stol", "-img", "-mask", "-4stol", "-Q"])
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_missing_or_unreadable_file(folder, capsys, flag, kind):
    inputs = write_inputs(folder, {"input.dat": None} if kind == "folder" else {})
    status, out, err = run_cli(BASE + [flag, "input.dat"], capsys)
    stem = flag if flag not in ("-4stol", "-Q") else "-stol"
    assert_refused(status, out, err, folder, inputs, "input.dat", stem,
                   "No such file" if kind == "missing" else "directory")


# --- empty, truncated, binary or malformed input files ---

BINARY = bytes(range(256)) * 4
MALFORMED = [
    ("-hkl", b"", "no reflections"),
    ("-hkl", b"\n\n# only a comment\n", "no reflections"),
    ("-hkl", b"1 2 3 4\n5 6", "line 2: expected 4 numbers"),
    ("-hkl", b"1 2 3 4\n1 2 3 4e", "line 2: expected 4 numbers"),
    ("-hkl", BINARY, "is not a text file: it has a NUL byte (at byte 0)"),
    ("-hkl", BINARY.replace(b"\0", b""), "line 1: expected 4 numbers"),
    ("-hkl", b"h k l F\n", "line 1: expected 4 numbers"),
    ("-hkl", b"1 2 3 nan\n", "line 1: expected 4 numbers"),
    ("-hkl", b"1 2 3 inf\n", "line 1: expected 4 numbers"),
    ("-hkl", b"1.5 2 3 4\n", "line 1: expected an integer index h"),
    ("-hkl", b"0 0 1e300 4\n", "line 1: index l = 1e+300 is out of range"),
    ("-mat", b"", "expected 3 lines of 3 numbers"),
    ("-mat", b"0.01 0 0\n0 0.01 0\n", "found 2"),
    ("-mat", b"0.01 0 0\n0 0.01\n0 0 0.01\n", "line 2: expected 3 numbers"),
    ("-mat", BINARY, "is not a text file: it has a NUL byte"),
    ("-mat", BINARY.replace(b"\0", b""), "line 1: expected 3 numbers"),
    ("-mat", b"0.01 0 0\n0 0.01 0\n0 0 nan\n", "line 3: expected 3 numbers"),
    ("-mat", b"0 0 0\n0 0 0\n0 0 0\n", "span no volume"),
    ("-mat", b"0.01 0.01 0\n0.01 0.01 0\n0 0 0.01\n", "span no volume"),
    ("-sourcefile", b"", "has no data"),
    ("-sourcefile", b"# comment only\n", "has no data"),
    ("-sourcefile", BINARY, "is not a text file: it has a NUL byte"),
    ("-sourcefile", BINARY.replace(b"\0", b""), "line 1: expected up to 5 numbers"),
    ("-sourcefile", b"0 0 -10 1 1e-10\n0 0 -10 1 1e-1x\n", "line 2: expected up to 5 numbers, got '1e-1x'"),
    ("-sourcefile", b"0 0 -10 1 1e-10\n0 0 -10 1 0\n", "source 2 has wavelength 0 m"),
    ("-sourcefile", b"0 0 -10 1 -1e-10\n", "source 1 has wavelength -1e-10 m"),
    ("-stol", b"0.1 abc\n", "line 1: expected up to 2 numbers"),
    ("-stol", b"", "has no data"),
    ("-img", b"", "is not an SMV image"),
    ("-img", BINARY, "is not an SMV image"),
    ("-img", smv_bytes()[:300], "is truncated"),
    ("-img", smv_bytes()[:HEADER_BYTES + 10], "is truncated: expected 32 bytes"),
    ("-img", smv_bytes(extra="PIXEL_SIZE=inf;\n"), "PIXEL_SIZE=inf is not a finite number"),
    ("-img", smv_bytes(extra="WAVELENGTH=-inf;\n"), "WAVELENGTH=-inf is not a finite number"),
    ("-img", smv_bytes().replace(b"SIZE1=4", b"SIZE1=0").replace(b"SIZE2=4", b"SIZE2=0"), "positive SIZE1"),
    ("-img", smv_bytes().replace(b"little_endian", b"middle_endian"), "BYTE_ORDER"),
    ("-mask", b"P5\n4 4\n255\n" + bytes(16), "is not an SMV image"),
    ("-mask", smv_bytes(8, 8)[:600], "is truncated"),
]


@pytest.mark.parametrize("flag, content, fragment", MALFORMED,
                         ids=[f"{flag}-{i}" for i, (flag, _, _) in enumerate(MALFORMED)])
def test_malformed_input_file(folder, capsys, flag, content, fragment):
    inputs = write_inputs(folder, {"input.dat": content})
    status, out, err = run_cli(BASE + [flag, "input.dat"], capsys)
    assert_refused(status, out, err, folder, inputs, "input.dat", fragment)


def test_garbled_structure_factor_cache(folder, capsys):
    """Without -hkl, Fdump.bin in the folder is read; a garbled one is refused, not used."""
    inputs = write_inputs(folder, {"Fdump.bin": b"0 1 0 1 0 1\n\f" + bytes(20)})
    status, out, err = run_cli([a for a in BASE if a not in ("-default_F", "100")], capsys)
    assert_refused(status, out, err, folder, inputs, "Fdump.bin", "truncated or garbled")


# --- non-numeric, NaN and infinite values ---

@pytest.mark.parametrize("argv, fragment", [
    (["-distance", "abc"], "-distance: expected a number (MM), got 'abc'"),
    (["-distance", "nan"], "-distance: expected a number (MM), got 'nan'"),
    (["-lambda", "inf"], "-lambda: expected a number (A), got 'inf'"),
    (["-lambda", "-Infinity"], "-lambda: expected a number (A), got '-Infinity'"),
    (["-pixel", "0x10"], "-pixel: expected a number (MM), got '0x10'"),
    (["-pixel", "1e999"], "-pixel: expected a number (MM), got '1e999'"),
    (["-detpixels", "5.5"], "-detpixels: expected an integer (N), got '5.5'"),
    (["-detpixels", "1e3"], "-detpixels: expected an integer (N), got '1e3'"),
    (["-N", "99999999999"], "-N: 99999999999 is out of range for a 32-bit integer"),
    (["-cell", "10", "nan", "10"], "-cell: expected 1 to 6 numbers"),
    (["-misset", "1", "2", "x"], "-misset: expected 'random' or three angles"),
    (["-beam_vector", "1", "0", "nan"], "-beam_vector: expected 3 numbers"),
    (["-distance"], "-distance: expected a number (MM), got nothing"),
    (["-distance", "100", "7"], "unexpected argument '7'"),
    (["-xds", "-pixel", "1e4", "-ORGX", "1e308"], "detector position is not finite"),
])
def test_non_numeric_nan_inf_values(folder, capsys, argv, fragment):
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, [], fragment)


# --- zero or negative counts, sizes, distances, wavelengths ---

@pytest.mark.parametrize("argv, fragment", [
    (["-pixel", "0"], "-pixel: detector pixel size must be positive, got 0 mm"),
    (["-pixel", "-0.1"], "pixel size must be positive, got -0.1 mm"),
    (["-detpixels", "-5"], "-detpixels/-detsize: detector has -5 x -5 pixels"),
    (["-detpixels_f", "0", "-detsize_f", "0"], "-detsize_f/-detsize: detector detsize f must be positive, got 0 mm"),
    (["-detpixels_s", "0", "-detsize_s", "-20"], "detsize s must be positive, got -20 mm"),
    (["-distance", "0"], "-distance/-close_distance: the detector plane passes through the sample"),
    (["-close_distance", "0"], "the detector plane passes through the sample"),
    (["-lambda", "0"], "-lambda/-energy: wavelength must be positive, got 0 A"),
    (["-lambda", "-1"], "wavelength must be positive, got -1 A"),
    (["-energy", "0"], "-energy: expected a non-zero photon energy"),
    (["-energy", "-12398.42"], "wavelength must be positive, got -1 A"),
    # 1 A * (1 + 1.25 * 0 - 2.5 / 2): the first of 3 wavelengths 1.25 apart centred on 1 A
    (["-dispersion", "250", "-dispsteps", "3"], "-divergence/-dispersion: the source grid has wavelength -2.5e-11 m"),
    (["-cell", "1e-300"], "no finite cell vectors; expected positive edges"),
    (["-cell", "1e300"], "-cell: the cell a b c alpha beta gamma has volume"),
    (["-beam_vector", "0", "0", "0"], "-beam_vector: expected a non-zero direction X Y Z, got 0 0 0"),
    (["-spindle_axis", "0", "-0", "0.0"], "-spindle_axis: expected a non-zero direction"),
    (["-lambda", "1e-30"], "auto-selected oversampling would be 3e+28 sub-pixels"),
    # without ranges C takes 1 rad; the one point (-0.5, -0.5) rad lies outside the round grid's circle
    (["-hdivsteps", "1", "-vdivsteps", "1"], "no sources: the round divergence grid"),
])
def test_zero_or_negative_sizes(folder, capsys, argv, fragment):
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, [], fragment)


def render_floats(folder, capsys, extra):
    status, _, err = run_cli(BASE + extra, capsys)
    assert status == 0, err
    return np.fromfile(folder / "out.bin", np.float32)


def test_values_c_accepts_stay_accepted(folder, capsys):
    """nanoBragg.c takes |distance| (L1712 close_distance = fabs(ratio*distance)), clamps -N 0 and
    negative N to 1 (L2080) and -detpixels 0 means "from -detsize": same images as the plain values."""
    reference = render_floats(folder, capsys, ["-distance", "100", "-N", "1"])
    assert np.array_equal(render_floats(folder, capsys, ["-distance", "-100", "-N", "1"]), reference)
    assert np.array_equal(render_floats(folder, capsys, ["-distance", "100", "-N", "0"]), reference)
    assert np.array_equal(render_floats(folder, capsys, ["-distance", "100", "-N", "-3"]), reference)
    params, _ = params_from_argv(BASE + ["-detpixels", "0", "-detsize", "0.8"])
    assert prepare(params).detector.shape == (8, 8)


# --- too large for memory ---

@pytest.mark.parametrize("argv, fragment", [
    (["-detpixels", "100000000"], "a 100000000 x 100000000 pixel detector"),
    (["-detpixels", "2147483647"], "a 2147483647 x 2147483647 pixel detector"),
    (["-mosaic", "1", "-mosaic_domains", "2000000000"], "2000000000 mosaic domains"),
    (["-phisteps", "2000000000", "-osc", "1"], "2000000000 phi steps"),
    (["-divergence", "1", "-divsteps", "100000", "-square_div"], "10000000000 sources"),
])
def test_too_large_for_memory_is_refused_before_allocating(folder, capsys, argv, fragment):
    start = time.perf_counter()
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, [], fragment, "of memory, more than the", limits.LIMIT_ENV)
    assert time.perf_counter() - start < 10  # refused, not attempted


def test_memory_limit_override(folder, capsys, monkeypatch):
    # 512 x 512 pixels need at least the float32 and uint16 images: 6 bytes a pixel
    monkeypatch.setenv(limits.LIMIT_ENV, str(6 * 512 * 512))
    status, out, err = run_cli(BASE + ["-detpixels", "512"], capsys)
    assert_refused(status, out, err, folder, [], "a 512 x 512 pixel detector", "1.5 MiB available")
    monkeypatch.setenv(limits.LIMIT_ENV, str(64 * 1024**2))
    status, _, err = run_cli(BASE, capsys)
    assert status == 0, err
    monkeypatch.setenv(limits.LIMIT_ENV, "lots")
    status, out, err = run_cli(BASE, capsys)
    assert_refused(status, out, err, folder, ["out.bin", "out.img"], "NBNUMBA_MEMORY_LIMIT: expected a positive")


def test_estimate_covers_the_images():
    """Lower bound computed independently: a float32 and a uint16 value per pixel, a 3x3 float64 per
    (phi step, domain)."""
    assert limits.run_bytes(1000, 2000, 1, 1, 1) >= 1000 * 2000 * (4 + 2)
    assert limits.run_bytes(1, 1, 1, 30, 40) >= 30 * 40 * 72


def test_one_far_hkl_line_is_refused_before_allocating(folder, capsys):
    inputs = write_inputs(folder, {"far.hkl": b"0 0 0 1\n100000 100000 100000 1\n"})
    status, out, err = run_cli(BASE + ["-hkl", "far.hkl"], capsys)
    assert_refused(status, out, err, folder, inputs, "-hkl far.hkl: the index box 100001 x 100001 x 100001",
                   "of memory")


# --- -img / -mask that is not SMV is covered above; a mask of the wrong size ---

def test_mask_of_another_size(folder, capsys):
    inputs = write_inputs(folder, {"mask.img": smv_bytes(4, 4)})
    status, out, err = run_cli(BASE + ["-mask", "mask.img", "-detpixels", "8"], capsys)
    assert_refused(status, out, err, folder, inputs, "-mask mask.img: image is 4 x 4 pixels but the detector is 8 x 8")


# --- output paths ---

@pytest.mark.parametrize("argv, fragment", [
    (["-floatfile", "nowhere/out.bin"], "cannot write nowhere/out.bin: folder nowhere does not exist"),
    (["-intfile", "nowhere/out.img"], "cannot write nowhere/out.img: folder nowhere does not exist"),
    (["-intfile", "sub"], "cannot write sub: it is a folder"),
    (["-floatfile", "sub/"], "cannot write sub/: expected a file name"),
])
def test_output_path_in_missing_folder(folder, capsys, argv, fragment):
    inputs = write_inputs(folder, {"sub": None})
    status, out, err = run_cli(BASE + argv, capsys)
    assert_refused(status, out, err, folder, inputs, fragment)
    assert os.listdir(folder / "sub") == []


def test_dump_in_missing_folder_warns_and_carries_on_like_c(folder, capsys):
    """The Fdump cache is optional: nanoBragg.c prints 'unable to open dump file' and goes on (L2230)."""
    inputs = write_inputs(folder, {"one.hkl": b"1 2 3 40\n"})
    status, out, err = run_cli(BASE + ["-hkl", "one.hkl", "-dump", "nowhere/F.bin"], capsys)
    assert status == 0, err
    assert "WARNING: unable to open dump file: nowhere/F.bin" in out
    assert sorted(os.listdir(folder)) == sorted(inputs + ["out.bin", "out.img"])


# --- interrupts ---

class _InterruptingHandle:
    """A file handle that writes half of the first chunk of 128 bytes or more, then raises KeyboardInterrupt."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        data = memoryview(data).cast("B")
        if len(data) >= 128:
            self._handle.write(data[:len(data) // 2])
            self._handle.flush()
            raise KeyboardInterrupt
        return self._handle.write(data)


@pytest.mark.parametrize("module", ["nbnumba.io.raw", "nbnumba.io.smv"])
def test_interrupt_while_writing_leaves_no_partial_file(folder, capsys, monkeypatch, module):
    from importlib import import_module
    target = import_module(module)
    real_open = target.atomic_open

    @contextlib.contextmanager
    def interrupted_open(path):
        with real_open(path) as handle:
            yield _InterruptingHandle(handle)

    monkeypatch.setattr(target, "atomic_open", interrupted_open)
    status, out, err = run_cli(BASE, capsys)
    assert status == EXIT_INTERRUPTED
    assert err.strip() == "nbnumba: interrupted" and "Traceback" not in out + err
    # a run's outputs are all or nothing: the float image finished before the SMV write is not left either
    assert {p.name: p.stat().st_size for p in folder.iterdir()} == {}


def test_ctrl_c_during_the_render_leaves_no_file(tmp_path):
    """SIGINT to a real process once it prints its set-up summary: one stderr line, no file, and the
    process dies of SIGINT after cleaning up (as nanoBragg.c does, so a shell loop stops)."""
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "512",
            "-oversample", "3", "-mosaic", "0.5", "-mosaic_domains", "4", "-nonoise", "-nopgm"] + OUTPUTS
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    with command_process(argv, tmp_path, env) as (proc, lines):
        out = read_until(proc, lines, "pixel oversample steps", 60)  # the last set-up line before rendering
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read() if proc.wait(timeout=60) is not None else ""
    while not lines.empty():
        out.append(lines.get() or "")
    out = "".join(out)
    assert proc.returncode == -signal.SIGINT, err
    assert err.strip() == "nbnumba: interrupted"
    assert "writing" not in out and "Traceback" not in out + err
    assert os.listdir(tmp_path) == []
