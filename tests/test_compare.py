# SPDX-License-Identifier: BSD-3-Clause
"""nbnumba-compare against a stand-in "nanoBragg.c": a small Python script that writes a known float image
(nbnumba's own image, computed here in-process by nbnumba.simulate, or a perturbed copy of it); and the PNG
writer, decoded back by hand (struct + zlib, CRCs checked)."""
import json
import math
import os
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from nbnumba.cli.compare import brightest_spots, compare, main_argv, match_spots, run_argv
from nbnumba.errors import InputError
from nbnumba.io.png import write_png

ARGV = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 32 -pixel 3.2".split()

STAND_IN = '''#!{python}
# stand-in for nanoBragg.c: writes the image in {image} (changed as {config} says) to -floatfile
import json, os, sys
argv = sys.argv[1:]
with open({config!r}) as f:
    config = json.load(f)
with open(config["log"], "w") as f:
    json.dump({{"argv": argv, "cwd": os.getcwd()}}, f)
if config.get("sleep"):  # hang, with a child of its own: both must be stopped
    import subprocess, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(config["log"] + ".pids", "w") as f:
        f.write("%d %d" % (os.getpid(), child.pid))
    time.sleep(config["sleep"])
import numpy as np
if config.get("fail"):
    print("ERROR: stand-in refuses", file=sys.stderr)
    sys.exit(3)
n = int(argv[argv.index("-detpixels") + 1])
image = np.load({image!r}).astype(np.float64)
assert image.shape == (n, n)
image = np.roll(image * config.get("scale", 1.0), config.get("roll_fast", 0), axis=1)
if config.get("drop_row"):
    image = image[1:]
image.astype(np.float32).tofile(argv[argv.index("-floatfile") + 1])
'''


@pytest.fixture(scope="module")
def reference_image(tmp_path_factory):
    """nbnumba's image of ARGV, computed in-process (the stand-in 'C' image before any change)."""
    import nbnumba
    params, _ = nbnumba.params_from_argv(ARGV)
    image = nbnumba.simulate(params).floatimage
    path = tmp_path_factory.mktemp("ref") / "image.npy"
    np.save(path, image)
    return path, image


def stand_in(tmp_path, image_path, **config):
    """Write the stand-in binary and its config; returns (binary path, log path)."""
    log = tmp_path / "stand_in_log.json"
    config_path = tmp_path / "stand_in.json"
    config_path.write_text(json.dumps(dict(config, log=str(log))))
    binary = tmp_path / "fake_nanoBragg"
    binary.write_text(STAND_IN.format(python=sys.executable, image=str(image_path), config=str(config_path)))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary, log


def run_compare(tmp_path, binary, *options, argv=ARGV):
    cwd = tmp_path / "user"
    cwd.mkdir(exist_ok=True)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        status = main_argv(["--c-bin", str(binary), "--out", "report", *options, "--", *argv])
    finally:
        os.chdir(old)
    return status, cwd / "report"


def summary_of(report):
    return json.loads((report / "summary.json").read_text())


