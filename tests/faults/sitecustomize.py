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
