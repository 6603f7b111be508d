"""Profile our framework under a scenario with py-spy, and say where the time goes.

    python -m benchmarks.run --profile --no-bench [--scenarios fast,slow] [--scale 0.5]
    python -m benchmarks.profile gil.txt --active active.txt --pages N   # summarise again

py-spy samples every thread of the crawl process and of its parse workers (``--subprocesses
--threads``) 100 times a second; idle threads are not sampled, so samples are CPU (or waiting
for the GIL). A second pass with ``--gil`` samples only the thread holding the GIL: when the
first pass has many more main-process samples than the second, threads are queueing for the GIL.

The summary attributes each sample to a process (main or worker), a thread role (fetch thread,
parse-feed, parse-results, export, the executor's manager thread, the main thread) and a cost
category found by walking the stack from the leaf up (httpx, frontier, queues, IPC, export...).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

RATE = 100  # samples per second

ROLES = (  # first match from the root of the thread's stack
    ("_process_worker", "worker"),
    ("FetchPool._run", "fetch"),
    ("_run (scraper/fetch.py", "fetch"),
    ("ParseStage.feed", "parse-feed"),
    ("ParseStage.collect", "parse-results"),
    ("Queue._feed", "pool-queue-feeder"),
    ("_export", "export"),
    ("_ExecutorManagerThread", "pool-manager"),
    ("_wait_until_done", "main-wait"),
    ("start_requests", "main-seed"),
)
CATEGORIES = (  # first match from the leaf up
    ("callback", ("workload.py", "spider_ours.py", "bs4/", "lxml", "parsel", "selector")),
    ("ipc/pickle", ("multiprocessing/", "concurrent/futures", "pickle", "copyreg")),
    ("frontier", ("frontier.py", "sqlite")),
    ("queues", ("queues.py", "queue.py")),
    ("export", ("export.py", "json/", "pipeline.py")),
    ("stats", ("stats.py",)),
    ("retry/tenacity", ("tenacity",)),
    ("models/urls", ("models.py", "w3lib", "urllib/parse")),
    ("http client", ("httpx", "httpcore", "h11", "ssl.py", "socket.py", "selectors.py")),
    ("logging", ("logging/",)),
    ("threading", ("threading.py",)),
    ("engine", ("engine.py", "fetch.py", "parse.py")),
    ("import/startup", ("importlib", "<frozen", "site-packages/scraper/__init__", "spawn.py")),
)


def _role(stack: list[str]) -> str:
    for frame in stack:
        for needle, role in ROLES:
            if needle in frame:
                return role
    return "other"


def _category(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarize(raw: Path, pages: int = 0, gil_raw: Path | None = None) -> dict:
    by_role: Counter[tuple[str, str]] = Counter()
    by_cat: Counter[tuple[str, str]] = Counter()
    leaf_main: Counter[str] = Counter()
    cat_by_role: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        head, _, count_s = line.rpartition(" ")
        if not head or not count_s.isdigit() or not head.startswith("process "):
            continue
        count = int(count_s)
        frames = head.split(";")
        # py-spy names the line of descent first (crawl process; fork server; worker), then
        # the thread, then the stack: a sample below the crawl process is a worker's.
        named = [i for i, f in enumerate(frames) if f.startswith("process ")]
        kind = "main" if len(named) == 1 else "worker"
        thread = next((i for i in range(named[-1], len(frames)) if frames[i].startswith("thread")),
                      named[-1])  # fmt: skip
        stack = frames[thread + 1 :]
        role = _role(stack)
        if role == "worker":
            kind = "worker"
        cat = _category(stack)
        total[kind] += count
        by_role[(kind, role)] += count
        by_cat[(kind, cat)] += count
        if kind == "main":
            cat_by_role[role][cat] += count
            if stack:
                leaf_main[stack[-1].split(" (")[0] + " (" + stack[-1].rsplit("/", 1)[-1]] += count
    result = {
        "samples": dict(total),
        "cpu_seconds": {k: v / RATE for k, v in total.items()},
        "main_cpu_ms_per_page": (1000 * total["main"] / RATE / pages) if pages else None,
        "roles": {f"{k}/{r}": v for (k, r), v in by_role.most_common()},
        "categories": {f"{k}/{c}": v for (k, c), v in by_cat.most_common()},
        "main_by_role_and_category": {r: dict(c.most_common(8)) for r, c in cat_by_role.items()},
        "main_top_leaves": dict(leaf_main.most_common(15)),
    }
    if gil_raw is not None and gil_raw.is_file():
        gil = summarize(gil_raw, pages)
        result["gil_pass_samples"] = gil["samples"]
        main_active, main_gil = total["main"], gil["samples"].get("main", 0)
        result["main_active_over_gil"] = (main_active / main_gil) if main_gil else None
    return result


def summarize_both(gil_raw: Path, active_raw: Path, pages: int) -> dict:
    """The breakdown from the --gil pass (only the thread holding the GIL is sampled, so every
    sample is Python running: blocked threads, which py-spy cannot always tell from running
    ones, drop out), with the active pass's sample counts alongside for the GIL ratio."""
    s = summarize(gil_raw, pages)
    active = summarize(active_raw, pages)
    s["active_pass_samples"] = active["samples"]
    s["active_pass_roles"] = active["roles"]
    main_gil = s["samples"].get("main", 0)
    s["main_active_over_gil"] = active["samples"].get("main", 0) / main_gil if main_gil else None
    return s


