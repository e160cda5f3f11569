# SPDX-License-Identifier: BSD-3-Clause
"""The warm worker behind the ``nbnumba`` command, and ``nbnumba-server start|stop|status``.

``nbnumba-server start`` starts one detached worker for this build of nbnumba (see
``nbnumba.cli.client``) and returns once it answers. The worker imports numba and the whole pipeline,
renders a tiny image to load the compiled code, then waits. It never runs a job itself: a child forked
from it (a spare) waits on the socket and runs the job of the connection it takes: it takes the client's
folder, umask, environment and stdin/stdout/stderr (received as descriptors), runs exactly what
``nbnumba`` runs and reports the exit status (or the signal it ended by). A job that ended cleanly (exit
status 0 or 2, no signal) leaves its process as it found it (folder, environment, streams, descriptors
0-2 on /dev/null; the client's terminal or pipes are released before the client is told the status) and
the process waits for the next connection: a shell loop's commands normally run in one warm process,
whose memory is its own by then (a fresh copy of the worker spends a third to half of a small job's time
copying the pages it writes). After any other end, and after ``JOBS_PER_PROCESS`` jobs, the process
exits without the interpreter's teardown. While every process is busy, a client that connects gets a
newly forked one: two clients at once get two processes, and a job that crashes takes no other job down
(the worker tells its client the signal the job died of). The kernels and HKL tables a job loaded are
loaded into the worker afterwards, so that the processes it forks later have them.

Numba's threads: jobs run on the threading layer a direct run uses (OpenMP where numba finds no TBB),
with the direct run's thread count. GNU OpenMP does not survive a fork once its threads exist, and
numba refuses a parallel region in a child of the process that started its OpenMP layer, so the worker
runs its own parallel regions on one thread (it never starts an OpenMP thread) and every process it
forks to run jobs starts numba's layer again (``_threads_for_jobs``). At start-up a forked probe renders a
tiny image that way (``_forked_jobs_run_parallel``); if it fails or hangs, the worker starts again on
numba's fork-safe ``workqueue`` layer (whose launches cost a small job 1-2 ms more). libgomp's threads
busy-wait after each parallel region; the worker's processes wait ``GOMP_SPINCOUNT`` = ``GOMP_SPIN``
spins instead of libgomp's 300,000, unless ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set. The images
do not depend on any of this.

The worker exits after ``--idle`` seconds without a job (default 900, or ``$NBNUMBA_WORKER_IDLE``), when
the package's files change (an upgrade or an edit), when its socket is removed, and on
``nbnumba-server stop`` or SIGTERM. A job's CPU time and resource limits are the worker's, not the
client's (``ulimit``, cgroups, ``time``'s CPU columns): see docs/usage.md."""
from __future__ import annotations

import gc
import io
import os
import pickle
import select
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

import click

from nbnumba.cli import client as cl

#: seconds without a job before the worker exits
IDLE_DEFAULT = 900.0
#: seconds ``start`` waits for a new worker to answer (a cold compilation cache compiles the kernels)
START_TIMEOUT = 900.0
#: how often the worker checks its sources and its socket
CHECK_EVERY = 2.0
#: jobs one process runs, one after another, before it exits and a fresh copy of the worker takes over
JOBS_PER_PROCESS = 200
#: at most this many idle processes are kept (one more is told to exit when its job ends)
IDLE_KEPT = 4
#: libgomp's busy-wait after a parallel region in the worker's processes (``GOMP_SPINCOUNT``; libgomp's
#: default, 300,000, keeps a CPU spinning for milliseconds after each job's kernel, while the next command
#: of a shell loop starts: measured on 2 CPUs, 256x256 images through the worker, 17.0 ms an image with
#: 10,000, 18.0 ms with the default)
GOMP_SPIN = "10000"
#: seconds the worker waits for its probe (``_forked_jobs_run_parallel``; it takes milliseconds; past this
#: the worker takes workqueue, which renders the same images)
PROBE_TIMEOUT = 10.0
#: a tiny image the probe renders in a forked process (nothing read, nothing written; the warm-up's too)
PROBE_ARGV = ["-cell", "100", "100", "100", "90", "90", "90", "-lambda", "6.2", "-N", "5", "-default_F", "100",
              "-distance", "100", "-detpixels", "16", "-pixel", "0.1"]
