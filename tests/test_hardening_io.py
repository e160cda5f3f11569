# SPDX-License-Identifier: BSD-3-Clause
"""Output paths that are not plain files, temporary files, inputs that never end, interrupts while
writing, and numbers in other scripts' digits (issue 14, items 2, 3, 5, 10 and 11).

Devices are stood in for by FIFOs and symlinks in a temporary folder; nothing is ever written to a
real /dev node (/dev/zero and /dev/urandom are only read, through symlinks). Every FIFO test has a
thread on the other end and ends it, and every subprocess is killed in a ``finally``."""
import contextlib
import errno
import importlib.util
import io
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from nbnumba import limits
from nbnumba.errors import ExitStatus, InputError
from nbnumba.io import atomic
from nbnumba.io.atomic import atomic_open, atomic_write, check_writable
from nbnumba.io.hkl import read_hkl
from nbnumba.io.smv import HEADER_BYTES
from nbnumba.io.textcols import parse_number

REPO = Path(__file__).resolve().parents[1]
PIXELS = 8
#: a valid 8 x 8 pixel run without outputs; tests add them
RUN = ["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", str(PIXELS),
       "-nonoise", "-nopgm", "-noprogress"]
FLOAT_BYTES = 4 * PIXELS * PIXELS
SMV_BYTES = HEADER_BYTES + 2 * PIXELS * PIXELS
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def one_error(status, out, err, *fragments):
    """Exit 2, exactly one stderr line 'nbnumba: error: ...' holding every fragment (other lines are
    WARNINGs), no traceback."""
    assert status == ExitStatus.INPUT_ERROR, err
    assert "Traceback" not in out + err
    lines = [line for line in err.strip().splitlines() if not line.startswith("WARNING: ")]
    assert len(lines) == 1 and lines[0].startswith("nbnumba: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def listing(folder):
    return sorted(os.listdir(folder))


def temps(folder):
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def _env(**extra):
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                PYTHONUNBUFFERED="1", **extra)


# ------------------------------------------------------------------------------------ FIFO helpers

