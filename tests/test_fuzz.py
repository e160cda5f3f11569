# SPDX-License-Identifier: BSD-3-Clause
"""Fuzz tests: random flag/value sequences from the real flag table and random input-file contents.

Properties: the parser and the set-up either succeed or raise InputError with a one-line message;
the whole command exits 0 or 2 with at most one 'nbnumba: error:' line and never a traceback, and
leaves no temporary or partial file: every file in the folder is an unchanged input or a complete
output. Output names include a symlink (to an input or to nothing), a chain of symlinks, a symlink
loop, a FIFO (read by a thread, so writes into it never block) and an existing folder. The
whole-command examples keep the kernel's compiled variant fixed (square crystal, no interpolation, no
oversample_* switches, flat detector) and a 4 x 4 detector, so that they run in milliseconds; the
parse-and-set-up examples draw from every flag and value, huge ones included, under a small memory
limit."""
import contextlib
import os
import re
import stat
import tempfile
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nbnumba import limits, params_from_argv
from nbnumba.argv.flags import ABSORB, CELL, CHOICE, COMMAND, FILE, FLAGS, MISSET, PIXEL_FILE, SWITCH
from nbnumba.cli.main import main_argv
from nbnumba.errors import InputError
from nbnumba.io.hkl import read_fdump
from nbnumba.io.smv import HEADER_BYTES, SMV_MAGIC
from nbnumba.setup import prepare

#: NBNUMBA_FUZZ_SCALE=k runs k times the examples (a longer campaign than CI's)
SCALE = int(os.environ.get("NBNUMBA_FUZZ_SCALE", "1"))
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow,
                                                                     HealthCheck.data_too_large])
#: a valid run; the random flags follow it, so they override it
BASE = ["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", "8", "-nonoise", "-nopgm",
        "-noprogress", "-floatfile", "out.bin", "-intfile", "out.img"]
#: appended to whole-command examples: a 4 x 4 detector, one sample per pixel, one kernel variant
TAIL = ["-detpixels", "4", "-oversample", "1", "-phisteps", "1", "-mosaic_domains", "1", "-detector_thicksteps", "1",
        "-nointerpolate"]
FLOAT_IMAGE_BYTES = 4 * 4 * 4
SMV_IMAGE_BYTES = HEADER_BYTES + 2 * 4 * 4
#: flags that select another compiled kernel variant (kept out of whole-command examples)
KERNEL_VARIANTS = {"-round_xtal", "-gauss_xtal", "-tophat_spots", "-interpolate", "-oversample_thick",
                   "-oversample_polar", "-oversample_omega", "-curved_det", "-point_pixel",
                   "--phi-carryover-mode"}
OUTPUT_FLAGS = {"-floatfile", "-intfile", "-dump", "-stolout", "--hdf5", "--hdf5-noise"}
#: outputs that are never read (-dump is read when there is no -hkl: a FIFO there would wait for a writer)
WRITE_ONLY_FLAGS = {"-floatfile", "-intfile", "--hdf5", "--hdf5-noise"}
INPUT_NAMES = ["f0", "f1", "f2", "Fdump.bin"]
TEMP_FILE = re.compile(r"^\..*\.tmp$")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

VALID_NUMBERS = st.one_of(st.integers(-5, 20).map(str), st.floats(-100, 100, allow_nan=False).map(lambda x: "%g" % x),
                          st.sampled_from(["0.1", "1", "2", "5", "10", "90", "100", "0.5"]))
BAD_NUMBERS = st.sampled_from(["0", "-0", "1e300", "-1e300", "1e-300", "2147483648", "-2147483649", "99999999999",
                               "1e999", "nan", "NaN", "inf", "-inf", "Infinity", "0x10", "1e", "1.5.5", "abc", "",
                               " ", "5.0", "5.", ".5", "1_0", "--", "-", "random", "+1", "1,2", "\x00", "600",
                               "100000", "-100000", "1e9"])
#: mostly plausible values, one in four garbage, huge or degenerate
NUMBER_TOKENS = st.integers(0, 3).flatmap(lambda k: BAD_NUMBERS if k == 0 else VALID_NUMBERS)
FILE_TOKENS = st.sampled_from(INPUT_NAMES + ["missing.dat", "nowhere/x", "sub", "sub/", ".", "out.bin",
                                             "-hkl", "f0 ", "link", "chain", "dangling"])