def decode_png(data: bytes):
    """Decode an 8-bit greyscale PNG by hand: chunk CRCs, IHDR, filter type 0 on every row."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        position += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_png_round_trip(tmp_path):
    picture = np.random.default_rng(5).integers(0, 256, size=(7, 13), dtype=np.uint8)
    write_png(tmp_path / "p.png", picture)
    np.testing.assert_array_equal(decode_png((tmp_path / "p.png").read_bytes()), picture)


def test_identical_images_pass(tmp_path, reference_image):
    image_path, image = reference_image
    binary, log = stand_in(tmp_path, image_path)
    status, report = run_compare(tmp_path, binary)
    assert status == 0
    s = summary_of(report)
    assert s["passed"] and (s["width"], s["height"]) == (32, 32)
    assert s["correlation"] == 1.0 and s["max_abs_diff"] == 0.0 and s["sum_ratio"] == 1.0
    assert s["c_sum"] == pytest.approx(float(image.astype(np.float64).sum()), rel=1e-12)
    assert all(m["offset"] == {"slow": 0, "fast": 0} for m in s["spots"]) and len(s["spots"]) == 10
    assert s["c_seconds"] > 0 and s["nbnumba_seconds"] > 0
    c_png = decode_png((report / "c.png").read_bytes())
    assert c_png.shape == (32, 32) and c_png.max() == 255
    assert (report / "c.png").read_bytes() == (report / "nbnumba.png").read_bytes()
    assert (decode_png((report / "diff.png").read_bytes()) == 128).all()
    # the stand-in ran in a folder of its own with the output flags replaced; the user's folder holds the report only
    seen = json.loads(log.read_text())
    assert seen["argv"][:len(ARGV)] == ARGV
    assert seen["argv"][len(ARGV):] == ["-floatfile", "float.bin", "-intfile", "int.img", "-nonoise", "-nopgm"]
    assert seen["cwd"] != str(tmp_path / "user")
    assert os.listdir(tmp_path / "user") == ["report"]
    assert sorted(os.listdir(report)) == ["c.png", "diff.png", "nbnumba.png", "summary.json"]


def test_scaled_image_fails_the_difference_threshold_only(tmp_path, reference_image):
    image_path, image = reference_image
    binary, _ = stand_in(tmp_path, image_path, scale=1.01)
    status, report = run_compare(tmp_path, binary)
    assert status == 1
    s = summary_of(report)
    c = (image.astype(np.float64) * 1.01).astype(np.float32).astype(np.float64)
    ours = image.astype(np.float64)
    assert s["max_rel_diff"] == pytest.approx(np.abs(ours - c).max() / c.max(), rel=1e-12)
    assert s["sum_ratio"] == pytest.approx(ours.sum() / c.sum(), rel=1e-12)
    assert s["correlation"] == pytest.approx(np.corrcoef(c.ravel(), ours.ravel())[0, 1], abs=1e-12)
    assert s["checks"] == {"correlation": True, "max_rel_diff": False, "spots": True}
    status, report = run_compare(tmp_path, binary, "--max-rel-diff", "0.02")
    assert status == 0 and summary_of(report)["passed"]


def test_shifted_image_reports_the_shift(tmp_path, reference_image):
    image_path, _ = reference_image
    binary, _ = stand_in(tmp_path, image_path, roll_fast=2)
    status, report = run_compare(tmp_path, binary, "--spots", "4", "--keep")
    assert status == 1
    s = summary_of(report)
    # 'C' has every spot 2 pixels further along fast: nbnumba's are 2 pixels back
    assert [m["offset"] for m in s["spots"]] == [{"slow": 0, "fast": -2}] * 4
    assert s["max_spot_offset"] == 2.0 and not s["checks"]["spots"] and not s["passed"]
    assert (report / "c_run" / "float.bin").is_file() and (report / "nbnumba_run" / "int.img").is_file()


def test_size_mismatch_fails(tmp_path, reference_image, capsys):
    binary, _ = stand_in(tmp_path, reference_image[0], drop_row=True)
    status, report = run_compare(tmp_path, binary)
    err = capsys.readouterr().err
    assert status == 1 and "image sizes differ" in err and len(err.strip().splitlines()) == 1
    assert summary_of(report)["passed"] is False


def test_failing_programs_are_one_line_errors(tmp_path, reference_image, capsys):
    binary, _ = stand_in(tmp_path, reference_image[0], fail=True)
    status, report = run_compare(tmp_path, binary)
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("nbnumba-compare: error: nanoBragg.c failed with exit status 3")
    assert "stand-in refuses" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert "refuses" in (report / "c_run" / "stderr.txt").read_text()
    # the stand-in accepts anything; nbnumba refuses an unknown flag
    binary, _ = stand_in(tmp_path, reference_image[0])
    status, _ = run_compare(tmp_path, binary, argv=ARGV + ["-no_such_flag"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("nbnumba-compare: error: nbnumba failed with exit status 2")
    assert "-no_such_flag" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["--c-bin", "/no/such/nanoBragg", "--", "-N", "1"], "/no/such/nanoBragg: no such file"),
    (["--c-bin", sys.executable, "--"], "no nanoBragg flags"),
    (["--c-bin", sys.executable, "--min-correlation", "high", "--", "-N", "1"], "--min-correlation"),
    (["--c-bin", sys.executable, "-cell", "1"], "nanoBragg flags go after --"),
])
def test_usage_errors(args, expected, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main_argv(args) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert os.listdir(tmp_path) in ([], ["compare_out"])


def test_missing_binary_names_the_environment_variable(capsys, monkeypatch):
    monkeypatch.delenv("NB_C_BIN", raising=False)
    assert main_argv(["--", "-N", "1"]) == 2
    assert "NB_C_BIN" in capsys.readouterr().err


def test_input_files_become_absolute_and_fdump_is_copied(tmp_path):
    (tmp_path / "Fdump.bin").write_bytes(b"x")
    argv = ["-mat", "a.mat", "-floatfile", "mine.bin", "-cell", "90", "-intimage", "x.img", "-noisefile", "n.img"]
    out, copies = run_argv(argv, str(tmp_path))
    assert out == ["-mat", str(tmp_path / "a.mat"), "-cell", "90",
                   "-floatfile", "float.bin", "-intfile", "int.img", "-nonoise", "-nopgm"]
    assert copies == [str(tmp_path / "Fdump.bin")]
    out, copies = run_argv(["-hkl", "sub/P1.hkl", "-dump", "sub/my.dump"], str(tmp_path))
    assert out[:4] == ["-hkl", str(tmp_path / "sub" / "P1.hkl"), "-dump", "my.dump"] and copies == []


def test_spellings_nanobragg_takes_are_rewritten_as_their_flags(tmp_path):
    argv = ["-matfile", "a.mat", "--hkl", "P1.hkl", "-floatfile_out", "mine.bin", "-dumpfile", "sub/my.dump"]
    out, copies = run_argv(argv, str(tmp_path))
    assert out == ["-matfile", str(tmp_path / "a.mat"), "--hkl", str(tmp_path / "P1.hkl"), "-dumpfile", "my.dump",
                   "-floatfile", "float.bin", "-intfile", "int.img", "-nonoise", "-nopgm"]
    assert copies == []


def test_spot_matching_on_a_drawn_image():
    image = np.zeros((20, 20))
    image[5, 5], image[5, 6] = 10.0, 10.0  # a plateau counts once
    image[14, 3] = 7.0
    image[10, 15] = 5.0
    ours = np.zeros((20, 20))
    ours[6, 4] = 9.0  # spot moved by (+1, -1)
    ours[5, 7] = 1.0  # a weaker maximum nearer to it is not taken
    ours[14, 3] = 7.0  # in place, next to a brighter spot that is not taken either
    ours[15, 5] = 70.0
    spots = brightest_spots(image, 5)
    assert spots == [(5, 5), (14, 3), (10, 15)]
    matches = match_spots(image, spots, ours, window=2)
    assert [m["offset"] for m in matches] == [{"slow": 1, "fast": -1}, {"slow": 0, "fast": 0}, None]
    assert matches[0]["distance"] == pytest.approx(2 ** 0.5)
    # only weak maxima in the window: the brightest of them
    weak = np.zeros((20, 20))
    weak[5, 4], weak[7, 7] = 1.0, 2.0
    assert match_spots(image, [(5, 5)], weak, window=2)[0]["offset"] == {"slow": 2, "fast": 2}


# ------------------------------------------------------------------ hardening (issue 14, item 7)

def _one_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nbnumba-compare: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("out", ["report", "."])
@pytest.mark.parametrize("kind", ["folder", "file", "symlink"])
def test_keep_never_replaces_an_existing_run_folder(tmp_path, reference_image, capsys, out, kind):
    """--keep deleted an existing OUT/c_run (./c_run with --out .), and a file or symlink there gave a
    traceback: now it is refused, before anything runs, and the thing there is left as it was."""
    binary, log = stand_in(tmp_path, reference_image[0])
    user = tmp_path / "user"
    (user / out).mkdir(parents=True, exist_ok=True)
    existing = user / out / "c_run"
    if kind == "folder":
        existing.mkdir()
        (existing / "notes.txt").write_text("mine")
    elif kind == "file":
        existing.write_text("mine")
    else:
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
        existing.symlink_to(tmp_path / "elsewhere")
    before = sorted(os.listdir(user / out))
    old = os.getcwd()
    os.chdir(user)
    try:
        status = main_argv(["--c-bin", str(binary), "--out", out, "--keep", "--", *ARGV])
    finally:
        os.chdir(old)
    assert status == 2
    _one_error(capsys, "--keep: ", "c_run already exists")
    assert not log.exists()  # nothing ran
    assert sorted(os.listdir(user / out)) == before
    assert (existing / "notes.txt").read_text() == "mine" if kind != "file" else existing.read_text() == "mine"


def test_failed_program_is_kept_beside_what_is_there(tmp_path, reference_image, capsys):
    binary, _ = stand_in(tmp_path, reference_image[0], fail=True)
    report = tmp_path / "user" / "report"
    report.mkdir(parents=True)
    (report / "c_run").write_text("mine")
    status, _ = run_compare(tmp_path, binary)
    assert status == 2
    err = _one_error(capsys, "nanoBragg.c failed with exit status 3", "its output: report/c_run-")
    kept = Path(tmp_path / "user" / err.rsplit("its output: ", 1)[1].rstrip(")"))
    assert "refuses" in (kept / "stderr.txt").read_text()
    assert (report / "c_run").read_text() == "mine"


def _gone(pid):
    """True once ``pid`` has ended (a zombie waiting for its parent counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _wait_gone(pids, timeout=20):
    deadline = time.monotonic() + timeout
    while not all(_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _pids(log):
    path = Path(str(log) + ".pids")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_timeout_stops_the_program_and_its_children(tmp_path, reference_image, capsys):
    binary, log = stand_in(tmp_path, reference_image[0], sleep=600)
    start = time.monotonic()
    try:
        status, report = run_compare(tmp_path, binary, "--timeout", "3")
        pids = _pids(log)
        assert status == 2 and time.monotonic() - start < 60
        _one_error(capsys, "nanoBragg.c did not finish within 3 s (--timeout); it was stopped")
        assert len(pids) == 2 and _wait_gone(pids)
        assert (report / "c_run" / "stdout.txt").exists()  # its output is kept, as for a failure
    finally:
        _kill(_pids(log))


@pytest.mark.parametrize("signum, status, word", [(signal.SIGTERM, 143, "terminated"),
                                                  (signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGHUP, 143, "terminated")])
def test_signal_stops_the_programs_and_removes_the_run_folders(tmp_path, reference_image, signum, status, word):
    """On SIGTERM nbnumba-compare left the C process running and its temporary folder behind."""
    binary, log = stand_in(tmp_path, reference_image[0], sleep=600)
    system_temp = tmp_path / "systemp"
    system_temp.mkdir()
    (tmp_path / "user").mkdir()
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TMPDIR=str(system_temp),
               PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba.cli.compare", "--c-bin", str(binary), "--out", "report",
                             "--", *ARGV], cwd=tmp_path / "user", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_pids(log)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        assert os.listdir(system_temp)  # the run folders
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == status, err
        assert err.strip() == "nbnumba-compare: %s" % word
        assert _wait_gone(_pids(log))
        assert os.listdir(system_temp) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _kill(_pids(log))


@pytest.mark.parametrize("option, value", [("--min-correlation", "nan"), ("--max-rel-diff", "inf"),
                                           ("--max-spot-offset", "-nan"), ("--min-correlation", "٠.٥"),
                                           ("--spots", "٥"), ("--timeout", "nan"), ("--timeout", "-1")])
def test_bad_thresholds_are_refused_before_running(tmp_path, reference_image, capsys, option, value):
    """--min-correlation nan gave a TypeError after both runs."""
    binary, log = stand_in(tmp_path, reference_image[0])
    status, _ = run_compare(tmp_path, binary, option, value)
    assert status == 2
    _one_error(capsys, option)
    assert not log.exists()


def test_library_compare_refuses_non_finite_thresholds(tmp_path):
    thresholds = {"min_correlation": math.nan, "max_rel_diff": 1e-3, "max_spot_offset": 1.0}
    with pytest.raises(InputError, match="--min-correlation: expected a finite number, got nan"):
        compare(ARGV, sys.executable, str(tmp_path / "out"), thresholds)
    assert not (tmp_path / "out").exists()
