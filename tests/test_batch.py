# SPDX-License-Identifier: BSD-3-Clause
"""nbnumba-batch: a job file gives the files of running ``nbnumba`` on each line; seeds follow line
numbers; bad lines are reported and skipped; a killed batch (one process or MPI ranks) resumes to the
uninterrupted result."""
import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbnumba import batch
from nbnumba.cli.batch import batch_main
from nbnumba.cli.main import main_argv

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "c_reference" / "inputs"

SMALL = "-cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 32 -pixel 0.1"
#: 9 jobs on lines 2..15, with comments, blank lines, program names, a quoted name, a continuation
SMALL_JOBS = f"""# small jobs: 32 x 32 pixels
nanoBragg -hkl cubic.hkl {SMALL} -floatfile j1.bin -intfile j1.img -noisefile j1.noise -nopgm
-hkl cubic.hkl {SMALL} -phi 5 -floatfile j2.bin -intfile j2.img -noisefile j2.noise -seed 77 -nopgm

/usr/local/bin/nbnumba -default_F 100 {SMALL} -floatfile j3.bin -intfile j3.img -nonoise -nopgm
   # an indented comment
-default_F 100 {SMALL} -misset random -floatfile j4.bin -intfile j4.img -noisefile j4.noise -pgmfile j4.pgm
-hkl cubic.hkl {SMALL} -mosaic 0.3 -mosaic_domains 3 -floatfile j5.bin -intfile j5.img -nonoise -nopgm
nbnumba -hkl cubic.hkl {SMALL} -floatfile "j 6.bin" -intfile j6.img -noisefile j6.noise -seed 5 -nopgm
-hkl cubic.hkl {SMALL} -floatfile j7.bin -intfile j7.img \\
    -noisefile j7.noise -nopgm
-default_F 50 {SMALL} -floatfile j8.bin -intfile j8.img -noisefile j8.noise -adc 10 -nopgm
-hkl cubic.hkl {SMALL} -distance 90 -floatfile j9.bin -intfile j9.img -noisefile j9.noise -misset_seed 3 -nopgm
"""
SMALL_LINES = (2, 3, 5, 7, 8, 9, 10, 12, 13)

#: 8 jobs of about 0.3 s each on one thread, slow enough to kill a batch between them
SLOW = ("-hkl cubic.hkl -cell 100 100 100 90 90 90 -lambda 6.2 -N 5 -distance 100 -detpixels 256 -pixel 0.1 "
        "-oversample 2 -mosaic 0.5 -mosaic_domains 10 -nopgm")
SLOW_JOBS = "".join(f"{SLOW} -phi {k} -floatfile s{k}.bin -intfile s{k}.img -noisefile s{k}.noise\n"
                    for k in range(8))
NOT_OUTPUTS = ("jobs.txt",)  # the job file and its state files (jobs.txt.done*)


