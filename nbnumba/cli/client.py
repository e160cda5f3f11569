# SPDX-License-Identifier: BSD-3-Clause
"""The ``nbnumba`` command's entry point: hand the run to a warm worker if one is there, else run it here.

A warm worker (``nbnumba-server start``, ``nbnumba.cli.server``) keeps numba, the pipeline and the compiled
kernels loaded. This module is what starts on every ``nbnumba`` command: it imports only the standard
library (no numpy, numba or click), looks for the worker's socket, and if a compatible worker answers
hands it the run: the arguments, the current folder, umask and environment, and this process's
stdin/stdout/stderr themselves (passed as file descriptors, so the job writes straight to the terminal,
pipe or file they are, in order, and sees the same terminal). It waits for the job's exit status and
exits with it; Ctrl-C, SIGTERM and SIGHUP are forwarded to the job, and the job's death by a signal is
re-raised here. Whenever no compatible worker answers (none started, ``NBNUMBA_WORKER=0``, MPI, another
build of nbnumba, a different start-up environment, a socket folder that is not private) the command
runs in this process, as it always did, printing nothing extra.

Security: the socket lives in a private folder (``$XDG_RUNTIME_DIR/nbnumba``, else
``/tmp/nbnumba-<uid>``) that must be owned by this user and have mode 0700 (the worker refuses to start
otherwise, the client refuses to connect); both ends check the other's user id (SO_PEERCRED). The socket's
name carries a key of this build (``build_key``): the package files' sizes and modification times, the
Python and its ``site-packages`` folders; an upgrade or an edit of the package changes it, so the client
never reaches a worker that runs other code (and that worker exits by itself)."""
import _signal  # the C modules: ``signal`` imports enum, ``socket`` selectors, enum, array (start-up time)
import _socket
import gc
import marshal
import os
import sys
import zlib

from nbnumba._version import __version__
from nbnumba.mpi import MPI_ENV_VARS

#: ``NBNUMBA_WORKER=0`` (or ``off``/``no``/``false``): never use a worker
WORKER_SWITCH = "NBNUMBA_WORKER"
#: environment variables read once, when a process starts (numba's, OpenMP's, Python's, the locale, the
#: cache folders): if the client's differ from the worker's, the client runs the command itself
STARTUP_PREFIXES = ("NUMBA_", "NBNUMBA_", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_", "TBB_", "CUDA_",
                    "NVIDIA_", "PYTHON", "LD_", "LC_")