def _unblock_open(path, flags):
    """Open and close the FIFO at `path` without blocking (ends another thread's wait in open())."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, flags | os.O_NONBLOCK))


@contextlib.contextmanager
def fifo_reader(path):
    """A thread reading the FIFO to its end once; the list it yields receives the bytes."""
    got = []

    def read():
        with open(path, "rb") as handle:
            got.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        for _ in range(200):  # nothing wrote: a writer that writes nothing ends the wait
            thread.join(timeout=0.05)
            if not thread.is_alive():
                break
            _unblock_open(path, os.O_WRONLY)
        assert not thread.is_alive()


@contextlib.contextmanager
def fifo_writer(path, chunk, repeat=True):
    """A thread writing `chunk` into the FIFO (forever with `repeat`) until its reader closes it."""
    stop = threading.Event()
    written = [0]

    def write():
        try:
            with open(path, "wb", buffering=0) as handle:
                while not stop.is_set():
                    handle.write(chunk)
                    written[0] += len(chunk)
                    if not repeat:
                        break
        except OSError:  # BrokenPipeError: the reader is done
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        stop.set()
        for _ in range(200):
            thread.join(timeout=0.05)
            if not thread.is_alive():
                break
            _unblock_open(path, os.O_RDONLY)  # its open() waits for a reader, or its write for room
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                with contextlib.suppress(OSError):
                    os.read(fd, 1 << 20)
                os.close(fd)
        assert not thread.is_alive()


# ------------------------------------------------------------------------------ item 2: output kinds

def test_symlinked_output_writes_its_final_target_and_keeps_its_mode(folder, capsys):
    Path("real.bin").write_bytes(b"old")
    os.chmod("real.bin", 0o600)
    os.symlink("real.bin", "link1")
    os.symlink("link1", "link2")  # a chain
    status, out, err = run_cli(RUN + ["-floatfile", "link2", "-intfile", "out.img"], capsys)
    assert status == 0, err
    assert listing(folder) == ["link1", "link2", "out.img", "real.bin"]
    assert os.readlink("link2") == "link1" and os.readlink("link1") == "real.bin"
    assert os.path.getsize("real.bin") == FLOAT_BYTES
    assert stat.S_IMODE(os.stat("real.bin").st_mode) == 0o600


def test_replaced_file_keeps_its_mode_and_a_new_file_gets_the_umask(folder, capsys):
    Path("out.img").write_bytes(b"old")
    os.chmod("out.img", 0o640)
    umask = os.umask(0o027)
    try:
        status, _, err = run_cli(RUN + ["-floatfile", "new.bin", "-intfile", "out.img"], capsys)
    finally:
        os.umask(umask)
    assert status == 0, err
    assert stat.S_IMODE(os.stat("out.img").st_mode) == 0o640 and os.path.getsize("out.img") == SMV_BYTES
    assert stat.S_IMODE(os.stat("new.bin").st_mode) == 0o666 & ~0o027
    assert listing(folder) == ["new.bin", "out.img"]


def test_dangling_symlink_creates_its_target(folder, capsys):
    os.symlink("made.bin", "dangling")
    status, _, err = run_cli(RUN + ["-floatfile", "dangling", "-intfile", "out.img"], capsys)
    assert status == 0, err
    assert os.path.islink("dangling") and os.path.getsize("made.bin") == FLOAT_BYTES
    assert listing(folder) == ["dangling", "made.bin", "out.img"]


@pytest.mark.parametrize("through_link", [False, True])
def test_fifo_output_is_written_straight_into(folder, capsys, through_link):
    """A FIFO (as a character device like /dev/null) is written into, as C's fopen does, and stays a FIFO."""
    os.mkfifo("pipe")
    name = "pipe"
    if through_link:
        os.symlink("pipe", "link")
        name = "link"
    with fifo_reader("pipe") as got:
        status, _, err = run_cli(RUN + ["-floatfile", name, "-intfile", "out.img"], capsys)
    assert status == 0, err
    status, _, err = run_cli(RUN + ["-floatfile", "plain.bin", "-intfile", "out2.img"], capsys)
    assert status == 0, err
    assert got == [Path("plain.bin").read_bytes()] and len(got[0]) == FLOAT_BYTES
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)
    assert listing(folder) == sorted(["pipe", "out.img", "plain.bin", "out2.img"] + (["link"] if through_link else []))


def test_hdf5_into_a_fifo_is_built_in_the_temporary_folder_then_copied(folder, capsys, monkeypatch):
    import h5py
    system_temp = folder / "systemp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    os.mkfifo("pipe")
    with fifo_reader("pipe") as got:
        status, _, err = run_cli(RUN + ["-floatfile", "f.bin", "-intfile", "i.img", "--hdf5", "pipe"], capsys)
    assert status == 0, err
    assert got and got[0].startswith(HDF5_MAGIC)
    with h5py.File(io.BytesIO(got[0]), "r") as f:
        assert np.array_equal(f["/entry/data/data"][0], np.fromfile("f.bin", np.float32).reshape(PIXELS, PIXELS))
    assert listing(system_temp) == []
    assert listing(folder) == ["f.bin", "i.img", "pipe", "systemp"]


def test_check_writable_accepts_a_fifo_without_opening_it(folder):
    os.mkfifo("pipe")
    done = []
    thread = threading.Thread(target=lambda: done.append(check_writable("pipe")), daemon=True)
    thread.start()
    thread.join(timeout=10)
    try:
        assert done == [None]  # it returned (opening a FIFO without a reader would wait)
    finally:
        if thread.is_alive():
            _unblock_open("pipe", os.O_RDONLY)
            thread.join(timeout=5)


