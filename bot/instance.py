"""One running bot per database.

Two bots on one database would both deliver the outbox, so every card and notice would
arrive twice. `whistle run` therefore holds an exclusive `flock` on a lock file beside the
database (`whistle.db` → `whistle.db.lock`) for as long as it runs. The operating system
releases the lock when the process ends, however it ends (`kill -9` included), so a lock
is never stale; the file itself stays behind and means nothing without the lock.

The lock is on a file of its own, not on the database: SQLite locks the database with
POSIX record locks, and those are dropped when the process closes *any* descriptor of the
file, so a second descriptor opened (and closed) here could silently undo SQLite's locks.
A separate file also survives the database being replaced by a restored backup.

The lock file sits beside the database's real path (symbolic links and other spellings of
the path resolved), so every name of the same path locks the same file. A hard link is
another path to the same file, so the bot also holds a `flock` on the database file itself,
through one descriptor kept open until the database is closed (flock and SQLite's POSIX
locks do not interfere, and that descriptor is never closed while SQLite holds locks).
The other commands (stats, backup, invite, org import) do not take the lock: they are
short and SQLite's own locking keeps them safe beside the running bot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from storage.db import DatabaseUnavailable, missing_folder


class CannotStart(Exception):
    """The bot cannot start; the message names the cause in one line, without the token."""


class AlreadyRunning(CannotStart):
    """Another process holds the database's lock; the message says which and what to do."""


def lock_path(database: Path) -> Path:
    real = Path(os.path.realpath(database))
    return real.with_name(real.name + ".lock")


class InstanceLock:
    """`acquire()` or raise AlreadyRunning; `release()` (or the process's end) frees it."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None
        self._database_fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self._lock_the_path()
        try:
            self._lock_the_file()
        except BaseException:
            self.release()
            raise

    def _lock_the_path(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise DatabaseUnavailable(missing_folder(self.database)) from None
        except OSError as error:
            raise DatabaseUnavailable(
                f"cannot create the lock file {self.path}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (process {holder})" if holder.isdigit() else ""
            raise AlreadyRunning(
                f"another whistle run{who} is already using {self.database}; "
                "stop it first (one bot per database)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def _lock_the_file(self) -> None:
        """The database file itself, whatever its name (a hard link has another): an
        empty new file is created if there is none, which SQLite takes as a new database."""
        try:
            fd = os.open(self.database, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as error:
            raise DatabaseUnavailable(
                f"cannot open the database {self.database}: {error.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another whistle run is already using the database file {self.database} "
                "under another name (a hard link or a copy of the path); stop it first "
                "(one bot per database)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._database_fd = fd

    def release(self) -> None:
        """Call after the database is closed (closing a descriptor of the database file
        would drop SQLite's own locks)."""
        for fd in (self._database_fd, self._fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        self._fd = self._database_fd = None