STARTUP_NAMES = ("LANG", "LANGUAGE", "HOME", "TMPDIR", "XDG_CACHE_HOME", "HDF5_PLUGIN_PATH")
#: the worker's own settings, not the job's
WORKER_VARIABLES = ("NBNUMBA_WORKER", "NBNUMBA_WORKER_IDLE")
#: the signals the client forwards to its job
FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
#: bumped when the messages change
PROTOCOL = 1
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker_wanted(environ=None) -> bool:
    """False when the command must not use a worker: ``NBNUMBA_WORKER=0`` or under an MPI launcher."""
    environ = os.environ if environ is None else environ
    if environ.get(WORKER_SWITCH, "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    return not any(name in environ for name in MPI_ENV_VARS)


def startup_environment(environ) -> dict:
    """The variables of ``environ`` that a process reads once when it starts (see ``STARTUP_PREFIXES``)."""
    return {name: value for name, value in environ.items()
            if (name.startswith(STARTUP_PREFIXES) or name in STARTUP_NAMES) and name not in WORKER_VARIABLES}


def build_key() -> str:
    """A key of this build of nbnumba as this Python runs it: the version, the Python, and the path, size
    and modification time of every file of the package, and the modification time of every
    ``site-packages`` folder on ``sys.path`` (an install, upgrade or removal there changes it). Cheap:
    about a hundred ``stat`` calls, no file read."""
    parts = [__version__, sys.version, sys.executable, sys.prefix, _PACKAGE_DIR]
    pending = [_PACKAGE_DIR]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    pending.append(entry.path)
            elif entry.name.endswith((".py", ".so", ".cfg", ".json")):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                parts.append("%s %d %d" % (entry.path, st.st_size, st.st_mtime_ns))
    for folder in sys.path:  # where pip installs (numba, numpy, ...): not the script's or the current folder
        if folder.endswith(("site-packages", "dist-packages")):
            try:
                parts.append("%s %d" % (folder, os.stat(folder).st_mtime_ns))
            except OSError:
                pass
    data = "\n".join(parts).encode("utf-8", "surrogateescape")
    return "%s-%08x%08x" % (__version__, zlib.crc32(data), zlib.adler32(data))


def socket_folder(environ=None) -> str:
    """Where the worker's socket lives: ``$XDG_RUNTIME_DIR/nbnumba`` if that variable names a folder,
    else ``/tmp/nbnumba-<uid>``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base) and os.path.isdir(base):
        return os.path.join(base, "nbnumba")
    return os.path.join("/tmp", "nbnumba-%d" % os.getuid())


def folder_problem(folder):
    """None if ``folder`` is a private folder of this user (a real folder, not a link, owned by this
    user, mode 0700, in a parent that others cannot rename it in), else why not."""
    import stat  # noqa: PLC0415 -- start-up: the client imports the least it can

    try:
        st = os.lstat(folder)
    except OSError as exc:
        return "%s: %s" % (folder, exc.strerror)
    if not stat.S_ISDIR(st.st_mode):
        return "%s is not a folder" % folder
    if st.st_uid != os.getuid():
        return "%s is owned by user id %d, not by you (%d)" % (folder, st.st_uid, os.getuid())
    if st.st_mode & 0o077:
        return "%s has mode %o: others may use it (expected 700)" % (folder, stat.S_IMODE(st.st_mode))
    parent = os.lstat(os.path.dirname(folder))
    if parent.st_uid not in (0, os.getuid()) or (parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX):
        return "%s: its parent folder can be changed by others" % folder
    return None


def socket_path(key=None, environ=None) -> str:
    """The socket of the worker for this build (``build_key``)."""
    return os.path.join(socket_folder(environ), "worker-%s.sock" % (key or build_key()))


# ---- messages: a 4-byte length and a marshal-encoded value (both ends are this user's nbnumba) ----

def send_message(sock, value, fds=()):
    """Send ``value`` (and the descriptors ``fds`` with its first byte: SCM_RIGHTS)."""
    data = marshal.dumps(value)
    data = len(data).to_bytes(4, "big") + data
    if fds:
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        data = data[sent:]
    if data:
        sock.sendall(data)


def _receive_exactly(sock, count, data=b""):
    """``data`` completed to ``count`` bytes from ``sock``, or None if the stream ends first."""
    while len(data) < count:
        more = sock.recv(count - len(data))
        if not more:
            return None
        data += more
    return data


def receive_message(sock, with_fds=False):
    """The next message (and with ``with_fds`` the descriptors that came with it), or None at the end
    of the stream. Reads exactly one message: the next one may already be waiting on the socket (a
    short job's exit status right behind "accepted")."""
    fds = []
    if with_fds:
        head, ancillary, _flags, _addr = sock.recvmsg(4, _socket.CMSG_SPACE(8 * 4))
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                        for i in range(0, len(payload) - len(payload) % 4, 4)]
    else:
        head = sock.recv(4)
    try:
        body = None
        if head:
            head = _receive_exactly(sock, 4, head)
            if head is not None:
                body = _receive_exactly(sock, int.from_bytes(head, "big"))
        value = None if body is None else marshal.loads(body)
    except BaseException:  # a time-out or a bad message: the descriptors that came are not kept open
        for fd in fds:
            os.close(fd)
        raise
    if body is None:
        for fd in fds:
            os.close(fd)
        return (None, []) if with_fds else None
    return (value, fds) if with_fds else value


def peer_uid(sock) -> int:
    """The user id of the process at the other end of a unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(creds[4:8], sys.byteorder)


def connect(path=None, timeout=5.0):
    """A connection to this build's worker, checked (private folder, the worker is this user), or None."""
    path = path or socket_path()
    if folder_problem(os.path.dirname(path)) is not None:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            sock.close()
            return None
    except OSError:
        sock.close()
        return None
    return sock


def request(op, path=None, timeout=5.0):
    """Send the worker a control request ("status", "stop") and return its reply, or None."""
    sock = connect(path, timeout)
    if sock is None:
        return None
    try:
        send_message(sock, {"op": op, "protocol": PROTOCOL})
        return receive_message(sock)
    except (OSError, ValueError, EOFError):
        return None
    finally:
        sock.close()


def run_in_worker(argv):
    """Run ``argv`` in the worker. Returns ``("exit", status)`` or ``("signal", signum)`` as the job
    ended, or None if no compatible worker took it (nothing was run)."""
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)  # a closed descriptor: run here, as a direct run would see it
        cwd = os.getcwd()
    except OSError:
        return None
    key = build_key()
    sock = connect(socket_path(key))
    if sock is None:
        return None
    umask = os.umask(0o022)
    os.umask(umask)
    job = {"op": "run", "protocol": PROTOCOL, "key": key, "argv": list(argv), "cwd": cwd, "umask": umask,
           "env": dict(os.environ), "argv0": sys.argv[0] if sys.argv else "nbnumba"}
    forwarded = {}
    caught = []
    accepted = False

    def forward(signum, _frame):
        caught.append(signum)
        try:
            send_message(sock, {"signal": signum})
        except OSError:
            pass

    try:
        # forwarded from the moment the job can start: it may print (and a user or a test react to that)
        # before "accepted" is read here. Held back while the job's own message is sent (a message sent
        # from a handler in the middle of it would corrupt it): delivered, and so forwarded, right after
        _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED_SIGNALS)
        try:
            for signum in FORWARDED_SIGNALS:
                if _signal.getsignal(signum) != _signal.SIG_IGN:  # ignored here (nohup, `&` in a script)
                    forwarded[signum] = _signal.signal(signum, forward)
            send_message(sock, job, fds=(0, 1, 2))
        finally:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        reply = receive_message(sock)
        if not reply or not reply.get("accepted"):
            return _interrupted(caught)  # no job ran: run here, unless interrupted meanwhile
        accepted = True
        sock.settimeout(None)
        while True:
            message = receive_message(sock)
            if message is None:
                break
            if "exit" in message:
                return ("exit", int(message["exit"]))
            if "died" in message:
                return ("signal", int(message["died"]))
    except (OSError, ValueError, EOFError, TypeError):
        if not accepted:
            return _interrupted(caught)  # nothing ran: the caller runs the command here
    finally:
        for signum, handler in forwarded.items():
            _signal.signal(signum, handler)
        sock.close()
    # the job was taken, then the worker went away without a word (it was killed): as a killed job, and
    # never run a second time here
    sys.stderr.write("nbnumba: error: the nbnumba worker stopped during the run\n")
    return ("exit", 1)


