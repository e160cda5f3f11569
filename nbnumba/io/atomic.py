# SPDX-License-Identifier: BSD-3-Clause
"""Output files: atomic writes onto regular files, straight writes into devices and FIFOs.

What happens depends on what the output path is:

- absent, or a regular file: the data go to a new temporary file in the target's folder, created
  exclusively (``O_CREAT|O_EXCL``, never through a symlink) under an unpredictable name
  ``.NAME.PID-HOST.RANDOM.tmp``, and are renamed onto the target once complete, so the target only
  ever holds a whole file. A replaced file keeps its permission bits (and, where allowed, its owner
  and group); a new file gets ``0666`` less the umask, as ``fopen`` gives it.
- a symlink (or a chain of them): followed to its final target, which is then written as above; the
  link stays a link. A dangling link creates its target.
- a character or block device or a FIFO (``/dev/null``, a named pipe): opened for writing and written
  straight into, as nanoBragg.c's ``fopen(name, "wb")`` does; nothing is renamed over it.
- a folder or a socket: refused (InputError).

A process killed while writing (SIGKILL) leaves its temporary file behind; the next write to the same
target removes the temporaries of that name whose process is no longer running on this machine (the
PID and a host tag are in the name; each folder is listed once per process; a zombie, killed but not
yet reaped, is no longer running). While a temporary file exists, SIGTERM and SIGHUP (when left at
their default action) remove it before the process ends by the signal.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import tempfile
import threading
from typing import BinaryIO, Iterator, Union

from nbnumba.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

#: output kinds (see :func:`output_kind`)
ABSENT, REGULAR, STREAM = "absent", "regular file", "device or FIFO"
#: longest file name (bytes) most file systems take; a temporary name is kept within it
_NAME_MAX = 255
#: bytes a temporary name adds to the target's name: '.', '.PID' (<= 7 digits), '-HOST', '.RANDOM', '.tmp'
_TEMP_OVERHEAD = 1 + 8 + 7 + 13 + 4
#: a temporary file of this module: ``.NAME.PID-HOST.RANDOM.tmp`` (an older ``.NAME.PID.tmp`` could be a
#: user's own file, and is never removed)
TEMP_NAME = re.compile(r"^\.(?P<name>.+?)\.(?P<pid>[0-9]+)-(?P<host>[0-9a-f]{6})\.(?P<random>[0-9a-f]{12})\.tmp$",
                       re.ASCII | re.DOTALL)
#: signals that end the process by default and remove the live temporary files first
CLEANUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def host_tag() -> str:
    """Six hex digits naming this machine (a hash of its host name) in temporary names: a temporary
    file is only removed as stale by a process on the machine whose PIDs it names."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:6]


_HOST = host_tag()


def _message(path: PathLike, exc: BaseException) -> str:
    return f"cannot write {os.fspath(path)}: {getattr(exc, 'strerror', None) or exc}"


# ---------------------------------------------------------------- what the output path is

def output_kind(path: PathLike) -> tuple[str, str]:
    """What writing `path` would write to: ``(kind, target)``.

    ``target`` is `path`, or for a symlink the end of its chain; ``kind`` is ``ABSENT``, ``REGULAR`` or
    ``STREAM`` (character or block device, FIFO).

    Raises
    ------
    InputError
        For a folder, a socket, a symlink loop, no file name, or a folder that does not exist.
    """
    given = os.fspath(path)
    target = given
    if not os.path.basename(target):
        folder = os.path.dirname(target) or "."
        if not os.path.isdir(folder):
            raise InputError(f"cannot write {given}: folder {folder} does not exist")
        raise InputError(f"cannot write {given}: expected a file name, got a folder")
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(_message(given, exc)) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(target)
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            info = None  # a dangling link: its target is created
        except OSError as exc:
            raise InputError(_message(given, exc)) from None
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise InputError(f"cannot write {given}: too many levels of symbolic links (a symlink loop)")
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {given}: folder {folder} does not exist")
    if info is None:
        return ABSENT, target
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return REGULAR, target
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        return STREAM, target
    if stat.S_ISDIR(mode):
        raise InputError(f"cannot write {given}: it is a folder, expected a file name")
    raise InputError(f"cannot write {given}: it is a socket or other special file, not a file, device or FIFO")


def check_writable(path: PathLike) -> None:
    """Raise InputError now if `path` could not be written later: a missing folder, no file name, a
    folder or socket in the way, a symlink loop. Devices and FIFOs are accepted (written straight into)."""
    output_kind(path)


