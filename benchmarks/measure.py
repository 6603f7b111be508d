"""Run one command and measure its whole process tree: wall time, CPU time, peak RSS.

- CPU: ``os.wait4`` on the child gives the user + system time of the child and of every
  descendant it waited for, exactly. Parse workers forked by a fork server are the fork
  server's children, and the crawl never waits for the fork server, so their time is not in
  it: psutil also samples every process of the tree (its last value before it ends, at most
  ``SAMPLE_EVERY`` stale), and the larger of the two totals counts. ``main_cpu`` is the root
  process's own time at its last sample (the crawl's main process, without its workers).
- Peak RSS of the tree: psutil samples the child and all its descendants every 50 ms and keeps
  the largest sum of RSS (and, every 250 ms, of PSS, which counts shared pages once).
  Without psutil (the smoke test in CI) only the largest single process's RSS is known.
- Bounded: the command is killed (by pid, then its children by pid) after ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import psutil
except ImportError:  # CI installs only .[test]; the smoke test runs without it
    psutil = None

SAMPLE_EVERY = 0.05
PSS_EVERY = 0.25


@dataclass
class Measured:
    returncode: int
    wall: float
    cpu: float  # user + system seconds of the whole tree
    main_cpu: float  # user + system seconds of the root process alone (sampled; 0 without psutil)
    peak_rss: int  # bytes, sum over the tree (max single process without psutil)
    peak_pss: int  # bytes, sum over the tree (0 without psutil)
    tree_sampled: bool
    timed_out: bool
    max_procs: int


def _tree(proc):
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def run_measured(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout: float,
) -> Measured:
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        started = time.monotonic()
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
    pid = child.pid
    proc = psutil.Process(pid) if psutil else None
    peak_rss = peak_pss = max_procs = 0
    timed_out = False
    last_pss = 0.0
    last_cpu: dict[int, float] = {}  # pid -> its own user + system seconds at its last sample
    status = rusage = None
    while True:
        got, status, rusage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            break
        now = time.monotonic()
        if now - started > timeout:
            timed_out = True
            _kill_tree(pid, proc)
            _, status, rusage = os.wait4(pid, 0)
            break
        if proc is not None:
            procs = _tree(proc)
            max_procs = max(max_procs, len(procs))
            rss = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
                    times = p.cpu_times()
                    last_cpu[p.pid] = times.user + times.system
            peak_rss = max(peak_rss, rss)
            if now - last_pss >= PSS_EVERY:
                last_pss = now
                pss = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error, AttributeError):
                        pss += p.memory_full_info().pss
                peak_pss = max(peak_pss, pss)
        time.sleep(SAMPLE_EVERY)
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = max(rusage.ru_utime + rusage.ru_stime, sum(last_cpu.values()))
    if proc is None:
        peak_rss = rusage.ru_maxrss * 1024
    return Measured(
        returncode=child.returncode,
        wall=wall,
        cpu=cpu,
        main_cpu=last_cpu.get(pid, 0.0),
        peak_rss=peak_rss,
        peak_pss=peak_pss,
        tree_sampled=proc is not None,
        timed_out=timed_out,
        max_procs=max_procs,
    )


def _kill_tree(pid: int, proc) -> None:
    children = []
    if proc is not None:
        with contextlib.suppress(psutil.Error):
            children = proc.children(recursive=True)
    for sig_pid in [pid, *(c.pid for c in children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sig_pid, signal.SIGKILL)