#: what a job replaces in ``sys`` (``_Job._adopt``) and its process puts back (``_Spare._reset``)
_STREAM_NAMES = ("stdin", "stdout", "stderr", "__stdin__", "__stdout__", "__stderr__")
#: a tiny run that loads every compiled function a common job uses (set-up, kernel, noise, statistics), on
#: the CPU: the worker never touches CUDA (even looking for a GPU initialises the driver, which, like a
#: context, does not survive the fork; a process that runs GPU jobs sets up its own)
WARM_ARGV = ["-hkl", "warm.hkl"] + PROBE_ARGV + ["-floatfile", "w.bin", "-intfile", "w.img", "-noisefile", "w.noise",
                                                 "-pgmfile", "w.pgm", "-noprogress", "--device", "cpu"]


def _fail(message):
    click.echo("nbnumba-server: %s" % message, err=True)
    sys.exit(2)


def _prepare_folder(folder):
    """Create the private socket folder (0700) if missing; refuse one that is not private."""
    if not os.path.isdir(os.path.dirname(folder)):
        _fail("cannot create %s: its parent folder does not exist" % folder)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        _fail("cannot create %s: %s" % (folder, exc.strerror))
    problem = cl.folder_problem(folder)
    if problem is not None:
        _fail("refusing the socket folder: %s" % problem)


def _process_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie not yet reaped
    except OSError:
        return False


def start(idle):
    """Start a detached worker for this build unless one answers; return ``(status reply, started)``."""
    key = cl.build_key()
    path = cl.socket_path(key)
    _prepare_folder(os.path.dirname(path))
    status = cl.request("status", path)
    if status is not None:
        return status, False
    if os.path.lexists(path):
        os.unlink(path)  # left by a worker that was killed
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # detach: new session, a second fork (never a session leader again), no inherited files
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, write_end)
            os.closerange(write_end + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
            os.set_inheritable(write_end, True)
            os.execv(sys.executable, [sys.executable, "-m", "nbnumba.cli.server", "--serve", path,
                                      "--ready-fd", str(write_end), "--idle", repr(float(idle))])
        finally:
            os._exit(1)
    os.close(write_end)
    os.waitpid(pid, 0)
    answer = start_answer(read_end)
    os.close(read_end)
    if not answer.startswith(b"ready"):
        _fail("the worker did not start: %s" % (answer.decode(errors="replace").strip() or "no answer"))
    status = cl.request("status", path)
    if status is None:
        _fail("the worker started but does not answer on %s" % path)
    return status, True


def start_answer(read_end, timeout=START_TIMEOUT) -> bytes:
    """What a starting worker (``serve``) writes on its start-up pipe until it closes it: ``ready`` or
    ``error: ...``; what came so far if ``timeout`` seconds pass first."""
    answer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], max(deadline - time.monotonic(), 0.01))
        if not ready:
            break
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        answer += chunk
    return answer