def derived_seed(batch_seed, line):
    """docs/usage.md's derivation, written out independently of nbnumba.batch.job_seed."""
    digest = hashlib.sha256(f"nbnumba-batch seed {batch_seed} line {line}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1) + 1


def stage(folder, jobs_text):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(INPUTS / "cubic.hkl", folder / "cubic.hkl")
    (folder / "jobs.txt").write_text(jobs_text)
    return folder


def outputs(folder):
    """Every file of a folder but the job file, its state files and the HKL input, by name: a digest of
    its bytes (a failing comparison then names the files that differ in a few lines)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(NOT_OUTPUTS) and p.name != "cubic.hkl"}


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def run_batch_here(folder, monkeypatch, **options):
    monkeypatch.chdir(folder)
    return batch_main("jobs.txt", **options)


def reference_run(folder, jobs_text, monkeypatch, batch_seed=1):
    """``nbnumba`` (main_argv) on each job line separately, with the derived seeds passed as flags."""
    monkeypatch.chdir(folder)
    joined, n = [], 0  # (first line number, text) with continuation lines joined
    raw = jobs_text.splitlines()
    while n < len(raw):
        first, text = n + 1, raw[n]
        while text.endswith("\\"):
            n += 1
            text = text[:-1] + " " + raw[n]
        joined.append((first, text))
        n += 1
    for line, text in joined:
        if not text.strip() or text.strip().startswith("#"):
            continue
        argv = shlex.split(text)
        if os.path.basename(argv[0]) in ("nanoBragg", "nbnumba"):
            argv = argv[1:]
        if "-seed" not in argv:
            argv += ["-seed", str(derived_seed(batch_seed, line))]
        if "-misset_seed" not in argv:
            argv += ["-misset_seed", str(derived_seed(batch_seed, line))]
        assert main_argv(argv) == 0, text


@pytest.fixture(scope="module")
def small_batch(tmp_path_factory):
    """The small job file run as a batch (in this process) and line by line with ``nbnumba``."""
    mp = pytest.MonkeyPatch()
    try:
        ran = stage(tmp_path_factory.mktemp("batch"), SMALL_JOBS)
        status = run_batch_here(ran, mp)
        ref = stage(tmp_path_factory.mktemp("reference"), "")
        reference_run(ref, SMALL_JOBS, mp)
    finally:
        mp.undo()
    return status, ran, ref


def test_batch_writes_what_nbnumba_writes_for_each_line(small_batch):
    status, ran, ref = small_batch
    assert status == 0
    got, want = outputs(ran), outputs(ref)
    assert set(got) == set(want)
    assert {"j1.noise", "j 6.bin", "j4.pgm", "j7.noise", "Fdump.bin"} <= set(got)
    for name in want:
        assert got[name] == want[name], name
    assert temp_files(ran) == []
    records = batch.read_records(ran / "jobs.txt")
    assert sorted(records) == list(SMALL_LINES)
    assert records[2][0]["seed"] == derived_seed(1, 2) and records[3][0]["seed"] == 77


def test_job_file_lines(tmp_path):
    (tmp_path / "jobs.txt").write_text(SMALL_JOBS + "-floatfile 'unbalanced\n")
    jobs = batch.read_jobs(tmp_path / "jobs.txt")
    assert [j.line for j in jobs] == list(SMALL_LINES) + [14]
    assert jobs[0].argv[0] == "-hkl" and jobs[2].argv[0] == "-default_F"
    assert "j 6.bin" in jobs[5].argv
    assert jobs[6].argv[-2:] == ["j7.noise", "-nopgm"]
    assert jobs[-1].argv is None and "cannot split" in jobs[-1].error


def test_seeds_follow_line_numbers_not_order(small_batch, tmp_path, monkeypatch):
    """Jobs 1 (line 2) and 4 (line 7) alone at the same line numbers give the same images; the line of
    job 1 again at line 16 gives another noise image."""
    _, ran, _ = small_batch
    lines = SMALL_JOBS.splitlines()
    kept = [text if number in (2, 7) else "# dropped" for number, text in enumerate(lines, start=1)]
    again = lines[1].replace("j1.", "again.")
    stage(tmp_path, "\n".join(kept[:13] + ["", "", again]) + "\n")
    assert run_batch_here(tmp_path, monkeypatch) == 0
    got, first = outputs(tmp_path), outputs(ran)
    for name in ("j1.bin", "j1.img", "j1.noise", "j4.bin", "j4.img", "j4.noise", "j4.pgm"):
        assert got[name] == first[name], name
    assert got["again.bin"] == first["j1.bin"]
    assert got["again.noise"] != first["j1.noise"]
    assert batch.job_seed(1, 16) == derived_seed(1, 16)


def test_bad_line_is_reported_and_the_others_run(tmp_path, monkeypatch, capsys):
    text = (f"-default_F 100 {SMALL} -floatfile a.bin -intfile a.img -nonoise -nopgm\n"
            "# next: a flag nanoBragg does not have\n"
            f"-default_F 100 {SMALL} -floatfile b.bin -intfile b.img -bogus 3 -nonoise -nopgm\n"
            f"-default_F 100 {SMALL} -floatfile c.bin -intfile c.img -nonoise -nopgm\n")
    stage(tmp_path, text)
    assert run_batch_here(tmp_path, monkeypatch) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jobs.txt:3: error: ") and "-bogus" in err[0]
    assert (tmp_path / "a.bin").exists() and (tmp_path / "c.img").exists()
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.img").exists()
    assert batch.exit_status(300) == 125 and batch.exit_status(0) == 0 and batch.exit_status(2, True) == 130


def test_log_dir_and_summary(tmp_path, monkeypatch, capsys):
    stage(tmp_path, f"\n-default_F 100 {SMALL} -floatfile a.bin -intfile a.img -nonoise -nopgm\n")
    assert run_batch_here(tmp_path, monkeypatch, log_dir="logs") == 0
    out = capsys.readouterr().out
    assert "1 jobs: 1 done, 0 skipped (verified), 0 failed" in out
    log = (tmp_path / "logs" / "job-2.log").read_text()
    assert "writing a.bin as 1024 4-byte floats" in log
    assert run_batch_here(tmp_path, monkeypatch, log_dir="logs") == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
    assert (tmp_path / "logs" / "job-2.log").read_text() == log  # a skipped job keeps its log


def test_lines_sharing_an_output_are_warned_about_and_still_resume(tmp_path, monkeypatch, capsys):
    """A converted shell loop whose lines all keep the default -intfile: one warning naming the file and
    lines; the last line's image is in it; and a rerun verifies the other outputs and skips every
    job (were the shared file checked, each rerun would redo all but the last line's job)."""
    stage(tmp_path, "".join(f"-default_F 100 {SMALL} -phi {k} -floatfile f{k}.bin -nonoise -nopgm\n"
                            for k in range(3)))
    assert run_batch_here(tmp_path, monkeypatch) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jobs.txt: warning: 1 output file(s) are written by several lines (e.g. intimage.img by lines "
                   "1, 2, 3): the last line to run wins, and a rerun cannot verify them"]
    last = (tmp_path / "intimage.img").read_bytes()
    assert run_batch_here(tmp_path, monkeypatch) == 0
    assert "0 done, 3 skipped (verified)" in capsys.readouterr().out
    (tmp_path / "f1.bin").write_bytes(b"damaged")
    assert run_batch_here(tmp_path, monkeypatch) == 0
    assert "1 done, 2 skipped (verified)" in capsys.readouterr().out  # unshared outputs are still checked
    # the redone job 2 wrote the shared file last
    assert (tmp_path / "intimage.img").read_bytes() != last
    monkeypatch.chdir(tmp_path)
    assert main_argv(f"-default_F 100 {SMALL} -phi 1 -floatfile g.bin -intfile g.img -nonoise -nopgm".split()) == 0
    assert (tmp_path / "intimage.img").read_bytes() == (tmp_path / "g.img").read_bytes()


def test_one_nxmx_file_needs_a_floatfile_per_line(tmp_path, monkeypatch, capsys):
    stage(tmp_path, "".join(f"-default_F 100 {SMALL} -phi {k} -intfile i{k}.img -nonoise -nopgm\n" for k in range(2)))
    assert run_batch_here(tmp_path, monkeypatch, hdf5_path="all.h5") == 1
    err = capsys.readouterr().err
    assert "--hdf5 all.h5: lines 1, 2 all write -floatfile floatimage.bin: each line needs its own -floatfile" in err
    assert not (tmp_path / "all.h5").exists()


def test_hkl_table_is_parsed_once_per_file_version(tmp_path):
    from nbnumba.io.hkl import cached_tables, read_hkl
    hkl = tmp_path / "f.hkl"
    hkl.write_text("1 2 3 10\n-1 0 2 20\n")
    with cached_tables():
        first = read_hkl(hkl)
        assert read_hkl(hkl) is first
        assert read_hkl(hkl, default_F=5.0) is not first
        hkl.write_text("1 2 3 30\n-1 0 2 20\n")
        os.utime(hkl, ns=(0, os.stat(hkl).st_mtime_ns + 10**9))
        changed = read_hkl(hkl)
        assert changed is not first and changed.Fhkl[2, 2, 1] == 30.0
    assert read_hkl(hkl) is not read_hkl(hkl)  # no caching outside a batch


def test_one_nxmx_file_holds_every_image_in_line_order(tmp_path, monkeypatch, capsys):
    import h5py
    import numpy as np
    phis = (3, 0, 2, 1)
    stage(tmp_path, "".join(f"# image {k}\n-default_F 100 {SMALL} -phi {phi} -osc 1 -floatfile f{k}.bin "
                            f"-intfile i{k}.img -nonoise -nopgm\n" for k, phi in enumerate(phis)))
    assert run_batch_here(tmp_path, monkeypatch, hdf5_path="all.h5") == 0
    with h5py.File(tmp_path / "all.h5", "r") as f:
        data = f["/entry/data/data"][()]
        omega = f["/entry/sample/transformations/omega"][()]
    assert data.shape == (4, 32, 32) and data.dtype == np.float32
    for k in range(4):
        assert np.array_equal(data[k], np.fromfile(tmp_path / f"f{k}.bin", np.float32).reshape(32, 32))
    assert list(omega) == list(phis)
    # a job that fails: no file, one more failure; the fixed batch resumes and writes it
    (tmp_path / "all.h5").unlink()
    text = (tmp_path / "jobs.txt").read_text()
    (tmp_path / "jobs.txt").write_text(text.replace("-phi 2", "-phi 2 -bogus"))
    assert run_batch_here(tmp_path, monkeypatch, hdf5_path="all.h5") == 2
    assert "all.h5 not written: jobs at lines 6 are not done" in capsys.readouterr().err
    assert not (tmp_path / "all.h5").exists()
    (tmp_path / "jobs.txt").write_text(text)
    assert run_batch_here(tmp_path, monkeypatch, hdf5_path="all.h5") == 0
    with h5py.File(tmp_path / "all.h5", "r") as f:
        assert np.array_equal(f["/entry/data/data"][()], data)
    assert temp_files(tmp_path) == []


# ------------------------------------------------------------------------------------- kill and resume

def _env():
    return dict(os.environ, NUMBA_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def _mpiexec():
    """mpiexec beside this Python (the test extra's mpich wheel) or on PATH; the test extra installs
    mpi4py and mpich, so a missing one fails the test instead of skipping it."""
    import mpi4py  # noqa: F401
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    assert found, "no mpiexec: pip install '.[test]' installs mpich"
    return found


def _recorded(folder):
    return sum(len(r) for r in batch.read_records(folder / "jobs.txt").values())


def _process_tree(root):
    """``root`` and every process descended from it, from /proc (mpiexec's hydra proxy starts each rank
    in a session of its own, so killing mpiexec's process group does not reach the ranks)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _running(pid):
    """Whether a thread of ``pid`` still runs. A killed process's files (a lock, a half-written
    temporary) are only released once its last thread has exited, and the group leader shows as a
    zombie while its other threads are still exiting, so every thread is checked."""
    try:
        threads = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for tid in threads:
        try:
            state = Path("/proc/%d/task/%s/stat" % (pid, tid)).read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            return True
    return False


def _kill_when_recorded(proc, folder, count, timeout=120):
    """SIGKILL ``proc`` and every process it started once the state files hold ``count`` records, as a
    scheduler kills a job, and wait until none of them runs."""
    deadline = time.monotonic() + timeout
    while _recorded(folder) < count:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    tree = _process_tree(proc.pid)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    while any(_running(pid) for pid in tree):
        assert time.monotonic() < deadline, "a process of the batch outlived SIGKILL"
        time.sleep(0.01)
    return tree


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        folder = stage(tmp_path_factory.mktemp("slow"), SLOW_JOBS)
        assert run_batch_here(folder, mp) == 0
    finally:
        mp.undo()
    return outputs(folder)


def _damage_and_resume(folder, slow_reference):
    """Flip a byte of one completed job's output and delete another's; a rerun redoes those two and the
    unrecorded jobs, skips the rest and ends with the uninterrupted run's files."""
    records = batch.read_records(folder / "jobs.txt")
    assert 2 <= len(records) < 8, "killed mid-way"
    first, second = sorted(records)[:2]
    flipped = Path(records[first][0]["outputs"][0]["path"])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    Path(records[second][0]["outputs"][1]["path"]).unlink()
    os.chdir(folder)
    summary = batch.run_batch("jobs.txt")
    assert (summary.skipped, summary.done, summary.failed) == (len(records) - 2, 8 - len(records) + 2, 0)
    assert outputs(folder) == slow_reference
    assert temp_files(folder) == []
    again = batch.run_batch("jobs.txt")
    assert (again.skipped, again.done) == (8, 0)


def test_killed_batch_resumes(slow_reference, tmp_path, monkeypatch):
    stage(tmp_path, SLOW_JOBS)
    monkeypatch.chdir(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba.cli.batch", "jobs.txt"], cwd=tmp_path, env=_env(),
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when_recorded(proc, tmp_path, 2)
    _damage_and_resume(tmp_path, slow_reference)


def test_mpi_batch_gives_the_single_process_images(small_batch, tmp_path):
    mpiexec = _mpiexec()
    _, ran, _ = small_batch
    stage(tmp_path, SMALL_JOBS)
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "nbnumba.cli.batch", "jobs.txt"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("9 jobs: 9 done, 0 skipped (verified), 0 failed") == 1
    assert outputs(tmp_path) == outputs(ran)
    # each rank records in its own file; jobs.txt.done (empty) is the batch's lock, held by rank 0
    assert sorted(p.name for p in tmp_path.glob("jobs.txt.done*")) == ["jobs.txt.done", "jobs.txt.done.rank0",
                                                                       "jobs.txt.done.rank1"]
    assert (tmp_path / "jobs.txt.done").read_bytes() == b""


def test_killed_mpi_batch_resumes(slow_reference, tmp_path, monkeypatch):
    mpiexec = _mpiexec()
    stage(tmp_path, SLOW_JOBS)
    monkeypatch.chdir(tmp_path)
    proc = subprocess.Popen([mpiexec, "-n", "2", sys.executable, "-m", "nbnumba.cli.batch", "jobs.txt"],
                            cwd=tmp_path, env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = _kill_when_recorded(proc, tmp_path, 2)
    assert len(killed) >= 4  # mpiexec, its proxy and the two ranks
    _damage_and_resume(tmp_path, slow_reference)


def test_plain_run_does_not_import_mpi4py():
    code = ("import sys; from nbnumba import batch; from nbnumba.cli import batch as cli; "
            "print(batch.mpi_launched(), 'mpi4py' in sys.modules, 'numba.cuda' in sys.modules)")
    env = {k: v for k, v in _env().items() if k not in batch.MPI_ENV_VARS}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]


# ------------------------------------------------------------------ hardening (issue 14, item 8)

TINY = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 8 -nonoise -nopgm"


def _one_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_each_output_folder_is_listed_once_per_batch(tmp_path, monkeypatch, capsys):
    """Each job listed the whole output folder (for temporaries of killed runs): 10,000 jobs slowed down
    and a fully done resume took minutes. Now a batch lists each folder once, resumed or not."""
    from nbnumba.io import atomic
    stage(tmp_path, "".join(f"{TINY} -phi {k} -floatfile f{k}.bin -intfile i{k}.img\n" for k in range(6)))
    for k in range(300):
        (tmp_path / f"junk{k}.dat").write_bytes(b"")
    listed = []
    real_scandir = os.scandir

    def counting_scandir(path="."):
        if sys._getframe(1).f_code.co_filename == atomic.__file__:  # (glob lists the state files once too)
            listed.append(os.path.realpath(path))
        return real_scandir(path)

    monkeypatch.setattr(atomic.os, "scandir", counting_scandir)
    for expected_done in (6, 0):  # a full run, then a fully done resume
        listed.clear()
        assert run_batch_here(tmp_path, monkeypatch) == 0
        assert f"6 jobs: {expected_done} done, {6 - expected_done} skipped" in capsys.readouterr().out
        assert listed.count(os.path.realpath(tmp_path)) == 1, listed


def test_stale_temporaries_of_killed_runs_are_still_removed(tmp_path, monkeypatch):
    from nbnumba.io import atomic
    stage(tmp_path, f"{TINY} -floatfile f.bin -intfile i.img\n")
    dead = 2**22 + 1  # above the largest PID Linux gives
    stale = [f".f.bin.{dead}-{atomic.host_tag()}.0123456789ab.tmp",
             f".i.img.{dead}-{atomic.host_tag()}.ba9876543210.tmp"]
    for name in stale:
        (tmp_path / name).write_bytes(b"partial")
    assert run_batch_here(tmp_path, monkeypatch) == 0
    assert temp_files(tmp_path) == []
    (tmp_path / stale[0]).write_bytes(b"partial")  # a kill after the job was recorded: removed on resume
    assert run_batch_here(tmp_path, monkeypatch) == 0
    assert temp_files(tmp_path) == []


def test_a_second_batch_on_the_same_job_file_is_refused(tmp_path, monkeypatch, capsys):
    stage(tmp_path, f"{TINY} -floatfile f.bin -intfile i.img\n")
    monkeypatch.chdir(tmp_path)
    held = batch.lock_batch("jobs.txt")  # another batch, running now
    try:
        assert batch_main("jobs.txt") == 2
        _one_line(capsys.readouterr().err, "nbnumba-batch: error: jobs.txt is being run by another nbnumba-batch",
                  "jobs.txt.done")
        with pytest.raises(batch.InputError, match="being run by another"):
            batch.run_batch("jobs.txt")
        assert sorted(os.listdir(tmp_path)) == ["cubic.hkl", "jobs.txt", "jobs.txt.done"]
    finally:
        os.close(held)
    assert batch_main("jobs.txt") == 0  # once it ended


def test_a_second_mpi_batch_is_refused_by_every_rank(tmp_path):
    mpiexec = _mpiexec()
    stage(tmp_path, f"{TINY} -floatfile f.bin -intfile i.img\n{TINY} -phi 1 -floatfile g.bin -intfile j.img\n")
    held = batch.lock_batch(tmp_path / "jobs.txt")
    try:
        done = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "nbnumba.cli.batch", "jobs.txt"],
                              cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    finally:
        os.close(held)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "is being run by another nbnumba-batch")
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "g.bin").exists()