@pytest.mark.parametrize("make, fragment", [
    (lambda: os.mkdir("sub"), "it is a folder"),
    (lambda: (os.symlink("loop2", "sub"), os.symlink("sub", "loop2")), "symlink loop"),
    (lambda: (os.mkdir("real"), os.symlink("real", "sub")), "it is a folder"),
])
def test_output_onto_a_folder_or_symlink_loop_is_one_line(folder, capsys, make, fragment):
    make()
    before = listing(folder)
    status, out, err = run_cli(RUN + ["-floatfile", "sub", "-intfile", "out.img"], capsys)
    one_error(status, out, err, "cannot write sub", fragment)
    assert listing(folder) == before  # refused before rendering: no output at all


# ------------------------------------------------------------------------- item 3: temporary names

def test_temporary_names_are_new_unpredictable_and_carry_pid_and_host(folder):
    with atomic_open("out.bin") as first, atomic_open("out.bin") as second:
        first.write(b"1")
        second.write(b"2")
        names = temps(folder)
    assert len(names) == 2 and names[0] != names[1]
    for name in names:
        match = atomic.TEMP_NAME.match(name)
        assert match and match["name"] == "out.bin" and int(match["pid"]) == os.getpid()
        assert match["host"] == atomic.host_tag() and re.fullmatch("[0-9a-f]{12}", match["random"])
    assert listing(folder) == ["out.bin"]


def test_planted_symlink_at_a_temporary_name_is_never_followed(folder, monkeypatch):
    """Names are created with O_EXCL: a symlink planted at the name the writer draws makes it draw
    another; the planted link's target is not touched (nor is one at the old predictable name)."""
    Path("victim").write_bytes(b"precious")
    planted = ".out.bin.%d-%s.%s.tmp" % (os.getpid(), atomic.host_tag(), "a" * 12)
    os.symlink("victim", planted)
    os.symlink("victim", ".out.bin.%d.tmp" % os.getpid())
    draws = iter(["a" * 12, "b" * 12])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(draws))
    monkeypatch.setattr(atomic, "_remove_stale", lambda folder, name: None)  # keep the planted links
    atomic_write("out.bin", b"data")
    assert Path("victim").read_bytes() == b"precious" and Path("out.bin").read_bytes() == b"data"
    assert os.path.islink(planted)
    assert listing(folder) == sorted([".out.bin.%d.tmp" % os.getpid(), planted, "out.bin", "victim"])


# -------------------------------------------------------------------- item 5: inputs that never end

@pytest.fixture
def endless(folder):
    """Symlinks to /dev/zero and /dev/urandom (read only), and a small valid HKL file."""
    os.symlink("/dev/zero", "zero")
    os.symlink("/dev/urandom", "random")
    Path("ok.hkl").write_text("1 2 3 40\n")
    return folder


READERS = [
    (["-hkl", "{f}"], "-hkl file {f} is not a text file: it has a NUL byte"),
    (["-hkl", "ok.hkl", "-mat", "{f}"], "-mat file {f} is not a text file: it has a NUL byte"),
    (["-dump", "{f}"], "{f}: not an Fdump file"),
    (["-hkl", "ok.hkl", "-img", "{f}"], "-img file {f} is not an SMV image"),
    (["-hkl", "ok.hkl", "-mask", "{f}"], "-mask file {f} is not an SMV image"),
    (["-hkl", "ok.hkl", "-sourcefile", "{f}"], "-sourcefile file {f} is not a text file: it has a NUL byte"),
    (["-hkl", "ok.hkl", "-stol", "{f}"], "-stol file {f} is not a text file: it has a NUL byte"),
]