def _interrupted(caught):
    """None (the caller runs the command here), or, if a signal came while no job had taken the run, the
    end a direct run interrupted at start-up has."""
    if not caught:
        return None
    sys.stderr.write("nbnumba: interrupted\n")
    return ("signal", caught[0])


def end_process(how, value):
    """Leave the process as the job ended: flush, then exit with ``value``, or die by signal ``value``
    (its handler put back to the default first, so a shell loop stops as it does for nanoBragg.c)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if how == "signal":
        try:  # SIGKILL and SIGSTOP (a job the kernel killed) have no handler to reset
            _signal.signal(value, _signal.SIG_DFL)
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [value])
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), value)
        value = 128 + value
    os._exit(value)


def main():
    """The ``nbnumba`` command: through the worker if one answers, else in this process."""
    argv = sys.argv[1:]
    if worker_wanted():
        try:
            outcome = run_in_worker(argv)
        except KeyboardInterrupt:  # before the worker took the run (it stops a job whose client is gone)
            outcome = _interrupted([_signal.SIGINT])
        if outcome is not None:
            end_process(*outcome)
    gc.disable()  # start-up: no collection while the pipeline is imported (``cli.main._pause_collector``)
    from nbnumba.cli.main import run_command  # noqa: PLC0415 -- start-up: only when no worker ran it
    run_command(argv)


if __name__ == "__main__":
    main()