def stop(path=None, timeout=30.0):
    """Stop this build's worker; True if one was running. Waits (at most ``timeout`` seconds) until its
    process is gone."""
    status = cl.request("status", path)
    if status is None:
        return False
    cl.request("stop", path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _process_gone(status["pid"]):
        time.sleep(0.02)
    return True


# ------------------------------------------------------------------ the worker process


class _Worker:
    def __init__(self, path, idle):
        self.path = path
        self.idle = idle
        self.started = time.time()
        self.environment = cl.startup_environment(os.environ)  # as started, before the changes below
        self.key = cl.build_key()
        self.jobs = 0
        self.forks = 0  # processes forked to run jobs (each runs jobs one after another)
        self.spares = {}  # pid -> control socket of an idle spare
        # pid -> control socket of a spare told to retire: it may have taken a connection just before
        # (then it reports "busy" and runs that job), so its socket stays open until it is reaped
        self.retiring = {}
        self.busy = {}    # pid -> (control socket, the client's connection or None)
        self.stopping = False
        self.inode = None

    # -- start-up

    def warm(self):
        """Import the pipeline and run a tiny job, so the compiled functions are loaded before forking."""
        from nbnumba.cli.main import main_argv, prepare_command_process  # noqa: PLC0415 -- the worker's warm-up

        prepare_command_process(pipeline=True)
        import numba  # noqa: PLC0415 -- the worker's warm-up

        numba.set_num_threads(1)  # no thread of numba's layer starts in this process (``_threads_for_jobs``)
        with tempfile.TemporaryDirectory(prefix="nbnumba-worker-") as folder:
            with open(os.path.join(folder, "warm.hkl"), "w") as f:
                f.write("".join("%d %d %d 100\n" % (h, k, 1) for h in range(-3, 4) for k in range(-3, 4)))
            old = os.getcwd()
            os.chdir(folder)
            try:
                status = main_argv(WARM_ARGV)
            finally:
                os.chdir(old)
        sys.stdout.flush()
        if status != 0:
            raise RuntimeError("the warm-up run failed (status %d)" % status)
        self.threading_layer = numba.threading_layer()
        # the HKL files jobs read are parsed here once more (``_learn``), so later jobs find them parsed
        # (each checked against the file's size and modification time, as nbnumba-batch does)
        from nbnumba.io.hkl import cached_tables  # noqa: PLC0415 -- the worker's warm-up

        self.tables = cached_tables(8)
        self.tables.__enter__()

    def listen(self):
        temp = "%s.%d.tmp" % (self.path, os.getpid())
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(temp)
        os.chmod(temp, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        os.replace(temp, self.path)
        self.inode = os.stat(self.path).st_ino

    # -- the loop

    def serve(self):
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop_signal)
        signal.signal(signal.SIGINT, self._stop_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.wake = (wake_read, wake_write)
        last_job = last_check = time.monotonic()
        while True:
            self._reap()
            now = time.monotonic()
            if now - last_check >= CHECK_EVERY:
                last_check = now
                if not self._still_current():
                    self.stopping = True
            if not self.busy and now - last_job > self.idle:
                self.stopping = True
            if self.stopping:
                break
            if not self.spares and not self.busy:
                self._fork_spare()
            controls = {ctl.fileno(): (pid, ctl) for pid, ctl in list(self.spares.items())
                        + list(self.retiring.items())}
            controls.update({ctl.fileno(): (pid, ctl) for pid, (ctl, _) in self.busy.items()})
            # every process busy: a client that connects now gets a new one (its job would wait otherwise)
            waiting = [self.listener.fileno()] if not self.spares else []
            ready, _, _ = select.select([wake_read] + waiting + list(controls), [], [], CHECK_EVERY)
            for fd in ready:
                if fd == wake_read:
                    try:
                        os.read(wake_read, 4096)
                    except BlockingIOError:
                        pass
                    continue
                if fd in waiting:
                    if not self.spares:
                        self._fork_spare()
                    continue
                pid, ctl = controls[fd]
                if self._control(pid, ctl):
                    last_job = time.monotonic()
        self._shutdown()

    def _stop_signal(self, *_):
        self.stopping = True

    def _still_current(self):
        try:
            if os.stat(self.path).st_ino != self.inode:
                return False
        except OSError:
            return False
        return cl.build_key() == self.key

    def _control(self, pid, ctl):
        """A message from a child; True if it started a job."""
        try:
            message, fds = cl.receive_message(ctl, with_fds=True)
        except (OSError, ValueError, EOFError):
            message, fds = None, []
        if message is None:
            return False  # it is exiting; _reap takes it
        return self._handle(pid, ctl, message, fds)

    def _drain(self, pid, ctl, status):
        """The messages a child sent just before it exited (a forwarded status request, a stop, what its
        job loaded), read before its control socket is closed; ``status``: how it exited (waitpid)."""
        while True:
            try:
                if not select.select([ctl], [], [], 0)[0]:
                    return
                message, fds = cl.receive_message(ctl, with_fds=True)
            except (OSError, ValueError, EOFError):
                return
            if message is None:
                return
            if message.get("busy"):  # it died right after taking a job: its client is told how
                if fds:
                    with socket.socket(fileno=fds.pop(0)) as conn:
                        self._tell_end(conn, status)
                for fd in fds:
                    os.close(fd)
                continue
            self._handle(pid, ctl, message, fds)

    def _handle(self, pid, ctl, message, fds):
        if message.get("busy"):
            ctl_socket = self.spares.pop(pid, None) or self.retiring.pop(pid, ctl)
            self.busy[pid] = (ctl_socket, socket.socket(fileno=fds[0]) if fds else None)
            self.jobs += 1
            return True
        if message.get("status") and fds:
            with socket.socket(fileno=fds.pop()) as conn:
                conn.settimeout(5.0)
                self._tell(conn, self.status())
        for fd in fds:
            os.close(fd)
        if message.get("stop"):
            self.stopping = True
        if message.get("kernels") or message.get("tables"):
            self._learn(message.get("kernels"), message.get("tables") or [])
        if message.get("idle") and pid in self.busy:  # its job ended cleanly: it waits for the next one
            ctl_socket, conn = self.busy.pop(pid)
            if conn is not None:
                conn.close()
            self.spares[pid] = ctl_socket
            if len(self.spares) > IDLE_KEPT:
                self._retire(pid)
        return False

    def _learn(self, kernels, tables):
        """Load the kernels a job used (from numba's cache) and parse the HKL files it read, so that the
        processes forked later have them; the idle ones that lack them are told to exit. Without the
        compilation cache (NBNUMBA_NO_CACHE=1) the kernels are left out: compiling them here would
        hold up the worker's loop (status requests, forks) for seconds."""
        from nbnumba._jit import CACHE, llvm_options  # noqa: PLC0415 -- loaded by warm() already
        from nbnumba.io.hkl import read_hkl  # noqa: PLC0415 -- loaded by warm() already
        from nbnumba.kernels.cpu import make_cpu_kernel  # noqa: PLC0415 -- loaded by warm() already
        from nbnumba.kernels.pixel import sample_stream_llvm_options  # noqa: PLC0415 -- loaded by warm() already

        try:
            for flags, signatures in pickle.loads(kernels) if kernels and CACHE else ():
                kernel = make_cpu_kernel(flags)
                # (a kernel numba's cache lost is compiled here, as CpuRenderer.run would)
                with llvm_options(sample_stream_llvm_options(flags)):
                    for signature in signatures:
                        kernel.compile(signature)
        except Exception:  # noqa: BLE001 -- a kernel the worker cannot load is loaded by each job instead
            pass
        for path, default_F in tables:
            try:
                read_hkl(path, default_F)
            except Exception:  # noqa: BLE001 -- gone or changed: the next job reads it itself
                pass
        self._retire_spares()

    def _retire_spares(self):
        """Tell the idle spares to exit (``_reap`` collects them). A spare may have taken a connection
        just before: it then reports "busy", runs that job and exits after it (it sees the message)."""
        for pid in list(self.spares):
            self._retire(pid)

    def _retire(self, pid):
        ctl = self.spares.pop(pid)
        try:
            cl.send_message(ctl, {"retire": True})
        except OSError:
            pass
        self.retiring[pid] = ctl

    def _fork_spare(self):
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        gc.freeze()  # the copied objects stay shared: the collector does not touch them in the child
        self.forks += 1
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                parent_end.close()
                _Spare(self, child_end).run()
                code = 0
            except BaseException:  # noqa: BLE001 -- a child never returns into the worker's loop
                traceback.print_exc()
            finally:
                os._exit(code)
        child_end.close()
        self.spares[pid] = parent_end

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ctl = self.spares.pop(pid, None) or self.retiring.pop(pid, None)
            conn = None
            if ctl is None and pid in self.busy:
                ctl, conn = self.busy.pop(pid)
            if conn is not None:
                self._tell_end(conn, status)
                conn.close()
            if ctl is not None:
                self._drain(pid, ctl, status)
                ctl.close()

    def _tell_end(self, conn, status):
        """A job that reported its end exits with 0; else tell its client how its process died."""
        if os.WIFSIGNALED(status):
            self._tell(conn, {"died": os.WTERMSIG(status)})
        elif os.WEXITSTATUS(status) != 0:
            self._tell(conn, {"exit": 1})

    @staticmethod
    def _tell(conn, message):
        try:
            cl.send_message(conn, message)
        except OSError:
            pass

    def _shutdown(self):
        self._retire_spares()
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while self.retiring and time.monotonic() < deadline:  # jobs in progress finish on their own
            self._reap()
            time.sleep(0.01)

    def status(self):
        return {"pid": self.pid, "started": self.started,
                "jobs": self.jobs, "processes": self.forks, "idle": self.idle, "key": self.key, "socket": self.path,
                "threading_layer": self.threading_layer}


def _threads_for_jobs():
    """In a process forked from the worker, before its first job: numba's threads as a new process has
    them. The worker ran its parallel regions on one thread, so no OpenMP thread exists here yet (the
    first parallel region starts this process's own). Numba refuses (SIGTERM) a parallel region in a
    child of the process that started its OpenMP layer: starting the layer again here, as numba does in a
    new process (``numba.np.ufunc.parallel._launch_threads``), makes this process its owner. Then the
    thread count of a direct run."""
    import ctypes  # noqa: PLC0415 -- only in the worker's children

    import numba  # noqa: PLC0415 -- loaded by warm() already
    from numba.np.ufunc import parallel  # noqa: PLC0415 -- loaded by warm() already

    if numba.threading_layer() == "omp":
        from numba.np.ufunc import omppool  # noqa: PLC0415 -- loaded by warm() already

        ctypes.CFUNCTYPE(None, ctypes.c_int)(omppool.launch_threads)(parallel.NUM_THREADS)
    numba.set_num_threads(parallel.NUM_THREADS)


def _forked_jobs_run_parallel(timeout=PROBE_TIMEOUT) -> bool:
    """Whether a process forked from this one, as the worker forks the processes that run jobs, renders an
    image on numba's threads (``_threads_for_jobs``): False if it fails (numba's or libgomp's fork
    checks) or has not finished after ``timeout`` seconds (then it is killed)."""
    from nbnumba import params_from_argv, simulate  # noqa: PLC0415 -- loaded by warm() already

    params, _ = params_from_argv(PROBE_ARGV)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _threads_for_jobs()
            simulate(params, device="cpu")
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.005)


class _Spare:
    """A child of the worker waiting for a connection; it runs jobs one after another while they end
    cleanly (``_Job.run``), then exits."""

    def __init__(self, worker, ctl):
        self.worker = worker
        self.ctl = ctl
        signal.set_wakeup_fd(-1)
        for fd in worker.wake:
            os.close(fd)
        for other in (list(worker.spares.values()) + list(worker.retiring.values())
                      + [c for pair in worker.busy.values() for c in pair if c]):
            other.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)  # the worker ignores it; a job takes its client's
        _threads_for_jobs()
        # what a job changes, put back before the next one (``_reset``)
        umask = os.umask(0o022)
        os.umask(umask)
        self.home = (os.getcwd(), umask, dict(os.environ), list(sys.argv),
                     [getattr(sys, name) for name in _STREAM_NAMES])
        self.jobs = 0

    def run(self):
        listener = self.worker.listener
        while True:
            ready, _, _ = select.select([listener, self.ctl], [], [])
            if self.ctl in ready:
                return  # retired, or the worker has gone
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            self._connection(conn)

    def _reset(self):
        """Back to the state the spare was forked in, after a job that ended cleanly: the folder, umask,
        environment, argv and streams of the worker, descriptors 0-2 on /dev/null (the client's terminal
        or pipes are no longer held). The signal handlers follow once the job's watcher has ended."""
        cwd, umask, environ, argv, streams = self.home
        for name in ("stdin", "stdout", "stderr"):  # the job's streams: flushed, then unusable (a stale
            stream = getattr(sys, name)              # one must never write into the next job's output)
            if stream not in streams:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
                finally:
                    try:
                        stream.detach().detach()
                    except (AttributeError, OSError, ValueError):
                        pass
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.chdir(cwd)
        os.umask(umask)
        os.environ.clear()
        os.environ.update(environ)
        sys.argv = argv
        for name, stream in zip(_STREAM_NAMES, streams):
            setattr(sys, name, stream)

    def _connection(self, conn):
        try:
            conn.setblocking(True)
            conn.settimeout(10.0)
            if cl.peer_uid(conn) != os.getuid():
                conn.close()
                return
            request, fds = cl.receive_message(conn, with_fds=True)
        except (OSError, ValueError, EOFError, TypeError):
            conn.close()
            return
        op = request.get("op") if isinstance(request, dict) else None
        if op != "run":
            for fd in fds:
                os.close(fd)
            try:
                if op == "status":  # the worker answers (this process's copy of its counters is old)
                    cl.send_message(self.ctl, {"status": True}, fds=[conn.fileno()])
                elif op == "stop":
                    cl.send_message(conn, {"stopping": True})
                    cl.send_message(self.ctl, {"stop": True})
            except OSError:
                pass
            conn.close()
            return
        why = self._refusal(request, fds)
        if why is not None:
            for fd in fds:
                os.close(fd)
            try:
                cl.send_message(conn, {"accepted": False, "why": why})
            except OSError:
                pass
            conn.close()
            if why.startswith("stale"):
                cl.send_message(self.ctl, {"stop": True})
            return
        cl.send_message(conn, {"accepted": True, "pid": os.getpid()})
        try:
            cl.send_message(self.ctl, {"busy": True}, fds=[conn.fileno()])
        except OSError:
            pass  # the worker has gone (stopped meanwhile): the client has been told yes, so run the job
        self.jobs += 1
        job = _Job(self.worker, self.ctl, conn, request, fds)
        final, again = job.run()
        # a message from the worker meanwhile can only be "retire" (or the worker has gone)
        again = again and self.jobs < JOBS_PER_PROCESS and not select.select([self.ctl], [], [], 0)[0]
        if again:  # released before the client is told: its pipes see their end as after a direct run
            try:
                self._reset()
            except Exception:  # noqa: BLE001 -- not back to a clean state: a fresh spare takes the next job
                again = False
        try:  # told before the client, so that the client's next command finds this process waiting
            cl.send_message(self.ctl, dict(job.learned, idle=again))
        except OSError:
            again = False  # the worker has gone
        if not job.finish(final) or not again:
            os._exit(0)
        for signum in cl.FORWARDED_SIGNALS:  # as forked: an idle spare dies of them
            signal.signal(signum, signal.SIG_DFL)

    def _refusal(self, request, fds):
        if request.get("protocol") != cl.PROTOCOL:
            return "protocol %r" % request.get("protocol")
        if len(fds) != 3:
            return "expected 3 descriptors"
        if request.get("key") != self.worker.key or cl.build_key() != self.worker.key:
            return "stale: another build of nbnumba"
        theirs = cl.startup_environment(request.get("env") or {})
        if theirs != self.worker.environment:
            names = sorted(set(theirs.items()) ^ set(self.worker.environment.items()))
            return "environment: %s differs" % names[0][0]
        return None