# ---------------------------------------------------------------- temporary files and their clean-up

#: temporary files of this process that exist now (removed by SIGTERM/SIGHUP before the process ends)
_LIVE: set = set()
#: the handler each signal had before this module put its own in place (while it is in place)
_ORIGINAL: dict = {}
#: signals received while ``deferred_signals`` holds them back (None: not holding back)
_PENDING = None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _remove_live() -> None:
    for temp in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(temp)
    _LIVE.clear()


def _on_signal(signum, frame):
    """This module's handler: record the signal while held back, else act on it."""
    if _PENDING is not None:
        _PENDING.append(signum)
        return
    _deliver(signum, frame)


def _deliver(signum, frame, originals=None):
    """Act on a signal as its original handler would, removing the live temporary files first when that
    handler is the default action of SIGTERM or SIGHUP (the process then ends by the same signal)."""
    original = (_ORIGINAL if originals is None else originals).get(signum, signal.SIG_DFL)
    if callable(original) and original is not _on_signal:
        original(signum, frame)
        return
    if original == signal.SIG_IGN:
        return
    if signum in CLEANUP_SIGNALS:
        _remove_live()
    _update_handlers(force_original=True)
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _wanted(signum) -> bool:
    original = _ORIGINAL.get(signum)
    if original is None:
        try:
            original = signal.getsignal(signum)
        except (ValueError, OSError):
            return False
    if original is None or original == signal.SIG_IGN:
        return False  # set outside Python, or ignored: leave it
    if _PENDING is not None:
        return True
    return signum in CLEANUP_SIGNALS and original == signal.SIG_DFL and bool(_LIVE)


def _update_handlers(force_original: bool = False) -> None:
    """Put this module's handler in place where it is wanted (live temporaries and a default SIGTERM or
    SIGHUP; any of SIGINT, SIGTERM, SIGHUP while held back), and the original everywhere else."""
    if not _main_thread():
        return
    for signum in (signal.SIGINT,) + CLEANUP_SIGNALS:
        try:
            if not force_original and _wanted(signum):
                if signum not in _ORIGINAL:
                    current = signal.getsignal(signum)
                    signal.signal(signum, _on_signal)
                    _ORIGINAL[signum] = current
            elif signum in _ORIGINAL:
                original = _ORIGINAL.pop(signum)
                if signal.getsignal(signum) is _on_signal:
                    signal.signal(signum, original)
        except (ValueError, OSError):  # not the main interpreter
            pass


@atexit.register
def _remove_live_temps() -> None:
    """At interpreter exit (an uncaught exception, sys.exit) no temporary file of this process is left."""
    _remove_live()


def _register(temp: str) -> None:
    _LIVE.add(temp)
    _update_handlers()


def _unregister(temp: str) -> None:
    if temp in _LIVE:
        _LIVE.discard(temp)
        if not _LIVE:
            _update_handlers()


def _temp_stem(name: str) -> str:
    """The target's name as it appears in its temporary names (cut so that they fit in 255 bytes)."""
    raw = os.fsencode(name)
    room = _NAME_MAX - _TEMP_OVERHEAD
    return name if len(raw) <= room else os.fsdecode(raw[:room])


def _create_temp(folder: str, name: str, mode: int = 0o666) -> tuple[int, str]:
    """Create a new empty temporary file for `name` in `folder`, exclusively; (fd, path)."""
    folder = os.path.abspath(folder)  # (a chdir during the write changes nothing)
    prefix = ".%s.%d-%s." % (_temp_stem(name), os.getpid(), _HOST)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        temp = os.path.join(folder, prefix + secrets.token_hex(6) + ".tmp")
        try:
            fd = os.open(temp, flags, mode)
        except FileExistsError:
            continue
        _register(temp)
        return fd, temp
    raise FileExistsError(f"no free temporary name in {folder}")


