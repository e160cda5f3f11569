# SPDX-License-Identifier: BSD-3-Clause
"""The warm worker (``nbnumba-server``, ``nbnumba.cli.server``) and the thin client of the ``nbnumba``
command (``nbnumba.cli.client``): a run through the worker is byte for byte a direct run (files, stdout,
stderr, exit status), Ctrl-C and a killed client stop the job without a partial file, two clients at once,
the refusals (socket folder, stale code, start-up environment), and a shell loop stops at the first
Ctrl-C. Every worker a test starts is stopped by its fixture, in its own private XDG_RUNTIME_DIR."""
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from nbnumba.cli import client, server

REPO = Path(__file__).resolve().parents[1]
INPUTS = REPO / "c_reference" / "inputs"
CLIENT = [sys.executable, "-m", "nbnumba"]
SERVER = [sys.executable, "-m", "nbnumba.cli.server"]
SMALL = ["-hkl", "cubic.hkl", "-cell", "100", "100", "100", "90", "90", "90", "-lambda", "6.2", "-N", "5",
         "-default_F", "100", "-distance", "100", "-detpixels", "64", "-pixel", "0.4", "-noprogress"]
#: a render long enough to interrupt (the hardening test's run)
SLOW = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5", "-detpixels", "512",
        "-oversample", "3", "-mosaic", "0.5", "-mosaic_domains", "4", "-nonoise", "-nopgm",
        "-floatfile", "out.bin", "-intfile", "out.img"]


def environment(runtime, **extra):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), OMP_NUM_THREADS="2", NUMBA_NUM_THREADS="2",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("NBNUMBA_WORKER", None)
    env.update(extra)
    return env


class Worker:
    def __init__(self, env):
        self.env = env

    def status(self):
        proc = subprocess.run(SERVER + ["status"], env=self.env, capture_output=True, text=True, timeout=60)
        return proc

    def jobs(self):
        reply = _request(self.env, "status")
        return None if reply is None else reply["jobs"]


