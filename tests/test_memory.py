"""The summary's memory figure: PSS of the process tree counts a shared page once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from scraper.memory import _rss, process_tree, tree_memory

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


def test_the_process_tree_holds_children_and_their_children():
    # A child that forks a grandchild (as the fork server forks workers), says its pid, and
    # ends it when told to.
    script = textwrap.dedent(
        """
        import os, sys, time
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(60)
            os._exit(0)
        print(grandchild, flush=True)
        sys.stdin.read()
        os.kill(grandchild, 9)
        os.waitpid(grandchild, 0)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        tree = process_tree(os.getpid())
        assert tree[0] == os.getpid()
        assert child.pid in tree and grandchild in tree
        assert process_tree(child.pid) == [child.pid, grandchild]
    finally:
        child.communicate("")
    assert process_tree(2**22 + 12345) == [2**22 + 12345]  # unreadable: the root alone


ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from scraper.memory import use_one_malloc_arena
    if sys.argv[1] == "one":
        use_one_malloc_arena()
    libc = ctypes.CDLL(None)
    libc.fdopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fflush.argtypes = [ctypes.c_void_p]
    together = threading.Barrier(8)
    kept = []
    def fetch_like():  # a body read in each thread, all threads alive at once
        kept.append(bytes(90_000))
        together.wait()
    threads = [threading.Thread(target=fetch_like) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tempfile.TemporaryFile() as fh:
        stream = libc.fdopen(fh.fileno(), b"w")
        libc.malloc_info(0, stream)
        libc.fflush(stream)
        fh.seek(0)
        print(fh.read().count(b"<heap nr="))
    """
)


@pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc's arenas")
def test_every_thread_of_the_crawl_process_allocates_from_one_arena():
    def arenas(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, check=True
        )
        return int(done.stdout)

    assert arenas("default") > 1  # glibc's own choice: an arena per new thread
    assert arenas("one") == 1