def render(name: str, s: dict, pages: int) -> str:
    lines = [f"### {name}: py-spy, {pages} pages", ""]
    cpu = s["cpu_seconds"]
    lines.append(
        f"- Python running (GIL held): main process {cpu.get('main', 0):.1f} s, parse workers "
        f"{cpu.get('worker', 0):.1f} s"
        + (
            f"; main process {s['main_cpu_ms_per_page']:.2f} ms per page"
            if s.get("main_cpu_ms_per_page")
            else ""
        )  # fmt: skip
    )
    if s.get("main_active_over_gil"):
        lines.append(
            f"- main process: {s['active_pass_samples'].get('main', 0)} samples of non-idle "
            f"threads (a second pass) vs {s['samples'].get('main', 0)} holding the GIL: "
            f"{s['main_active_over_gil']:.2f} threads want to run per thread running"
        )
    main_total = max(1, s["samples"].get("main", 0))
    roles = [(k.split("/", 1)[1], v) for k, v in s["roles"].items() if k.startswith("main/")]
    lines.append("- main process by thread: " + ", ".join(
        f"{r} {100 * v / main_total:.0f}%" for r, v in roles))  # fmt: skip
    cats = [(k.split("/", 1)[1], v) for k, v in s["categories"].items() if k.startswith("main/")]
    lines.append("- main process by cost: " + ", ".join(
        f"{c} {100 * v / main_total:.0f}%" for c, v in cats[:10]))  # fmt: skip
    wtotal = max(1, s["samples"].get("worker", 0))
    wcats = [(k.split("/", 1)[1], v) for k, v in s["categories"].items()
             if k.startswith("worker/")]  # fmt: skip
    if wcats:
        lines.append("- workers by cost: " + ", ".join(
            f"{c} {100 * v / wtotal:.0f}%" for c, v in wcats[:6]))  # fmt: skip
    lines.append(
        "- main process, top leaf functions: "
        + ", ".join(
            f"{f} {100 * v / main_total:.0f}%" for f, v in list(s["main_top_leaves"].items())[:8]
        )
    )
    return "\n".join(lines) + "\n"


def profile_scenario(sc, site, outdir: Path, *, server_kind: str = "nginx") -> str | None:
    """Run ours once under py-spy (and once more with --gil); write and return the summary."""
    from . import run as bench

    pyspy = shutil.which("py-spy")
    if pyspy is None:
        print("py-spy not installed (pip install -e '.[bench]'): no profile", flush=True)
        return None
    outdir.mkdir(parents=True, exist_ok=True)
    raws = {}
    for mode in ("active", "gil"):
        raw = outdir / f"{mode}.txt"
        wrap = [pyspy, "record", "-o", str(raw), "-f", "raw", "-r", str(RATE),
                "--subprocesses", "--threads", "--nonblocking"]  # fmt: skip
        if mode == "gil":
            wrap.append("--gil")
        r = bench.run_one(sc, site, "ours", 0, outdir / mode, server_kind=server_kind,
                          naive_budget=0, wrap=[*wrap, "--"])  # fmt: skip
        raws[mode] = (raw, r)
    raw, r = raws["active"]
    s = summarize_both(raws["gil"][0], raw, r.pages)
    s["pages"] = r.pages
    s["wall"] = r.wall
    (outdir / "summary.json").write_text(json.dumps(s, indent=1))
    text = render(sc.name, s, r.pages)
    (outdir / "summary.md").write_text(text)
    print(text, flush=True)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gil_raw", type=Path, help="the --gil pass (gil.txt)")
    parser.add_argument("--active", type=Path, default=None, help="the plain pass (active.txt)")
    parser.add_argument("--pages", type=int, default=0)
    parser.add_argument("--name", default="profile")
    args = parser.parse_args(argv)
    if args.active:
        s = summarize_both(args.gil_raw, args.active, args.pages)
    else:
        s = summarize(args.gil_raw, args.pages)
    print(render(args.name, s, args.pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