class _Job:
    """One run, in the child that took the connection: the client's folder, umask, environment and
    descriptors, then what the ``nbnumba`` command runs."""

    def __init__(self, worker, ctl, conn, request, fds):
        self.worker = worker
        self.ctl = ctl
        self.conn = conn
        self.request = request
        self.fds = fds
        self.client_gone = False
        self.finished = False
        self.signalled = False
        self.learned = {}
        self.watcher = None

    def _adopt(self):
        request = self.request
        for target, fd in zip((0, 1, 2), self.fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request.get("argv0", "nbnumba")] + list(request["argv"])
        # new text streams on the descriptors, buffered as Python buffers a fresh process's: line by line
        # on a terminal (stderr always), in blocks otherwise
        buffered = not sys.stdout.write_through
        for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
            like = getattr(sys, name)
            writing = fd != 0
            raw = io.FileIO(fd, "w" if writing else "r", closefd=False)
            stream = raw
            if buffered:
                stream = io.BufferedWriter(raw) if writing else io.BufferedReader(raw)
            text = io.TextIOWrapper(stream, encoding=like.encoding, errors=like.errors,
                                    newline="\n" if writing else None,
                                    line_buffering=buffered and (fd == 2 or os.isatty(fd)),
                                    write_through=not buffered)
            setattr(sys, name, text)
            setattr(sys, "__%s__" % name, text)

    def _watch(self):
        """The client's messages: a signal to forward, or the end of the connection (the client was
        killed): then the job is interrupted, silently, and leaves no file."""
        while True:
            try:
                message = cl.receive_message(self.conn)
            except (OSError, ValueError, EOFError):
                message = None
            if message is None:
                self.client_gone = True
                if self.finished:
                    return
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                os.kill(os.getpid(), signal.SIGINT)
                return
            if "signal" in message and message["signal"] in cl.FORWARDED_SIGNALS:
                self.signalled = True
                os.kill(os.getpid(), message["signal"])

    def run(self):
        """Run the job. Returns ``(final, clean)``: the message that tells the client how it ended (None
        if it cannot be told), and whether it ended cleanly (exit status 0 or 2, no signal, the client
        still there), so that this process may take another job."""
        from nbnumba.cli import main as command  # noqa: PLC0415 -- loaded by the worker's warm-up
        from nbnumba.errors import ExitStatus  # noqa: PLC0415 -- loaded by the worker's warm-up
        from nbnumba.io import atomic, hkl  # noqa: PLC0415 -- loaded by the worker's warm-up
        from nbnumba.kernels import cpu  # noqa: PLC0415 -- loaded by the worker's warm-up

        known = set(cpu.MADE)
        known_tables = set(hkl.cached_table_keys())
        final, clean = None, False
        try:
            command._interrupted_by = None
            atomic.forget_listings()  # each job lists its output folders afresh, as a direct run does
            command.catch_signals()
            self._adopt()
            self.conn.settimeout(None)
            self.watcher = threading.Thread(target=self._watch, daemon=True)
            self.watcher.start()
            try:
                status = int(command.main_argv(self.request["argv"]))
            except KeyboardInterrupt:
                command._echo("nbnumba: interrupted", err=True)
                status = ExitStatus.INTERRUPTED
            except BaseException:  # as an uncaught exception ends a direct run: the traceback, status 1
                traceback.print_exc()
                status = 1
            self.finished = True
            for signum in cl.FORWARDED_SIGNALS:  # the job is over: a late signal changes nothing
                signal.signal(signum, signal.SIG_IGN)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            if status == ExitStatus.INTERRUPTED:
                final = {"died": int(command.interrupting_signal())}
            else:
                final = {"exit": status}
            clean = status in (ExitStatus.OK, ExitStatus.INPUT_ERROR)
        except KeyboardInterrupt:  # an interrupt at the very end: the job is over
            pass
        except OSError:  # the client's folder or descriptors could not be taken
            final, clean = None, False
        finally:
            # the kernels and HKL tables the job loaded: the worker loads them too, for its next spares
            try:
                new = [(flags, list(kernel.signatures)) for flags, kernel in cpu.MADE.items() if flags not in known]
                tables = [[key[0], key[3]] for key in hkl.cached_table_keys() if key not in known_tables]
                self.learned = {"kernels": pickle.dumps(new) if new else b"", "tables": tables}
            except Exception:  # noqa: BLE001 -- only a hint for the worker
                self.learned = {}
        return final, clean and not self.client_gone and not self.signalled

    def finish(self, final):
        """Tell the client how the job ended, close the connection and wait for the watcher to see its
        end. Returns False if the watcher is still running (this process must not take another job)."""
        if final is not None and not self.client_gone:
            try:
                cl.send_message(self.conn, final)
            except OSError:
                pass
        try:  # the watcher sees the connection end and returns
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        ended = True
        if self.watcher is not None:
            self.watcher.join(1.0)
            ended = not self.watcher.is_alive()
        self.conn.close()
        return ended