def test_an_mpi_batch_refused_by_one_rank_is_refused_by_every_rank(tmp_path):
    """A check only rank 0 makes (the --hdf5 path): every rank learns of the refusal and ends (they used
    to wait for rank 0 in their final exchange for ever)."""
    mpiexec = _mpiexec()
    stage(tmp_path, f"{TINY} -floatfile f.bin -intfile i.img\n{TINY} -phi 1 -floatfile g.bin -intfile j.img\n")
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "nbnumba.cli.batch", "jobs.txt", "--hdf5",
                           "no/such/folder/all.h5"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    _one_line(done.stderr, "no/such/folder/all.h5")
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "g.bin").exists()


def test_an_unwritable_state_file_is_refused_before_any_job(tmp_path, monkeypatch, capsys):
    """A job file on a read-only file system rendered every job, then counted all as failed."""
    import errno
    stage(tmp_path, f"{TINY} -floatfile f.bin -intfile i.img\n")
    (tmp_path / "jobs.txt.done").mkdir()  # (tests run as root: a folder stands in for no permission)
    assert run_batch_here(tmp_path, monkeypatch) == 2
    _one_line(capsys.readouterr().err,
              "nbnumba-batch: error: cannot write the state file jobs.txt.done: Is a directory")
    (tmp_path / "jobs.txt.done").rmdir()
    real_open = os.open

    def read_only(path, flags, *args):
        if os.fspath(path).endswith(".done") and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(batch.os, "open", read_only)
    assert run_batch_here(tmp_path, monkeypatch) == 2
    _one_line(capsys.readouterr().err, "cannot write the state file jobs.txt.done: Read-only file system")
    assert sorted(os.listdir(tmp_path)) == ["cubic.hkl", "jobs.txt"]