def _request(env, op, path=None):
    code = ("import sys, marshal; from nbnumba.cli import client; "
            "sys.stdout.buffer.write(marshal.dumps(client.request(%r, %r)))" % (op, path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60).stdout
    import marshal
    return marshal.loads(out)


def start_worker(env):
    proc = subprocess.run(SERVER + ["start"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return proc


def stop_worker(env):
    status = _request(env, "status")
    subprocess.run(SERVER + ["stop"], env=env, capture_output=True, timeout=120)
    if status is not None:  # make sure: nothing a test starts outlives it
        try:
            os.kill(status["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def worker():
    runtime = Path(tempfile.mkdtemp(prefix="nbw", dir="/tmp"))  # short: unix socket paths are at most 107 bytes
    env = environment(runtime)
    try:
        start_worker(env)
        yield Worker(env)
    finally:
        stop_worker(env)
        shutil.rmtree(runtime, ignore_errors=True)


def folder(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    shutil.copy(INPUTS / "cubic.hkl", path)
    return path


def run(argv, cwd, env, **kwargs):
    return subprocess.run(CLIENT + argv, cwd=cwd, env=env, capture_output=True, timeout=600, **kwargs)


def files(path):
    """Each file of ``path`` by name: a digest of its bytes (a failure then names the files that differ)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


CASES = {
    "image": SMALL + ["-floatfile", "o.bin", "-intfile", "o.img", "-pgmfile", "o.pgm", "-noisefile", "o.noise",
                      "-seed", "7"],
    "printout": SMALL + ["-detpixels", "8", "-printout", "-printout_pixel", "3", "4", "-nonoise", "-nopgm"],
    "unknown flag": SMALL + ["-lamda", "1"],
    "missing file": ["-hkl", "nothere.hkl", "-detpixels", "8"],
    "bad folder": SMALL + ["-floatfile", "no/such/folder.bin"],
    "version": ["--version"],
    "help": ["-h"],
}


def test_messages_sent_back_to_back_are_each_received():
    """A short job's exit status can follow "accepted" before the client reads: both are on the socket
    at once, and each must come out whole (reading past the first message lost the second)."""
    import socket
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right, open(os.devnull) as spare:
        client.send_message(left, {"accepted": True, "pid": 1})
        client.send_message(left, {"exit": 0})
        client.send_message(left, {"busy": True}, fds=[spare.fileno()])
        client.send_message(left, {"kernels": b"x" * 100000})  # longer than one read
        assert client.receive_message(right) == {"accepted": True, "pid": 1}
        assert client.receive_message(right) == {"exit": 0}
        message, fds = client.receive_message(right, with_fds=True)
        assert message == {"busy": True} and len(fds) == 1
        assert os.path.samestat(os.fstat(fds[0]), os.fstat(spare.fileno()))
        os.close(fds[0])
        assert client.receive_message(right, with_fds=True) == ({"kernels": b"x" * 100000}, [])
        left.close()
        assert client.receive_message(right) is None


@pytest.mark.parametrize("case", list(CASES))
def test_worker_run_is_byte_identical_to_a_direct_run(worker, tmp_path, case):
    argv = CASES[case]
    direct, served = folder(tmp_path, "direct"), folder(tmp_path, "served")
    expected = run(argv, direct, dict(worker.env, NBNUMBA_WORKER="0"))
    before = worker.jobs()
    got = run(argv, served, worker.env)
    assert worker.jobs() == before + 1  # the worker ran it (not a silent fallback)
    assert (got.returncode, got.stdout, got.stderr) == (expected.returncode, expected.stdout, expected.stderr)
    assert files(served) == files(direct)
    if case in ("image", "printout"):
        assert expected.returncode == 0 and b"writing" in expected.stdout or case == "printout"
    else:
        assert expected.returncode in (0, 2)


def test_commands_in_a_row_run_in_one_process_each_as_a_direct_run(worker, tmp_path):
    """A shell loop's commands run one after another in one warm process (not one forked copy of the
    worker per command), and each is still its own direct run: its folder, its umask (the files' modes),
    its output, its exit status; a refused command (exit 2) leaves the process serving the next."""
    jobs = [(0o077, SMALL + ["-floatfile", "o.bin", "-intfile", "o.img", "-noisefile", "o.noise", "-seed", "1"]),
            (0o022, CASES["unknown flag"]),
            (0o027, SMALL + ["-floatfile", "p.bin", "-pgmfile", "p.pgm", "-nonoise", "-lambda", "6.3"]),
            (0o002, CASES["printout"])]
    before = _request(worker.env, "status")
    for k, (umask, argv) in enumerate(jobs):
        direct, served = folder(tmp_path, "direct%d" % k), folder(tmp_path, "served%d" % k)
        expected = run(argv, direct, dict(worker.env, NBNUMBA_WORKER="0"), umask=umask)
        got = run(argv, served, worker.env, umask=umask)
        assert (got.returncode, got.stdout, got.stderr) == (expected.returncode, expected.stdout, expected.stderr)
        assert files(served) == files(direct)
        assert ({p.name: stat.S_IMODE(p.stat().st_mode) for p in served.iterdir()}
                == {p.name: stat.S_IMODE(p.stat().st_mode) for p in direct.iterdir()})
    after = _request(worker.env, "status")
    assert after["jobs"] == before["jobs"] + len(jobs)
    # one process served them: a command is told its status only once the process waits again (at most
    # one fork for a command that raced a loaded machine's scheduler)
    assert after["processes"] - before["processes"] <= 1, (before, after)


def test_jobs_run_on_the_threading_layer_of_a_direct_run(worker):
    """The worker's jobs use numba's threading layer a direct run takes in the same environment (OpenMP
    where numba finds no TBB): the worker starts no thread of it, and each forked process starts it again."""
    code = ("from nbnumba import params_from_argv, simulate; from nbnumba.cli import server; import numba; "
            "simulate(params_from_argv(server.PROBE_ARGV)[0], device='cpu'); print(numba.threading_layer())")
    direct = subprocess.run([sys.executable, "-c", code], env=worker.env, capture_output=True, text=True,
                            timeout=600)
    assert direct.returncode == 0, direct.stderr
    assert _request(worker.env, "status")["threading_layer"] == direct.stdout.strip()


WARM_UP = """
from nbnumba import run
from nbnumba.cli import server
devices = []
real = run.resolve_device
run.resolve_device = lambda name: devices.append(name) or real(name)
server._Worker("unused.sock", 60.0).warm()
print(sorted(set(devices)))
"""


def test_the_worker_warms_up_on_the_cpu():
    """The worker's own warm-up asks for the CPU, whatever GPU the machine has: looking for one initialises
    the CUDA driver, and neither that nor a context survives the fork into the processes that run jobs
    (each sets up its own for its first GPU job)."""
    proc = subprocess.run([sys.executable, "-c", WARM_UP], env=environment(tempfile.gettempdir()),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "['cpu']"


PROBE = """
import sys
import numba
from nbnumba import params_from_argv, simulate
from nbnumba.cli import server
numba.set_num_threads(int(sys.argv[1]))
simulate(params_from_argv(server.PROBE_ARGV)[0], device="cpu")
from numba.np.ufunc import parallel
gnu = False
if numba.threading_layer() == "omp":
    from numba.np.ufunc import omppool
    gnu = omppool.openmp_vendor == "GNU"
print(gnu, numba.get_num_threads(), parallel.NUM_THREADS, server._forked_jobs_run_parallel(timeout=5))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_the_start_up_probe_tells_whether_forked_jobs_run_parallel(threads):
    """``_forked_jobs_run_parallel``, the worker's start-up check before it forks: after parallel regions on
    one thread (as the worker runs its warm-up) a forked process starts numba's layer and renders on two
    threads; after a region on two, GNU OpenMP's threads exist and do not survive the fork: the forked
    process hangs (killed after the time-out) and the probe says no (the worker then starts again on
    ``workqueue``). Fork-safe layers (TBB, workqueue) pass either way."""
    env = environment(tempfile.gettempdir())
    proc = subprocess.run([sys.executable, "-c", PROBE, str(threads)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    gnu, now, default, forked_ok = proc.stdout.split()
    assert (int(now), int(default)) == (threads, 2)
    assert forked_ok == str(threads == 1 or gnu == "False")


FALLING_BACK = """
import sys
from nbnumba.cli import server
server._forked_jobs_run_parallel = lambda timeout=None: False  # as where forked processes fail the probe
server.serve(sys.argv[1], int(sys.argv[2]), 600.0)
"""


def test_a_worker_whose_forked_processes_fail_the_probe_starts_again_on_workqueue(tmp_path):
    """Where the start-up probe fails, the worker starts itself again (the same socket, the start-up pipe,
    the clients' environment) on numba's fork-safe workqueue layer, and serves jobs as a direct run."""
    runtime = Path(tempfile.mkdtemp(prefix="nbw", dir="/tmp"))
    env = environment(runtime)
    path = subprocess.run([sys.executable, "-c", "from nbnumba.cli import client; print(client.socket_path())"],
                          env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    os.mkdir(os.path.dirname(path), 0o700)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", FALLING_BACK, path, str(write_end)], env=env,
                            pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        assert server.start_answer(read_end, timeout=600) == b"ready\n"  # (never hangs the test)
        status = _request(env, "status")
        assert status["pid"] == proc.pid and status["threading_layer"] == "workqueue"
        with open("/proc/%d/cmdline" % proc.pid, "rb") as f:  # the same process, started again
            assert f.read().split(b"\0")[-3:-1] == [b"--layer", b"workqueue"]
        direct, served = folder(tmp_path, "direct"), folder(tmp_path, "served")
        argv = CASES["image"]
        expected = run(argv, direct, dict(env, NBNUMBA_WORKER="0"))
        got = run(argv, served, env)
        assert (got.returncode, got.stdout, got.stderr) == (expected.returncode, expected.stdout, expected.stderr)
        assert files(served) == files(direct)
        assert _request(env, "status")["jobs"] == 1
    finally:
        stop_worker(env)
        proc.kill()
        proc.wait(60)
        os.close(read_end)
        shutil.rmtree(runtime, ignore_errors=True)


def test_terminal_detection_and_order_follow_the_client(worker, tmp_path):
    """The job writes to the client's own descriptors: one file for stdout and stderr keeps their order,
    and the job's stdout is a terminal exactly when the client's is."""
    argv = CASES["unknown flag"][:-2] + ["-floatfile", "o.bin", "-lamda", "1"]
    outputs = {}
    for way, extra in (("direct", {"NBNUMBA_WORKER": "0"}), ("served", {})):
        cwd = folder(tmp_path, way)
        with open(cwd / "both.txt", "wb") as both:
            subprocess.run(CLIENT + SMALL + ["-floatfile", "o.bin", "-nonoise", "-nopgm"], cwd=cwd,
                           env=dict(worker.env, **extra), stdout=both, stderr=both, timeout=600)
        outputs[way] = (cwd / "both.txt").read_bytes()
    assert outputs["served"] == outputs["direct"]
    del argv
    code = "import sys; print(sys.stdout.isatty(), sys.stderr.isatty())"
    # a pseudo-terminal: the job's -h output goes straight to it
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, CLIENT + ["--version"], worker.env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and b"nbnumba" in out
    del code


def wait_for_line(proc, text, timeout=120):
    lines = []
    done = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if text in line:
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout), "no %r line" % text
    return lines


def processes_in(path):
    """Processes whose current folder is ``path`` (a job runs in its client's folder)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink("/proc/%s/cwd" % pid) == str(path):
                    found.append(int(pid))
            except OSError:
                pass
    return found


def wait_until_no_job_in(path, timeout=120):
    deadline = time.monotonic() + timeout
    while processes_in(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_in(path)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sighup", "sigkill"])
def test_interrupting_the_client_stops_the_job_without_a_partial_file(worker, tmp_path, how):
    cwd = folder(tmp_path, "job")
    (cwd / "cubic.hkl").unlink()
    before = worker.jobs()
    proc = subprocess.Popen(CLIENT + SLOW, cwd=cwd, env=dict(worker.env, PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, "pixel oversample steps")
        proc.send_signal({"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM, "sighup": signal.SIGHUP,
                          "sigkill": signal.SIGKILL}[how])
        proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert worker.jobs() == before + 1
    if how == "ctrl-c":
        assert proc.returncode == -signal.SIGINT and err.strip() == "nbnumba: interrupted"
    elif how in ("sigterm", "sighup"):  # a closed terminal (SIGHUP) stops the job as SIGTERM does
        signum = signal.SIGTERM if how == "sigterm" else signal.SIGHUP
        assert proc.returncode == -signum and err.strip() == "nbnumba: interrupted", (proc.returncode, err)
    else:
        assert proc.returncode == -signal.SIGKILL
    wait_until_no_job_in(cwd)
    assert os.listdir(cwd) == []
    # the worker serves the next request
    nxt = folder(tmp_path, "next")
    got = run(SMALL + ["-floatfile", "o.bin", "-nonoise", "-nopgm"], nxt, worker.env)
    assert got.returncode == 0 and (nxt / "o.bin").stat().st_size == 64 * 64 * 4
    assert worker.jobs() == before + 2


def test_two_clients_at_once_in_different_folders(worker, tmp_path):
    argv = SMALL + ["-floatfile", "o.bin", "-intfile", "o.img", "-nonoise", "-nopgm"]
    reference = folder(tmp_path, "reference")
    expected = run(argv, reference, dict(worker.env, NBNUMBA_WORKER="0"))
    before = worker.jobs()
    folders = [folder(tmp_path, "a"), folder(tmp_path, "b")]
    procs = [subprocess.Popen(CLIENT + argv, cwd=f, env=worker.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for f in folders]
    results = [p.communicate(timeout=600) for p in procs]
    assert worker.jobs() == before + 2
    for proc, (out, err), f in zip(procs, results, folders):
        assert (proc.returncode, out, err) == (0, expected.stdout, expected.stderr)
        assert files(f) == files(reference)


def test_a_different_startup_environment_runs_the_command_itself(worker, tmp_path):
    cwd = folder(tmp_path, "env")
    before = worker.jobs()
    got = run(SMALL + ["-floatfile", "o.bin", "-nonoise", "-nopgm"], cwd, dict(worker.env, OMP_NUM_THREADS="1"))
    assert got.returncode == 0 and (cwd / "o.bin").exists() and got.stderr == b""
    assert worker.jobs() == before
    got = run(["--version"], cwd, dict(worker.env, NBNUMBA_WORKER="0"))
    assert got.returncode == 0 and worker.jobs() == before
    got = run(["--version"], cwd, dict(worker.env, PMI_RANK="0"))  # under MPI: never the worker
    assert got.returncode == 0 and worker.jobs() == before


@pytest.mark.parametrize("loop_with", ["direct", "worker"])
def test_a_shell_loop_stops_at_the_first_ctrl_c(worker, tmp_path, loop_with):
    """Ctrl-C in a terminal signals the loop's whole process group: the run dies of SIGINT after cleaning
    up, so bash stops the loop (as with nanoBragg.c) instead of starting the next run."""
    cwd = folder(tmp_path, "loop")
    env = dict(worker.env, PYTHONUNBUFFERED="1", **({"NBNUMBA_WORKER": "0"} if loop_with == "direct" else {}))
    command = " ".join(CLIENT + SLOW)
    script = "for i in 1 2 3; do echo start $i; %s; done; echo finished" % command
    proc = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = wait_for_line(proc, "pixel oversample steps")
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        time.sleep(0.5)
        text = "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGINT
    assert "start 2" not in text and "finished" not in text
    wait_until_no_job_in(cwd)
    assert sorted(os.listdir(cwd)) == ["cubic.hkl"]  # no output, no temporary file


def test_socket_folder_must_be_private(tmp_path):
    runtime = Path(tempfile.mkdtemp(prefix="nbw", dir="/tmp"))
    try:
        env = environment(runtime)
        sock_folder = runtime / "nbnumba"
        sock_folder.mkdir(mode=0o700)
        os.chmod(sock_folder, 0o770)  # group-writable
        proc = subprocess.run(SERVER + ["start"], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2 and "refusing the socket folder" in proc.stderr and "mode 770" in proc.stderr
        assert client.folder_problem(str(sock_folder)) is not None
        assert client.connect(str(sock_folder / "worker-x.sock")) is None
        os.chmod(sock_folder, 0o700)
        assert client.folder_problem(str(sock_folder)) is None
        if os.getuid() == 0:  # a folder of another user
            os.chown(sock_folder, 12345, 12345)
            proc = subprocess.run(SERVER + ["start"], env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 2 and "owned by user id 12345" in proc.stderr
        else:
            fake = os.stat_result((stat.S_IFDIR | 0o700, 0, 0, 2, os.getuid() + 1, 0, 0, 0, 0, 0))
            real_lstat = os.lstat
            os.lstat = lambda p: fake if p == str(sock_folder) else real_lstat(p)
            try:
                assert "owned by user id" in client.folder_problem(str(sock_folder))
            finally:
                os.lstat = real_lstat
        # the command itself runs directly, printing nothing extra
        cwd = folder(tmp_path, "cmd")
        got = run(["--version"], cwd, env)
        assert got.returncode == 0 and got.stderr == b"" and got.stdout.startswith(b"nbnumba ")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_the_installed_command_is_the_plain_script():
    """pip installs scripts/nbnumba as the nbnumba command, with this Python in its first line (not a
    console_scripts wrapper, which would import re on every command)."""
    installed = Path(sys.executable).parent / "nbnumba"
    assert installed.exists(), "nbnumba is not installed beside %s: pip install '.[test]'" % sys.executable
    first, *rest = installed.read_text().splitlines()
    assert first.startswith("#!") and "python" in first
    assert rest == (REPO / "scripts" / "nbnumba").read_text().splitlines()[1:]
    assert os.access(installed, os.X_OK)


def test_the_client_imports_nothing_heavy():
    code = ("import sys; from nbnumba.cli import client; client.build_key(); client.socket_path();"
            "print(sorted(m for m in ('numpy', 'numba', 'click', 'nbnumba.cli.main') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=environment("/nonexistent")).stdout
    assert out.strip() == "[]"
    # nor the standard library's slower modules (re 12 ms, enum 4 ms: as long as the client's whole work):
    # the installed command is scripts/nbnumba (pip's console_scripts wrapper imports re), the client uses
    # _signal and _socket. Run with -S: site's .pth files import some of them in development environments
    script = REPO / "scripts" / "nbnumba"
    code = ("import sys; before = set(sys.modules); from nbnumba.cli import client; client.main = lambda: None;"
            "exec(compile(open(%r).read(), 'nbnumba', 'exec'), {'__name__': '__main__'});"
            "client.build_key(); client.socket_path();"
            "print(sorted(m for m in ('re', 'enum', 'signal', 'socket', 'selectors', 'collections')"
            " if m in sys.modules and m not in before))" % str(script))
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env=environment("/nonexistent"))
    assert proc.stdout.strip() == "[]", proc.stderr
    out = subprocess.run([sys.executable, "-c", "import sys, nbnumba; print('numpy' in sys.modules)"],
                         capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGKILL], ids=["SIGSEGV", "SIGKILL"])
def test_a_crashing_job_takes_no_other_job_down(worker, tmp_path, signum):
    """A job that dies (SIGSEGV sent to it, or SIGKILL as from the out-of-memory killer) ends its own
    client by the same signal; a job running beside it completes, and the worker serves the next
    request."""
    crashing, beside = folder(tmp_path, "crash"), folder(tmp_path, "beside")
    env = dict(worker.env, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(CLIENT + SLOW, cwd=crashing, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for_line(proc, "pixel oversample steps")
        other = subprocess.Popen(CLIENT + SMALL + ["-floatfile", "o.bin", "-nonoise", "-nopgm"], cwd=beside,
                                 env=worker.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        jobs = [pid for pid in processes_in(crashing) if pid != proc.pid]
        assert len(jobs) == 1  # the job's process (the worker's child, in the client's folder)
        os.kill(jobs[0], signum)
        proc.wait(timeout=120)
        out, err = other.communicate(timeout=600)
    finally:
        for p in (proc,):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert proc.returncode == -signum, proc.stderr.read()
    assert other.returncode == 0 and (beside / "o.bin").stat().st_size == 64 * 64 * 4, err
    wait_until_no_job_in(crashing)
    assert not [n for n in os.listdir(crashing) if n.startswith(".") or n.startswith("out.")]
    got = run(["--version"], beside, worker.env)
    assert got.returncode == 0