def serve(path, ready_fd, idle, layer=None):
    """The worker's process (started by ``start``): warm up, listen, serve until idle or stopped.
    ``layer``: numba's threading layer, if not the one a direct run takes (the fall-back below)."""
    environ = dict(os.environ)
    worker = _Worker(path, idle)  # it keeps the start-up variables as given (the clients' must match them)
    worker.pid = os.getpid()
    try:
        if layer is not None:
            os.environ["NUMBA_THREADING_LAYER"] = layer
        spin = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
        if spin:
            os.environ["GOMP_SPINCOUNT"] = GOMP_SPIN  # read once, when numba loads libgomp (warm)
        worker.warm()
        if spin:
            del os.environ["GOMP_SPINCOUNT"]
        if not _forked_jobs_run_parallel():
            if layer is not None:
                raise RuntimeError("a process forked from the worker cannot run numba's parallel kernel")
            # numba's OpenMP cannot be used in forked processes here: start again on workqueue (fork-safe)
            os.execve(sys.executable, [sys.executable, "-m", "nbnumba.cli.server", "--serve", path, "--ready-fd",
                                       str(ready_fd), "--idle", repr(float(idle)), "--layer", "workqueue"], environ)
        gc.collect()
        worker.listen()
    except BaseException as exc:  # noqa: BLE001 -- reported to ``start`` on the pipe
        os.write(ready_fd, ("error: %s: %s\n" % (type(exc).__name__, exc)).encode())
        os.close(ready_fd)
        os._exit(1)
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    worker.serve()
    os._exit(0)