@pytest.mark.parametrize("args, fragment", [
    (["--seed", "x", "jobs.txt"], "Invalid value for '--seed': expected a whole number, got 'x'"),
    (["--seed", "٥", "jobs.txt"], "expected a whole number"),
    (["--seed", "9999999999", "jobs.txt"], "is not in the range"),
    (["--bogus", "jobs.txt"], "No such option"),
    ([], "Missing argument 'JOBFILE'"),
    (["missing.txt"], "'missing.txt' does not exist"),
    (["--device", "tpu", "jobs.txt"], "'--device'"),
])
def test_usage_errors_are_one_line(tmp_path, monkeypatch, capsys, args, fragment):
    from nbnumba.cli.batch import main_argv as batch_argv
    stage(tmp_path, f"{TINY} -floatfile f.bin\n")
    monkeypatch.chdir(tmp_path)
    assert batch_argv(args) == 2
    out, err = capsys.readouterr()
    _one_line(err, "nbnumba-batch: error: ", fragment)
    assert out == ""


def test_usage_error_of_the_installed_command_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nbnumba.cli.batch", "--seed", "x", "jobs.txt"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "nbnumba-batch: error: Invalid value for '--seed': expected a whole number, got 'x'\n"


def test_a_line_that_is_not_utf8_is_refused_by_line(tmp_path, monkeypatch, capsys):
    """Invalid UTF-8 in a job line became another file name (U+FFFD); now that job fails, naming its line."""
    stage(tmp_path, "")
    (tmp_path / "jobs.txt").write_bytes(
        f"# caf\xe9 in latin-1 below\n{TINY} -floatfile ok.bin -intfile ok.img\n".encode()
        + f"{TINY} -floatfile caf".encode() + b"\xe9.bin -intfile x.img\n"
        + b"# a comment in latin-1: caf\xe9\n")
    assert run_batch_here(tmp_path, monkeypatch) == 1
    out, err = capsys.readouterr()
    _one_line(err, "jobs.txt:3: error: the line is not valid UTF-8 (byte 0xe9 at character")
    assert "1 done, 0 skipped (verified), 1 failed" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cubic.hkl", "jobs.txt", "jobs.txt.done", "ok.bin", "ok.img"]


def test_outputs_into_a_fifo_are_recorded_without_reading_them_back(tmp_path, monkeypatch, capsys):
    """-floatfile /dev/null (here a FIFO with a reader) is written into; the record does not read it back
    (reading a FIFO would wait for ever) and a resume counts it as done."""
    import threading
    stage(tmp_path, f"{TINY} -floatfile pipe -intfile i.img\n")
    os.mkfifo(tmp_path / "pipe")
    got = []

    def read():
        with open(tmp_path / "pipe", "rb") as handle:
            got.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert run_batch_here(tmp_path, monkeypatch) == 0
    finally:
        for _ in range(100):
            reader.join(timeout=0.05)
            if not reader.is_alive():
                break
            try:
                os.close(os.open(tmp_path / "pipe", os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert not reader.is_alive() and len(got[0]) == 4 * 8 * 8
    record = batch.read_records(tmp_path / "jobs.txt")[1][0]
    assert record["outputs"][0] == {"path": str(tmp_path / "pipe"), "stream": True}
    assert run_batch_here(tmp_path, monkeypatch) == 0
    assert "1 jobs: 0 done, 1 skipped" in capsys.readouterr().out