#: output names: plain, an input, missing folders, folders, symlinks (to f0, through a chain, to nothing)
OUTPUT_NAMES = ["out.bin", "out.img", "o2", "f0", "Fdump.bin", "nowhere/x", "sub", "sub/", "link", "chain",
                "dangling", "loop"]
OUTPUT_TOKENS = st.sampled_from(OUTPUT_NAMES)
WRITE_ONLY_TOKENS = st.sampled_from(OUTPUT_NAMES + ["fifo", "fifo"])
#: flags offered to the fuzzer: all but help/version (they print and exit before any input is read)
ALL_FLAGS = [flag for flag in FLAGS if flag.status != COMMAND]
CLI_FLAGS = [flag for flag in ALL_FLAGS if not KERNEL_VARIANTS.intersection(flag.names)]


@st.composite
def flag_tokens(draw, flags):
    """One flag (any of its names) with values of its kind, or garbage, too few or too many."""
    flag = draw(st.sampled_from(flags))
    name = draw(st.sampled_from(flag.names))
    if flag.kind == SWITCH:
        return [name]
    if flag.kind == FILE:
        tokens = (WRITE_ONLY_TOKENS if flag.name in WRITE_ONLY_FLAGS and flags is CLI_FLAGS
                  else OUTPUT_TOKENS if flag.name in OUTPUT_FLAGS else FILE_TOKENS)
        values = [draw(tokens)]
    elif flag.kind == PIXEL_FILE:
        values = [draw(NUMBER_TOKENS), draw(NUMBER_TOKENS), draw(OUTPUT_TOKENS)]
    elif flag.kind == CHOICE:
        values = [draw(st.sampled_from(list(flag.choices) + ["both", ""]))]
    elif flag.kind == MISSET and draw(st.booleans()):
        values = [draw(st.sampled_from(["random", "randomly", "rand0m"]))]
    elif flag.kind == ABSORB and draw(st.booleans()):
        values = [draw(st.sampled_from(["inf", "INF", "-inf", "0"]))]
    else:
        count = flag.nargs if flag.kind != CELL else draw(st.integers(1, 6))
        values = [draw(NUMBER_TOKENS) for _ in range(count)]
    mangle = draw(st.integers(0, 19))
    if mangle == 0:
        values = values[:draw(st.integers(0, max(len(values) - 1, 0)))]  # too few
    elif mangle == 1:
        values = values + [draw(NUMBER_TOKENS)]  # a stray extra token
    return [name] + values


def argv_strategy(flags):
    return st.lists(flag_tokens(flags), max_size=6).map(lambda groups: [t for g in groups for t in g])


def _numbers_text(draw, columns):
    rows = draw(st.lists(st.lists(NUMBER_TOKENS, min_size=0, max_size=columns + 1), max_size=5))
    separator = draw(st.sampled_from([" ", "\t", ", ", ";", "  "]))
    return "\n".join(separator.join(row) for row in rows).encode("utf-8", "surrogatepass")


@st.composite
def smv_file(draw):
    width, height = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    keys = ["PIXEL_SIZE", "DISTANCE", "CLOSE_DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y", "ORGX",
            "ORGY", "PHI", "OSC_RANGE", "HEADER_BYTES", "SIZE1", "BYTE_ORDER", "DETECTOR_DIMENSIONS"]
    extra = "".join("%s=%s;\n" % (draw(st.sampled_from(keys)), draw(NUMBER_TOKENS))
                    for _ in range(draw(st.integers(0, 3))))
    order = draw(st.sampled_from(["little_endian", "big_endian", "little_end", "weird"]))
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=%s;\nTYPE=unsigned_short;\nSIZE1=%d;\nSIZE2=%d;\n"
            "PIXEL_SIZE=0.1;\n%s}\f" % (order, width, height, extra)).encode("latin-1", "replace")
    pixels = draw(st.binary(min_size=2 * width * height, max_size=2 * width * height))
    data = head[:HEADER_BYTES].ljust(HEADER_BYTES, b" ") + pixels
    if draw(st.integers(0, 4)) == 0:
        data = data[:draw(st.integers(0, len(data)))]  # truncated
    return data


