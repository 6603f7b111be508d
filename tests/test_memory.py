"""The summary's memory figure: PSS of the process tree counts a shared page once."""

from __future__ import annotations

import os

from scraper.memory import _rss, tree_memory

SHARED = 64 * 2**20


def test_pages_shared_by_a_forked_child_count_once_in_pss_and_twice_in_rss():
    block = bytearray(os.urandom(1024)) * (SHARED // 1024)  # touched: resident, then shared
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    child = os.fork()
    if child == 0:  # the child shares the block copy-on-write, writes nothing, and waits
        os.write(ready_w, b"x")
        os.read(done_r, 1)
        os._exit(0)
    try:
        os.read(ready_r, 1)
        pids = [os.getpid(), child]
        pss = tree_memory(pids)
        rss = sum(_rss(pid) for pid in pids)
        assert pss.kind == "PSS"
        # RSS counts the shared block in both processes; PSS splits it between them.
        assert rss - pss.bytes > SHARED * 0.8, (rss, pss.bytes)
    finally:
        os.write(done_w, b"x")
        os.waitpid(child, 0)
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
    assert len(block) == SHARED


def test_a_process_that_cannot_be_read_falls_back_to_rss_and_says_so():
    gone = tree_memory([os.getpid(), 2**22 + 12345])  # no such pid
    assert gone.kind == "RSS" and gone.bytes == _rss(os.getpid())