@pytest.mark.parametrize("source", ["zero", "random"])
@pytest.mark.parametrize("flags, message", READERS, ids=[r[0][-2] for r in READERS])
def test_dev_zero_and_urandom_are_refused_at_once(endless, capsys, source, flags, message):
    argv = ["-cell", "10", "10", "10", "90", "90", "90", "-detpixels", "8", "-nonoise", "-nopgm", "-noprogress",
            "-floatfile", "o.bin", "-intfile", "o.img"] + [t.format(f=source) for t in flags]
    start = time.monotonic()
    status, out, err = run_cli(argv, capsys)
    one_error(status, out, err, message.format(f=source))
    assert time.monotonic() - start < 20
    # (the Fdump cache of ok.hkl is written before the later inputs are read, as nanoBragg.c does)
    assert [name for name in listing(endless) if name != "Fdump.bin"] == ["ok.hkl", "random", "zero"]


@pytest.mark.parametrize("flag, chunk, message", [
    ("-hkl", b"1 2 3 4\n" * 512, "-hkl file pipe is larger than 977 KiB, the limit on an input file "
                                 "(set NBNUMBA_INPUT_LIMIT=BYTES to change it)"),
    ("-sourcefile", b"0 0 -10 1 1e-10\n" * 256, "-sourcefile file pipe is larger than 977 KiB"),
    ("-stol", b"x" * 4096, "-stol file pipe line 1 is longer than 1 MiB, the limit on a line"),
    ("-hkl", b"1 2 3 4 " * 512, "-hkl file pipe line 1 is longer than 1 MiB"),
    ("-mat", b"\n" * 4096, "-mat file pipe: no 3 lines of 3 numbers (the MOSFLM A matrix) in its first 1 MiB"),
])
def test_a_fifo_fed_forever_is_refused_at_the_limit(folder, capsys, monkeypatch, flag, chunk, message):
    # an input limit of 1e6 bytes, or (for the long lines) above the 1 MiB line limit
    monkeypatch.setenv(limits.INPUT_LIMIT_ENV, "4000000" if "longer" in message else "1000000")
    os.mkfifo("pipe")
    Path("ok.hkl").write_text("1 2 3 40\n")
    argv = RUN + ["-floatfile", "o.bin", "-intfile", "o.img", flag, "pipe"]
    if flag != "-hkl":
        argv += ["-hkl", "ok.hkl"]
    with fifo_writer("pipe", chunk) as written:
        status, out, err = run_cli(argv, capsys)
    one_error(status, out, err, message)
    assert written[0] < 8 * 1024**2  # read no further than its limits
    assert [name for name in listing(folder) if name != "Fdump.bin"] == ["ok.hkl", "pipe"]


def _smv(width, height, extra=""):
    head = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={width};\nSIZE2={height};\nPIXEL_SIZE=0.1;\n{extra}}}\f").encode("latin-1")
    return head.ljust(HEADER_BYTES, b" ")


def test_smv_from_a_fifo_reads_only_its_image(folder, capsys):
    """An -img whose header announces 8 x 8 pixels, followed by an endless stream: the image is read and
    the rest never is."""
    os.mkfifo("pipe")
    with fifo_writer("pipe", _smv(PIXELS, PIXELS) + b"\1\0" * 4096) as written:
        status, _, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-img", "pipe"], capsys)
    assert status == 0, err
    assert written[0] < 8 * 1024**2


def test_huge_announced_image_is_refused_before_reading(folder, capsys, monkeypatch):
    monkeypatch.setenv(limits.LIMIT_ENV, str(64 * 1024**2))
    os.mkfifo("pipe")
    with fifo_writer("pipe", _smv(100000, 100000) + bytes(4096)):
        status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-img", "pipe"], capsys)
    one_error(status, out, err, "-img file pipe: its 100000 x 100000 pixel image needs about", "of memory")


def test_hkl_parse_memory_is_checked_before_parsing(folder, capsys, monkeypatch):
    Path("big.hkl").write_text("".join("%d %d %d 10\n" % (h, k, 0) for h in range(40) for k in range(40)))
    monkeypatch.setenv(limits.LIMIT_ENV, str(40 * 1024))
    status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-hkl", "big.hkl"], capsys)
    one_error(status, out, err, "parsing -hkl file big.hkl (", "needs about")


