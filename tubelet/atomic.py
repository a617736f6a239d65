"""Whole files or none: every file tubelet writes (checkpoints, weights, downloads' records, command outputs) goes
through :func:`write_atomically`, and every folder it writes into can be cleared of the temporaries of writers that
were killed (:func:`remove_stale_temporaries`).

A file is written to ``DIR/.NAME.tmpPID`` beside its final name, flushed to disk, then renamed over the final name
(``os.replace``, atomic on POSIX and Windows): killing the process at any moment leaves either the old file or the
new one, never a torn one, and the temporary's pid tells a later run whether its writer is still alive.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Callable, IO

__all__ = ["write_atomically", "write_text", "write_bytes", "temporary_name", "remove_stale_temporaries"]

_log = logging.getLogger("tubelet")

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp(?P<pid>\d+)$")


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not supported on this platform / file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path: str | os.PathLike) -> str:
    """``DIR/.NAME.tmpPID``: where this process writes ``path`` before renaming it (the pid tells whose it is)."""
    path = Path(path)
    return str(path.with_name(f".{path.name}.tmp{os.getpid()}"))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # a process of another user (or an unknowable pid): leave its file alone
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Delete ``.NAME.tmpPID`` files left in ``folder`` by processes that died mid-write (SIGKILL, power loss);
    files of running processes are left alone. Returns the removed paths."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _alive(int(m.group("pid"))):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    if removed:
        _log.info("removed %d temporary file(s) of interrupted saves: %s", len(removed), ", ".join(removed))
    return removed


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """``write(f)`` into a pid-named temporary beside ``path`` (:func:`temporary_name`), flushed to disk, then renamed
    over ``path``: a reader, or a rerun after a kill, sees the whole file or none (the temporary of a killed writer is
    removed by :func:`remove_stale_temporaries`). The file gets the mode of any new file (0o666 less the umask)."""
    path = Path(path)
    tmp = Path(temporary_name(path))
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`write_atomically` of ``data``."""
    return write_atomically(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`write_atomically` of ``text`` as UTF-8."""
    return write_atomically(path, lambda f: f.write(text.encode("utf-8")))