def _match_mode(fd: int, target: str) -> None:
    """Give the new file the permission bits (and, where allowed, the owner) of the file it replaces."""
    try:
        old = os.stat(target)
    except OSError:
        return
    if stat.S_ISREG(old.st_mode):
        with contextlib.suppress(OSError):
            os.fchmod(fd, stat.S_IMODE(old.st_mode))
        new = os.fstat(fd)
        if (new.st_uid, new.st_gid) != (old.st_uid, old.st_gid):
            with contextlib.suppress(OSError):
                os.fchown(fd, old.st_uid, old.st_gid)
            with contextlib.suppress(OSError):  # chown clears set-id bits
                os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` can still write: it exists and is not a zombie. A killed process stays a
    zombie until its parent reaps it, and in a container whose init does not reap orphans (a killed
    MPI rank's proxy, say) that is never; its files are closed, so its temporaries are stale."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        pass
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether every thread of ``pid`` has exited (Linux /proc; False where that cannot be read). The
    first thread shows as a zombie while the others still run, so each thread is read."""
    try:
        threads = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    for tid in threads:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid), "rb") as stat_file:
                state = stat_file.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # this thread has gone meanwhile
        if state not in (b"Z", b"X"):
            return False
    return bool(threads)


#: per folder (real path, device, inode) listed: {target's name: [names of its temporary files]}
_LISTED: dict = {}
_LISTED_KEPT = 4096


def _stale_candidates(folder: str) -> dict:
    try:
        info = os.stat(folder)
    except OSError:
        return {}
    key = (os.path.realpath(folder), info.st_dev, info.st_ino)
    found = _LISTED.get(key)
    if found is None:
        found = {}
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".tmp") and entry.name.startswith("."):
                        match = TEMP_NAME.match(entry.name)
                        if match is not None:
                            found.setdefault(match["name"], []).append(entry.name)
        except OSError:
            return {}
        if len(_LISTED) >= _LISTED_KEPT:
            _LISTED.clear()
        _LISTED[key] = found
    return found


def forget_listings() -> None:
    """Forget the folders listed so far: the next write into each lists it again (a batch starts so)."""
    _LISTED.clear()


def remove_stale_temps(paths) -> None:
    """Remove the temporary files that writing ``paths`` left behind in processes that were killed
    (SIGKILL, a power cut): those named for the same target whose PID no longer runs on this machine.
    Each folder is listed once per process (the first time), so calling this for every file of a long
    batch costs one listing per folder. Temporary files of other machines (another host tag) and of
    running processes are left alone. Errors are ignored."""
    for path in paths:
        try:
            _, target = output_kind(path)
        except InputError:
            continue
        _remove_stale(os.path.dirname(os.path.abspath(target)), os.path.basename(target))


def _remove_stale(folder: str, name: str) -> None:
    candidates = _stale_candidates(folder)
    names = candidates.get(_temp_stem(name))
    if not names:
        return
    for entry in list(names):
        match = TEMP_NAME.match(entry)
        path = os.path.join(folder, entry)
        if match["host"] != _HOST or _process_alive(int(match["pid"])) or path in _LIVE:
            continue
        with contextlib.suppress(OSError):
            os.unlink(path)
        names.remove(entry)


# ---------------------------------------------------------------- signals held back during library calls

@contextlib.contextmanager
def deferred_signals():
    """Hold back SIGINT, SIGTERM and SIGHUP during the block and act on them at its end.

    Needed around h5py: a KeyboardInterrupt raised while h5py runs one of its weak-reference callbacks
    is printed as "Exception ignored ..." and lost, and the run carries on to exit 0. Inside the block
    a signal is only recorded; when the block ends, it is handled as it would have been (Ctrl-C raises
    KeyboardInterrupt; SIGTERM at its default removes the temporary files and ends the process).
    Nested blocks, and threads other than the main thread, run unchanged."""
    global _PENDING
    if _PENDING is not None or not _main_thread():
        yield
        return
    _PENDING = []
    _update_handlers()
    try:
        yield
    finally:
        pending, _PENDING = _PENDING, None
        originals = dict(_ORIGINAL)
        _update_handlers()
        if pending:
            _deliver(pending[0], None, originals)  # may raise KeyboardInterrupt, or end the process


# ---------------------------------------------------------------- writers

def _open_stream(target: str, given: PathLike) -> BinaryIO:
    """Open a device or FIFO for writing, as fopen(name, "wb") does (blocks until a FIFO has a reader)."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(_message(given, exc)) from exc
    return os.fdopen(fd, "wb")


def _new_temp(target: str, given: PathLike) -> tuple[int, str]:
    folder, name = os.path.split(target)
    folder = folder or "."
    _remove_stale(os.path.abspath(folder), name)
    try:
        fd, temp = _create_temp(folder, name)
    except OSError as exc:
        raise InputError(_message(given, exc)) from exc
    try:
        _match_mode(fd, target)
    except BaseException:
        os.close(fd)
        discard(temp)
        raise
    return fd, temp


#: inside ``all_or_nothing``: the finished temporary files waiting for their rename, ``(temp, target, path)``
_DEFERRED = None


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Write several files as one: inside the block, a finished file is not renamed onto its target yet;
    when the block ends without an exception every one is renamed, in order, and if it raises (a later
    output failed, Ctrl-C) every one is removed and no target has changed. Devices and FIFOs are written
    straight into, as always. A nested block joins the outer one."""
    global _DEFERRED
    if _DEFERRED is not None:
        yield
        return
    _DEFERRED = pending = []
    try:
        yield
    except BaseException:
        _DEFERRED = None
        for temp, _, _ in pending:
            discard(temp)
        raise
    _DEFERRED = None
    # the renames as one step: Ctrl-C between two of them would replace some targets and not others
    with deferred_signals():
        for index, (temp, target, path) in enumerate(pending):
            try:
                os.replace(temp, target)
                _unregister(temp)
            except BaseException as exc:
                for later, _, _ in pending[index:]:
                    discard(later)
                if isinstance(exc, OSError):  # cannot be undone for the targets renamed before it
                    raise InputError(_message(path, exc)) from exc
                raise


def temporary_path(path: PathLike) -> tuple[str, str]:
    """For writers that need a file name rather than a file object (HDF5): ``(target, temp)``.

    ``temp`` is a new empty file, created exclusively: in the target's folder for a regular or absent
    target, in the system's temporary folder for a device or FIFO. Write ``temp``, then
    ``replace(temp, target)`` (a rename, or for a device or FIFO a copy of the bytes into it); on
    failure ``discard(temp)``.

    Raises
    ------
    InputError
        As :func:`output_kind`, or if the temporary file cannot be created.
    """
    kind, target = output_kind(path)
    if kind == STREAM:
        try:
            fd, temp = _create_temp(tempfile.gettempdir(), os.path.basename(target), 0o600)
        except OSError as exc:
            raise InputError(_message(path, exc)) from exc
    else:
        fd, temp = _new_temp(target, path)
    os.close(fd)
    return target, temp


def replace(temp: str, path: PathLike) -> None:
    """Move the finished ``temp`` onto ``path`` (the target ``temporary_path`` returned): a rename, or
    for a device or FIFO a copy of its bytes into it. InputError if that fails; ``temp`` is removed
    in every case."""
    try:
        try:
            kind = output_kind(path)[0]
        except InputError:
            kind = None
        if kind == STREAM:
            with open(temp, "rb") as source, _open_stream(os.fspath(path), path) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            discard(temp)
        elif _DEFERRED is not None:
            _DEFERRED.append((temp, os.fspath(path), path))
        else:
            os.replace(temp, os.fspath(path))
            _unregister(temp)
    except BaseException as exc:
        discard(temp)
        if isinstance(exc, OSError):
            raise InputError(_message(path, exc)) from exc
        raise


def discard(temp: str) -> None:
    """Remove a temporary file, ignoring a missing one."""
    with contextlib.suppress(OSError):
        os.unlink(temp)
    _unregister(temp)


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces `path` only once the block ends without an exception.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace (or the device or FIFO to write into; see the module docstring).
        Its folder must exist.

    Yields
    ------
    BinaryIO
        A file object open for writing on a temporary file in the target's folder (on the device or
        FIFO itself for those).

    Raises
    ------
    InputError
        If the folder does not exist, the path is a folder or socket, or the file cannot be created,
        written or renamed (an OSError inside the block, a full disk, becomes this one-line error).
        Any other exception raised inside the block (KeyboardInterrupt included) removes the temporary
        file and propagates unchanged; `path` is left as it was.
    """
    kind, target = output_kind(path)
    if kind == STREAM:
        handle = _open_stream(target, path)
        try:
            with handle:
                yield handle
        except OSError as exc:
            raise InputError(_message(path, exc)) from exc
        return
    fd, temp = _new_temp(target, path)
    try:
        handle = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        discard(temp)
        raise
    try:
        with handle:
            yield handle
    except BaseException as exc:
        discard(temp)
        if isinstance(exc, OSError):  # a write or the close failed (a full disk): as for a device
            raise InputError(_message(path, exc)) from exc
        raise
    if _DEFERRED is not None:
        _DEFERRED.append((temp, target, path))
        return
    try:
        os.replace(temp, target)
        _unregister(temp)
    except BaseException as exc:
        discard(temp)
        if isinstance(exc, OSError):
            raise InputError(_message(path, exc)) from exc
        raise


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (all or nothing); straight into a device or FIFO.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace. Its folder must exist.
    data : bytes-like
        The complete new content.

    Raises
    ------
    InputError
        If the folder does not exist or the file cannot be written.
    """
    with atomic_open(path) as handle:
        handle.write(data)