def test_input_limit_variable_takes_ascii_digits_only(folder, capsys, monkeypatch):
    Path("ok.hkl").write_text("1 2 3 40\n")
    monkeypatch.setenv(limits.INPUT_LIMIT_ENV, "١٠٠٠")
    status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-hkl", "ok.hkl"], capsys)
    one_error(status, out, err, "NBNUMBA_INPUT_LIMIT: expected a positive number of bytes")


HKL_TEXT = "".join("%d %d %d %.2f\n" % (h, k, l, 1 + h + k + l) for h in range(5) for k in range(5) for l in range(5))


@pytest.mark.parametrize("text", [
    "# h k l F\n" + HKL_TEXT,
    "   # indented comment\n" + HKL_TEXT + "#\n# the end\n",
    HKL_TEXT.replace("\n", " # a trailing note\n", 3),
])
def test_hkl_with_comments_takes_the_fast_reader(folder, monkeypatch, text):
    from nbnumba.io import hkl
    Path("c.hkl").write_text(text)
    Path("plain.hkl").write_text(HKL_TEXT)
    expected = read_hkl("plain.hkl")

    def no_line_reader(*args, **kwargs):
        raise AssertionError("the line-by-line reader ran")

    monkeypatch.setattr(hkl, "_read_hkl_lines", no_line_reader)
    table = read_hkl("c.hkl")
    assert np.array_equal(table.Fhkl, expected.Fhkl) and table.hkls == expected.hkls == 125


def test_a_hash_glued_to_a_number_goes_to_the_line_reader(folder):
    Path("g.hkl").write_text("1 2 3 4\n1 2 3 4#x\n")
    with pytest.raises(InputError, match=r"g.hkl line 2: expected 4 numbers \(h k l F\), got '1 2 3 4#x'"):
        read_hkl("g.hkl")


def test_hkl_with_a_comment_peaks_like_a_plain_one(folder):
    """The regression of a 70.8 MB HKL file with one comment line peaking at 2.54 GB instead of 0.59 GB
    (the line-by-line reader): with the comment the peak stays that of the plain file."""
    rng = np.random.default_rng(1)
    rows = rng.integers(-20, 20, size=(60000, 3))
    text = "".join("%d %d %d %.3f\n" % (h, k, l, f) for (h, k, l), f in zip(rows, rng.random(60000) * 100))
    Path("plain.hkl").write_text(text)
    Path("comment.hkl").write_text("# generated\n" + text)
    peaks = {}
    for name in ("plain.hkl", "comment.hkl"):
        tracemalloc.start()
        try:
            read_hkl(name)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["comment.hkl"] < 1.5 * peaks["plain.hkl"], peaks


