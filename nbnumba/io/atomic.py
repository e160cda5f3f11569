# SPDX-License-Identifier: BSD-3-Clause
"""Atomic file writes: data go to a temporary file in the target's folder, renamed onto the target at the end."""
from __future__ import annotations

import contextlib
import os
from typing import BinaryIO, Iterator, Union

from nbnumba.errors import InputError

PathLike = Union[str, "os.PathLike[str]"]


def _target_and_temp(path: PathLike) -> tuple[str, str]:
    """Resolve the file to replace and the temporary file next to it; check that the folder exists."""
    target = os.fspath(path)
    if os.path.islink(target):
        target = os.path.realpath(target)
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {os.fspath(path)}: folder {folder} does not exist")
    name = os.path.basename(target)
    if not name:
        raise InputError(f"cannot write {os.fspath(path)}: expected a file name, got a folder")
    return target, os.path.join(folder, f".{name}.{os.getpid()}.tmp")


def check_writable(path: PathLike) -> None:
    """Raise InputError now if `path` could not be written later (missing folder, no file name,
    a folder in the way)."""
    target, _ = _target_and_temp(path)
    if os.path.isdir(target):
        raise InputError(f"cannot write {os.fspath(path)}: it is a folder, expected a file name")


def _remove_quietly(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def temporary_path(path: PathLike) -> tuple[str, str]:
    """For writers that need a file name rather than a file object (HDF5): the file to replace and
    the temporary file next to it, ``(target, temp)``. Write ``temp``, then ``replace(temp, target)``;
    on failure ``discard(temp)``. Raises InputError if the folder does not exist."""
    return _target_and_temp(path)


def replace(temp: str, path: PathLike) -> None:
    """Rename the finished ``temp`` onto ``path`` (the target ``temporary_path`` returned); InputError if
    that fails, and the temporary file is removed."""
    try:
        os.replace(temp, os.fspath(path))
    except BaseException as exc:
        _remove_quietly(temp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
        raise


def discard(temp: str) -> None:
    """Remove a temporary file, ignoring a missing one."""
    _remove_quietly(temp)


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces `path` only once the block ends without an exception.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create or replace. Its folder must exist.

    Yields
    ------
    BinaryIO
        A file object open for writing on a temporary file in the same folder.

    Raises
    ------
    InputError
        If the folder does not exist or the temporary file cannot be created or renamed.
        Any exception raised inside the block (KeyboardInterrupt included) removes the
        temporary file and propagates unchanged; `path` is left as it was.
    """
    target, temp = _target_and_temp(path)
    try:
        handle = open(temp, "wb")
    except OSError as exc:
        raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
    except BaseException:
        _remove_quietly(temp)
        raise
    try:
        os.replace(temp, target)
    except BaseException as exc:
        _remove_quietly(temp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
        raise


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (all or nothing).

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
    try:
        with atomic_open(path) as handle:
            handle.write(data)
    except OSError as exc:
        raise InputError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from exc
