"""A full disk, on demand, for one test: Python imports this module at start-up when this folder
is on PYTHONPATH. Files whose path contains $SCRAPER_TEST_ENOSPC share $SCRAPER_TEST_ENOSPC_AFTER
bytes of space (in this process). As on a real full disk, a write that does not fit writes the
part that does and reports that short count; the next write fails with ENOSPC."""

import errno
import os

_target = os.environ.get("SCRAPER_TEST_ENOSPC")

if _target:
    _limit = int(os.environ.get("SCRAPER_TEST_ENOSPC_AFTER", "0"))
    _real_open, _real_write = os.open, os.write
    _watched: set[int] = set()
    _written = [0]

    def _open(path, flags, mode=0o777, *, dir_fd=None):
        fd = _real_open(path, flags, mode, dir_fd=dir_fd)
        if _target in os.fspath(path):
            _watched.add(fd)
        else:
            _watched.discard(fd)
        return fd

    def _write(fd, data):
        if fd in _watched:
            room = _limit - _written[0]
            if room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written = _real_write(fd, memoryview(data)[:room])
            _written[0] += written
            return written
        return _real_write(fd, data)

    os.open = _open
    os.write = _write

# The same for SQLite, which writes from C: databases whose path contains
# $SCRAPER_TEST_SQLITE_FULL may grow to $SCRAPER_TEST_SQLITE_PAGES pages, past which SQLite
# says "database or disk is full", as it does on a full disk.
_sqlite_target = os.environ.get("SCRAPER_TEST_SQLITE_FULL")

if _sqlite_target:
    import sqlite3

    _pages = int(os.environ.get("SCRAPER_TEST_SQLITE_PAGES", "0"))
    _real_connect = sqlite3.connect

    def _connect(database, *args, **kwargs):
        connection = _real_connect(database, *args, **kwargs)
        if _sqlite_target in os.fspath(database):
            connection.execute(f"PRAGMA max_page_count = {_pages}")
        return connection

    sqlite3.connect = _connect