def test_batch_job_file_that_never_ends(folder):
    os.symlink("/dev/zero", "zero")
    result = subprocess.run([sys.executable, "-m", "nbnumba.cli.batch", "zero"], cwd=folder, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("nbnumba-batch: error: job file zero is not a text file: it has a NUL byte "
                                     "(at byte 0)")
    assert listing(folder) == ["zero"]


# ------------------------------------------------------------------- item 10: interrupts and leftovers

def test_signals_are_held_back_until_the_end_of_the_block():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with atomic.deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler has run by now: it only recorded the signal
                pass
            reached.append(True)
    assert reached == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _nxmx_setup():
    from nbnumba import params_from_argv
    from nbnumba.setup import prepare
    params, _ = params_from_argv(RUN)
    return prepare(params)


def test_ctrl_c_inside_an_h5py_weakref_callback_is_not_lost(folder, monkeypatch, capsys):
    """The swallowed Ctrl-C: a KeyboardInterrupt raised in a weak-reference callback (as h5py runs them
    when its objects die) is printed as 'Exception ignored' and lost, and the run went on to exit 0.
    Here the signal arrives inside such a callback during the file's close: the write must still end
    with KeyboardInterrupt and leave no file."""
    import h5py

    from nbnumba.io.nxmx import write_nxmx
    setup = _nxmx_setup()
    real_close = h5py.File.close

    class Thing:
        pass

    def callback(_ref):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the signal handler runs here, inside the callback
            pass

    def close(self):
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # runs the callback
        assert ref() is None
        real_close(self)

    monkeypatch.setattr(h5py.File, "close", close)
    with pytest.raises(KeyboardInterrupt):
        write_nxmx("x.h5", setup, np.zeros((PIXELS, PIXELS), np.float32))
    assert "Exception ignored" not in capsys.readouterr().err
    assert listing(folder) == []


def test_hdf5_error_names_the_target_not_the_temporary_file(folder, monkeypatch):
    import h5py

    from nbnumba.io import nxmx
    setup = _nxmx_setup()

    def failing_file(name, mode):
        raise OSError("Unable to synchronously create file (unable to open file: name = '%s', errno = 28, "
                      "error message = 'No space left on device')" % name)

    monkeypatch.setattr(h5py, "File", failing_file)
    with pytest.raises(InputError) as error:
        nxmx.write_nxmx("x.h5", setup, np.zeros((PIXELS, PIXELS), np.float32))
    message = str(error.value)
    assert message.startswith("cannot write x.h5: ") and ".tmp" not in message and "x.h5" in message[18:]
    assert listing(folder) == []


def test_hdf5_into_proc_is_one_line_naming_the_target(folder, capsys):
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "--hdf5", "/proc/nbnumba-x.h5"],
                               capsys)
    line = one_error(status, out, err, "cannot write /proc/nbnumba-x.h5")
    assert ".tmp" not in line


WRITER = """
import sys, time
kind = sys.argv[1]
if kind == "raw":
    from nbnumba.io.atomic import atomic_open
    with atomic_open("out.bin") as handle:
        handle.write(b"x" * 100)
        handle.flush()
        print("ready", flush=True)
        time.sleep(120)
else:
    import numpy as np
    from nbnumba import params_from_argv
    from nbnumba.setup import prepare
    from nbnumba.io.nxmx import NXmxWriter
    params, _ = params_from_argv(sys.argv[2:])
    with NXmxWriter("out.h5", prepare(params)) as out:
        out.append(np.zeros((8, 8), np.float32))
        print("ready", flush=True)
        time.sleep(120)
"""