@click.command(context_settings=dict(help_option_names=["-h", "--help"]))
@click.argument("action", type=click.Choice(["start", "stop", "status"]))
@click.option("--idle", type=click.FloatRange(min=1.0), default=None,
              help="start: seconds without a job before the worker exits "
                   "(default $NBNUMBA_WORKER_IDLE or %d)." % IDLE_DEFAULT)
def main(action, idle):
    """Start, stop or inspect the warm worker that ``nbnumba`` commands hand their runs to (see
    docs/usage.md). One worker per user and per installed nbnumba; it exits by itself after an idle
    time, when nbnumba is upgraded or edited, and it is never started automatically."""
    if action == "start":
        if idle is None:
            try:
                idle = float(os.environ.get("NBNUMBA_WORKER_IDLE") or IDLE_DEFAULT)
            except ValueError:
                _fail("NBNUMBA_WORKER_IDLE: expected seconds, got %r" % os.environ["NBNUMBA_WORKER_IDLE"])
        status, started = start(idle)
        click.echo("nbnumba-server: worker %s (pid %d, socket %s); it exits after %g s without a job"
                   % ("started" if started else "already running", status["pid"], status["socket"],
                      status["idle"]))
        if not cl.worker_wanted():
            click.echo("nbnumba-server: note: NBNUMBA_WORKER=0 or MPI in this shell: nbnumba commands here "
                       "run without it", err=True)
    elif action == "stop":
        if stop():
            click.echo("nbnumba-server: worker stopped")
        else:
            click.echo("nbnumba-server: no worker running for this nbnumba (%s)" % cl.socket_path())
    else:
        status = cl.request("status")
        if status is None:
            click.echo("nbnumba-server: no worker running for this nbnumba (%s)" % cl.socket_path())
            sys.exit(3)
        click.echo("nbnumba-server: worker running: pid %d, socket %s, %d job(s) in %d process(es) since %s, "
                   "exits after %g s without a job, numba threading layer %s"
                   % (status["pid"], status["socket"], status["jobs"], status["processes"],
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status["started"])), status["idle"],
                      status["threading_layer"]))


if __name__ == "__main__":
    if len(sys.argv) in (7, 9) and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[4]), float(sys.argv[6]), sys.argv[8] if len(sys.argv) == 9 else None)
    else:
        main()