@st.composite
def file_content(draw):
    kind = draw(st.sampled_from(["binary", "hkl", "matrix", "sources", "numbers", "smv", "fdump"]))
    if kind == "binary":
        return draw(st.binary(max_size=700))
    if kind == "hkl":
        rows = draw(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3), st.integers(-3, 3),
                                       st.floats(0, 1e3)), min_size=1, max_size=6))
        text = "".join("%d %d %d %g\n" % row for row in rows).encode()
    elif kind == "matrix":
        values = draw(st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=9, max_size=9))
        text = "".join("%g %g %g\n" % tuple(values[3 * i:3 * i + 3]) for i in range(3)).encode()
    elif kind == "sources":
        rows = draw(st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(-20, -1), st.floats(0, 2),
                                       st.floats(0.5e-10, 2e-10)), min_size=1, max_size=3))
        text = "".join("%g %g %g %g %g\n" % row for row in rows).encode()
    elif kind == "numbers":
        text = _numbers_text(draw, draw(st.integers(1, 5)))
    elif kind == "smv":
        return draw(smv_file())
    else:
        box = np.zeros((2, 2, 2)) + draw(st.floats(0, 100))
        text = b"0 0 0 0 0 0\n\f" + box.tobytes()
    if draw(st.integers(0, 3)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # truncated anywhere, mid-number included
    return text


#: input files by name; Fdump.bin (read when there is no -hkl) in one example of six
FILES = st.dictionaries(st.sampled_from(INPUT_NAMES[:3] * 5 + ["Fdump.bin"]), file_content(), max_size=4)


def _drain(path, stop):
    """Read the FIFO at ``path`` to its end, again and again, until ``stop`` is set."""
    while not stop.is_set():
        try:
            with open(path, "rb") as handle:  # waits for a writer
                while handle.read(1 << 16):
                    pass
        except OSError:
            return


@contextlib.contextmanager
def fuzz_folder(files, fifo=False):
    """A fresh temporary working folder holding `files` (name: bytes), an empty folder 'sub', the
    symlinks link -> f0, chain -> link, dangling -> gone.bin and a loop (loop -> loop2 -> loop), and
    with `fifo` a FIFO 'fifo' that a thread reads until the block ends."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.mkdir(os.path.join(folder, "sub"))
        for name, content in files.items():
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(content)
        for name, target in (("link", "f0"), ("chain", "link"), ("dangling", "gone.bin"), ("loop", "loop2"),
                             ("loop2", "loop")):
            os.symlink(target, os.path.join(folder, name))
        stop = threading.Event()
        reader = None
        if fifo:
            os.mkfifo(os.path.join(folder, "fifo"))
            reader = threading.Thread(target=_drain, args=(os.path.join(folder, "fifo"), stop), daemon=True)
            reader.start()
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(previous)
            if reader is not None:
                stop.set()
                for _ in range(200):  # end the reader's wait in open(): a writer that writes nothing
                    if not reader.is_alive():
                        break
                    with contextlib.suppress(OSError):
                        os.close(os.open(os.path.join(folder, "fifo"), os.O_WRONLY | os.O_NONBLOCK))
                    reader.join(timeout=0.05)
                assert not reader.is_alive()


@pytest.fixture
def small_memory(monkeypatch):
    """A limit that keeps huge step counts from taking long (and exercises the refusal)."""
    monkeypatch.setenv(limits.LIMIT_ENV, str(8 * 1024**2))


@settings(max_examples=150 * SCALE, **SETTINGS)
@given(argv=argv_strategy(ALL_FLAGS), files=FILES)
def test_parse_and_set_up_fail_only_with_input_errors(small_memory, argv, files):
    with fuzz_folder(files):
        try:
            params, warnings = params_from_argv(BASE + argv)
            prepare(params)
        except InputError as exc:
            message = str(exc)
            assert message and "\n" not in message
            event("refused: " + message.split(":")[0][:30])
        else:
            assert all("\n" not in line for line in warnings)
            event("accepted")


def _is_complete(path, inputs):
    """An unchanged input, or a complete float image, SMV image, PGM image or Fdump file; a FIFO and
    the symlinks the folder was made with (still symlinks: a write goes to their targets)."""
    info = os.lstat(path)
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return os.path.basename(path) in ("fifo", "link", "chain", "dangling", "loop", "loop2")
    with open(path, "rb") as handle:
        data = handle.read()
    name = os.path.basename(path)
    if name in inputs and inputs[name] == data:
        return True
    if data.startswith(SMV_MAGIC):
        return len(data) == SMV_IMAGE_BYTES
    if data.startswith(HDF5_MAGIC):  # --hdf5 / --hdf5-noise: one committed 4 x 4 image
        import h5py
        with contextlib.suppress(ImportError):  # reads a bitshuffle image; without it nbnumba refuses
            import hdf5plugin  # noqa: F401      # bitshuffle, so every file is gzip or uncompressed
        with h5py.File(path, "r") as f:
            return f["/entry/data/data"].shape == (1, 4, 4) and "end_time_estimated" in f["/entry"]
    if data.startswith(b"P5\n"):  # -pgmfile (the noise image is an SMV image)
        lines = data.split(b"\n", 4)
        return (len(lines) == 5 and lines[1] == b"4 4" and lines[2].startswith(b"# pixels scaled by ")
                and lines[3] == b"255" and len(lines[4]) == 4 * 4)
    if name == "Fdump.bin" or data[:1].isdigit() or data[:1] == b"-":
        try:
            read_fdump(path)
            return True
        except InputError:
            pass
    return len(data) == FLOAT_IMAGE_BYTES


@settings(max_examples=120 * SCALE, **SETTINGS)
@given(argv=argv_strategy(CLI_FLAGS), files=FILES)
def test_command_line_never_tracebacks_or_leaves_partial_files(small_memory, capsys, argv, files):
    inputs = files
    with fuzz_folder(files, fifo=True) as folder:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = main_argv(BASE + argv + TAIL)
        out, err = capsys.readouterr()
        assert not caught, [str(w.message) for w in caught]  # they would be extra stderr lines
        assert status in (0, 2), err
        assert "Traceback" not in out + err
        lines = err.splitlines()
        errors = [line for line in lines if line.startswith("nbnumba: error: ")]
        assert len(errors) == (status == 2)
        event("exit %d %s" % (status, errors[0][16:46] if errors else ""))
        for kind in ("fifo", "link", "chain", "dangling"):
            if kind in argv:
                event("exit %d with an output path %s" % (status, kind))
        assert all(line.startswith("WARNING: ") for line in lines if line not in errors), err
        names = []
        for root, dirs, filenames in os.walk(folder):
            names += [os.path.join(root, name) for name in filenames]
        assert not [name for name in names if TEMP_FILE.match(os.path.basename(name))]
        for name in names:
            assert _is_complete(name, inputs), (name, os.path.getsize(name))


def _run_one_outcome(argv, capsys):
    """Run the command: success, or exactly one error line (exit 2), never a traceback. Returns
    ``(status, stderr, error lines)``."""
    status = main_argv(argv)
    out, err = capsys.readouterr()
    assert status in (0, 2), err
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("nbnumba: error: ")]
    assert len(errors) == (status == 2), err
    return status, err, errors


#: output flags of a valid run and the names they may get: plain, an input, symlinks (to an input, a
#: chain, to nothing, a loop), a FIFO, folders, a missing folder
WRITABLE = ["out.bin", "o2", "f0", "Fdump.bin", "link", "chain", "dangling", "fifo", "fifo", None, None]
REFUSED = ["sub", "sub/", "nowhere/x", "loop"]
#: one output in twenty is a path that is refused
OUTPUT_KIND = st.integers(0, 19).flatmap(lambda k: st.sampled_from(REFUSED if k == 0 else WRITABLE))
OUTPUT_KINDS = st.fixed_dictionaries({
    flag: OUTPUT_KIND for flag in ("-floatfile", "-intfile", "-noisefile", "-pgmfile", "--hdf5", "--hdf5-noise")})
OUTPUT_FILES = st.dictionaries(st.sampled_from(["f0", "out.bin"]), st.binary(max_size=40), max_size=2)
#: the file a name of WRITABLE writes (fuzz_folder's symlinks followed)
RESOLVED = {"link": "f0", "chain": "f0", "dangling": "gone.bin"}


@settings(max_examples=40 * SCALE, **SETTINGS)
@given(outputs=OUTPUT_KINDS, files=OUTPUT_FILES, noise=st.booleans())
def test_output_path_kinds(small_memory, capsys, outputs, files, noise):
    """A valid run writing its outputs through every kind of path: it succeeds (written through
    symlinks, into the FIFO) or refuses with one line (a folder, a missing folder, a symlink loop),
    and leaves no temporary or partial file."""
    argv = BASE[:11] + ["-noprogress"] + ([] if noise else ["-nonoise"]) + TAIL
    for flag, name in outputs.items():
        if name is not None:
            argv += [flag, name]
    if outputs["-pgmfile"] is None:
        argv.append("-nopgm")
    with fuzz_folder(files, fifo=True) as folder:
        status, err, errors = _run_one_outcome(argv, capsys)
        refused = set(REFUSED).intersection(n for n in outputs.values() if n)
        # two outputs on one regular (or absent) file are refused too; a FIFO may take several
        targets = [RESOLVED.get(name, name) for name in outputs.values() if name and name != "fifo"]
        twice = len(targets) != len(set(targets))
        assert (status == 2) == bool(refused or twice), err
        if twice and not refused:
            assert "the same file as" in errors[0], err
        special = sorted({name for name in outputs.values() if name in ("fifo", "link", "chain", "dangling")})
        event("exit %d %s through %s" % (status, errors[0][16:46] if errors else "", ", ".join(special)))
        names = []
        for root, dirs, filenames in os.walk(folder):
            names += [os.path.join(root, name) for name in filenames]
        assert not [name for name in names if TEMP_FILE.match(os.path.basename(name))]
        for name in names:
            assert _is_complete(name, files), (name, os.path.getsize(name))
        for kind in ("link", "chain", "dangling", "loop"):
            assert os.path.islink(os.path.join(folder, kind))
        assert stat.S_ISFIFO(os.lstat(os.path.join(folder, "fifo")).st_mode)


#: geometry flags and values from ordinary to absurd: tiny, huge, zero and negative distances, pixels and
#: beam centres, extreme rotations, degenerate vectors, with and without the curved detector
GEOMETRY_VALUES = st.sampled_from(["100", "0.1", "1e-320", "1e-300", "1e-30", "1e30", "1e300", "1e308", "-100",
                                   "0", "-0", "5e-324", "360", "-720", "1e15"])
GEOMETRY_FLAGS = st.sampled_from(["-distance", "-close_distance", "-pixel", "-Xbeam", "-Ybeam", "-twotheta",
                                  "-detector_rotx", "-detector_roty", "-detector_rotz", "-detsize", "-ORGX",
                                  "-lambda", "-detector_thick"])
GEOMETRY_VECTORS = st.sampled_from(["-beam_vector", "-fdet_vector", "-sdet_vector", "-odet_vector",
                                    "-spindle_axis", "-polar_vector"])


@settings(max_examples=40 * SCALE, **SETTINGS)
@given(flags=st.lists(st.tuples(GEOMETRY_FLAGS, GEOMETRY_VALUES), max_size=4),
       vectors=st.lists(st.tuples(GEOMETRY_VECTORS, st.lists(GEOMETRY_VALUES, min_size=3, max_size=3)),
                        max_size=2),
       curved=st.booleans())
def test_non_finite_geometry(small_memory, capsys, flags, vectors, curved):
    """Extreme detector and beam geometry (issue 14, item 1: a tiny distance with -curved_det made the
    Miller indices NaN and read the F table out of bounds): a finite image or a one-line error naming
    flags, never a crash, a traceback or a partial file."""
    argv = list(BASE) + ["-detpixels", "4", "-oversample", "1"] + (["-curved_det"] if curved else [])
    for flag, value in flags:
        argv += [flag, value]
    for flag, values in vectors:
        argv += [flag] + values
    with fuzz_folder({}) as folder:
        status, err, errors = _run_one_outcome(argv, capsys)
        event("exit %d %s" % (status, errors[0][16:56] if errors else ""))
        names = sorted(os.listdir(folder))
        assert not [name for name in names if TEMP_FILE.match(name)]
        if status == 0:
            assert os.path.getsize(os.path.join(folder, "out.bin")) == FLOAT_IMAGE_BYTES
        else:
            assert "out.bin" not in names and "out.img" not in names