@contextlib.contextmanager
def writer_process(folder, kind):
    """A process in the middle of writing out.bin (raw) or out.h5 (hdf5): its temporary file exists."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, kind] + RUN, cwd=folder, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert len(temps(folder)) == 1
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("kind", ["raw", "hdf5"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_mid_write_removes_the_temporary_file(tmp_path, kind, signum):
    with writer_process(tmp_path, kind) as proc:
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == -signum  # it still ends by the signal
    assert listing(tmp_path) == []


def test_sigkill_leftover_is_removed_by_the_next_run_writing_that_file(tmp_path):
    with writer_process(tmp_path, "raw") as proc:
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    leftover = temps(tmp_path)
    assert len(leftover) == 1
    # another machine's and a running process's temporaries, and another file's, are not touched, nor is
    # a name without the host tag and random part (it could be the user's own file)
    alive = ".out.bin.%d-%s.%s.tmp" % (os.getpid(), atomic.host_tag(), "c" * 12)
    other_host = ".out.bin.%d-%s.%s.tmp" % (2**22 + 1, "0" * 6 if atomic.host_tag() != "0" * 6 else "1" * 6, "d" * 12)
    other_file = ".o2.bin.%d-%s.%s.tmp" % (2**22 + 1, atomic.host_tag(), "e" * 12)
    users = ".out.bin.%d.tmp" % (2**22 + 1)  # for a PID that cannot exist
    for name in (alive, other_host, other_file, users):
        (tmp_path / name).write_bytes(b"")
    result = subprocess.run([sys.executable, "-m", "nbnumba"] + RUN + ["-floatfile", "out.bin", "-intfile", "o.img"],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert listing(tmp_path) == sorted([alive, other_host, other_file, users, "o.img", "out.bin"])


def test_a_full_disk_while_writing_is_one_error_and_changes_nothing(folder):
    """A write that fails inside the block (ENOSPC) gives the one-line error for the target, as a device
    does, not a bare OSError (the --trace-pixel writer had no wrapper of its own), and the old file stays."""
    (folder / "out.bin").write_bytes(b"old")
    with pytest.raises(InputError, match="^cannot write out.bin: No space left on device$"):
        with atomic_open("out.bin") as handle:
            handle.write(b"new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert listing(folder) == ["out.bin"] and (folder / "out.bin").read_bytes() == b"old"


def test_leftover_of_a_killed_process_not_yet_reaped_is_removed(tmp_path):
    """A SIGKILLed writer that nobody reaps (its parent is busy, or it is an orphan in a container whose
    init does not reap: a killed MPI rank) stays a zombie with its PID; its temporary file is stale."""
    with writer_process(tmp_path, "raw") as proc:
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 60
        while Path("/proc/%d/stat" % proc.pid).read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed writer did not become a zombie"
            time.sleep(0.01)
        assert len(temps(tmp_path)) == 1
        result = subprocess.run([sys.executable, "-m", "nbnumba"] + RUN + ["-floatfile", "out.bin"],
                                cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert proc.poll() == -signal.SIGKILL  # reaped only now, after the run
    assert listing(tmp_path) == ["intimage.img", "out.bin"]  # -intfile defaults to intimage.img, as in C


# --------------------------------------------------------------------- item 11: ASCII digits only

@pytest.mark.parametrize("token", ["٥", "۵", "５", "1٠", "١e٢", "٥.٥", "nan٥"])
def test_number_parser_takes_ascii_digits_only(token):
    assert float(token.replace("nan", "")) is not None  # Python's float() takes them
    assert parse_number(token, allow_nan=True) is None


def test_float_flags_refuse_other_digits(folder, capsys):
    status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-distance", "١٠٠"], capsys)
    one_error(status, out, err, "-distance")


def test_integer_flags_refuse_other_digits(folder, capsys):
    status, out, err = run_cli(RUN + ["-floatfile", "o.bin", "-intfile", "o.img", "-N", "٥"], capsys)
    one_error(status, out, err, "-N")


def test_files_refuse_other_digits(folder):
    Path("a.hkl").write_text("1 2 3 4\n1 2 ٣ 4\n")
    with pytest.raises(InputError, match="a.hkl line 2: expected 4 numbers"):
        read_hkl("a.hkl")
    from nbnumba.io.smv import c_atof
    assert c_atof("٥") == 0.0 and c_atof("5٥") == 5.0  # C's atof reads ASCII digits only


def test_fuzz_check_does_not_need_hdf5plugin(folder, capsys, monkeypatch):
    """tests/test_fuzz.py read every HDF5 output with hdf5plugin imported, failing where the optional
    package is missing; without it nbnumba refuses bitshuffle, so gzip files are all there is to read."""
    status, _, err = run_cli(["-cell", "10", "10", "10", "90", "90", "90", "-default_F", "100", "-detpixels", "4",
                              "-nonoise", "-nopgm", "-noprogress", "-floatfile", "o.bin", "-intfile", "o.img",
                              "--hdf5", "x.h5"], capsys)
    assert status == 0, err
    spec = importlib.util.spec_from_file_location("fuzz_for_test", REPO / "tests" / "test_fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # import hdf5plugin -> ImportError
    assert fuzz._is_complete(str(folder / "x.h5"), {})
