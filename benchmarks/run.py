"""Benchmarks: this framework against Scrapy and a naive sequential loop, in the same run.

    python -m benchmarks.run                                  # everything, 3 rounds
    python -m benchmarks.run --scale 0.2 --scenarios heavy,fast --repeat 1
    python -m benchmarks.run --profile                        # + py-spy profiles of ours

Every scenario's site is generated deterministically under the work folder (git-ignored), and
served by nginx (or the Python fault server for ``faults``) on 127.0.77.x, one fresh server per
run. Runners are interleaved (A B C A B C ...). Counts come from the server's own access log;
CPU and peak RSS from the whole process tree (``measure.py``). Prints the table and writes
``results.json`` and ``results.md`` in the run folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .measure import Measured, run_measured
from .scenarios import ALL, ORDER, SHAPES, Scenario, build, twins
from .servers import ServerConfig, make_server, nginx_available, read_log
from .sites import Site, generate

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DEFAULT_WORKDIR = HERE / ".work"
RUNNERS = ("ours", "scrapy", "naive")


def scrapy_available() -> bool:
    try:
        import scrapy  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class RunResult:
    scenario: str
    runner: str
    round: int
    wall: float
    cpu: float
    peak_rss: int
    peak_pss: int
    tree_sampled: bool
    returncode: int
    timed_out: bool
    requests: int
    pages: int  # unique pages served 200 (without a fault) during the run
    refetched: int  # 200s beyond the first for one URL
    n429: int
    status: dict[int, int]
    span: float  # server log: first request start to last answer
    min_gap: float | None
    gaps_below: int
    items: int
    unique_items: int
    articles: int
    server: str
    server_cpu: float
    partial: bool = False
    main_cpu: float = 0.0  # the root process alone (sampled): the crawl's main process
    extra: dict = field(default_factory=dict)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall if self.wall else 0.0

    @property
    def pages_per_s_span(self) -> float:
        return self.pages / self.span if self.span else 0.0

    @property
    def cpu_ms_per_page(self) -> float:
        return 1000.0 * self.cpu / self.pages if self.pages else 0.0

    @property
    def main_cpu_ms_per_page(self) -> float:
        return 1000.0 * self.main_cpu / self.pages if self.pages else 0.0

    @property
    def completeness(self) -> float:
        return self.unique_items / self.articles if self.articles else 0.0

    @property
    def duplicates(self) -> int:
        return self.items - self.unique_items


FRAMEWORK_PATH: Path | None = None  # a snapshot of scraper/ to measure instead of the tree


def snapshot_framework(rev: str, workdir: Path) -> Path:
    """``git archive REV scraper`` into the work folder: a stable framework to measure while
    the working tree changes under other hands. Returns the folder to put first on sys.path."""
    import subprocess

    sha = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()  # fmt: skip
    dest = workdir / "framework" / sha[:12]
    if not (dest / "scraper" / "__init__.py").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "scraper"], cwd=ROOT, check=True,
                                 capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def compile_sources() -> None:
    """Write the bytecode of what our runners import from source (the framework, the spiders
    and workloads), as ``pip install`` does for Scrapy and every other installed package. With
    PYTHONDONTWRITEBYTECODE set (as on our machines) each crawl otherwise compiled the framework
    again: about 0.05 s of CPU at the start of each process that imports it."""
    import compileall

    for folder in (FRAMEWORK_PATH or ROOT) / "scraper", ROOT / "benchmarks":
        compileall.compile_dir(folder, quiet=1)


def env_for_children() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    paths = [str(FRAMEWORK_PATH)] if FRAMEWORK_PATH else []
    paths += [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONHASHSEED"] = "0"
    if FRAMEWORK_PATH:
        # ``python -m`` puts its working folder (ROOT, which holds the working tree's scraper/)
        # before PYTHONPATH, which measured the working tree instead of the snapshot.
        env["PYTHONSAFEPATH"] = "1"
    return env


def command(
    runner: str, sc: Scenario, urls: list[str], out: Path, naive_budget: float
) -> list[str]:
    py = sys.executable
    if runner.startswith("ours"):
        # Scrapy checks no certificate by default; ours does unless told not to.
        insecure = {"DOWNLOAD_VERIFY": "false"} if sc.tls else {}
        settings = {**sc.ours, **insecure, **sc.variants.get(runner, {})}
        cmd = [py, "-m", "scraper", str(HERE / "spider_ours.py"), "-O", str(out)]
        cmd += ["-a", f"start_urls={','.join(urls)}", "-a", f"work={sc.work}"]
        for k, v in settings.items():
            cmd += ["-s", f"{k}={v}"]
        return cmd
    if runner == "scrapy":
        cmd = [py, "-m", "scrapy", "runspider", str(HERE / "spider_scrapy.py"), "-O", str(out)]
        cmd += ["-a", f"start_urls={','.join(urls)}", "-a", f"work={sc.work}"]
        for k, v in sc.scrapy.items():
            cmd += ["-s", f"{k}={v}"]
        return cmd
    if runner == "naive":
        timeout = sc.ours.get("DOWNLOAD_TIMEOUT", "10")
        return [
            py, "-m", "benchmarks.naive", "--work", sc.work, "--out", str(out),
            "--start-urls", ",".join(urls), "--rate", str(sc.naive_rate),
            "--timeout", timeout, "--max-seconds", str(naive_budget),
            *(["--insecure"] if sc.tls else []),
        ]  # fmt: skip
    raise ValueError(runner)


def count_items(path: Path) -> tuple[int, int]:
    if not path.is_file():
        return 0, 0
    urls = []
    with open(path) as f:
        for line in f:
            if line.strip():
                urls.append(json.loads(line).get("url"))
    return len(urls), len(set(urls))


def run_one(
    sc: Scenario,
    site: Site,
    runner: str,
    rnd: int,
    rundir: Path,
    *,
    server_kind: str,
    naive_budget: float,
    wrap: list[str] | None = None,
) -> RunResult:
    rundir.mkdir(parents=True, exist_ok=True)
    faults_path = None
    if sc.faults:
        faults_path = rundir / "faults.json"
        faults_path.write_text(json.dumps(site.faults))
    config = ServerConfig(
        root=site.root, addrs=site.addrs, delay=sc.delay, rate=sc.rate, burst=sc.burst,
        faults=faults_path, tls=sc.tls,
    )  # fmt: skip
    server = make_server(config, rundir / "server", prefer=server_kind)
    (rundir / "server").mkdir(parents=True, exist_ok=True)
    out = rundir / "items.jsonl"
    with server:
        cmd = command(runner, sc, server.urls(), out, naive_budget)
        if wrap:
            cmd = [*wrap, *cmd]
        (rundir / "cmd.txt").write_text(" ".join(cmd) + "\n")
        cpu0 = server.cpu_seconds()
        load0 = os.getloadavg()[0]
        m: Measured = run_measured(
            cmd, cwd=ROOT, env=env_for_children(), stdout=rundir / "stdout.txt",
            stderr=rundir / "stderr.txt", timeout=sc.timeout,
        )  # fmt: skip
        server_cpu = server.cpu_seconds() - cpu0
        load1 = os.getloadavg()[0]
    spacing = 1.0 / sc.rate if sc.rate else 0.0
    log = read_log(server.log_path, spacing)
    items, unique = count_items(out)
    partial = False
    if runner == "naive":
        with contextlib.suppress(IndexError, ValueError, KeyError):
            partial = json.loads((rundir / "stderr.txt").read_text().splitlines()[-1])["partial"]
    return RunResult(
        scenario=sc.name, runner=runner, round=rnd, wall=m.wall, cpu=m.cpu,
        main_cpu=m.main_cpu,
        peak_rss=m.peak_rss, peak_pss=m.peak_pss, tree_sampled=m.tree_sampled,
        returncode=m.returncode, timed_out=m.timed_out, requests=log.requests,
        pages=log.unique_ok, refetched=log.ok_pages - log.unique_ok, n429=log.n429,
        status=log.status, span=log.span, min_gap=log.min_gap, gaps_below=log.gaps_below,
        items=items, unique_items=unique, articles=site.articles, server=server.kind,
        server_cpu=server_cpu, partial=partial,
        extra={"loadavg_1m": [round(load0, 2), round(load1, 2)], "peak_procs": m.max_procs},
    )  # fmt: skip


# -- aggregation and the table -----------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def rng(values: list[float], fmt: str = "{:.0f}") -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def efficiency(r: RunResult, sc: Scenario, hosts: int, on: str = "span") -> float:
    """Ideal crawl time (pages / (hosts * rate)) over the time taken.

    ``span``: first request start to last answer at the server, plus one interval (n requests
    paced exactly take (n-1)/rate); ``wall``: the whole process, start-up included."""
    if not sc.rate or not r.pages:
        return 0.0
    ideal = r.pages / (hosts * sc.rate)
    taken = r.span + 1.0 / sc.rate if on == "span" else r.wall
    return ideal / taken


def summarize(results: list[RunResult], scenarios: dict[str, Scenario], sites: dict[str, Site]):
    rows = []
    by: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        by.setdefault((r.scenario, r.runner), []).append(r)
    for name in [n for n in ALL if any(k[0] == n for k in by)]:
        sc = scenarios[name]
        hosts = sc.site.hosts
        scrapy_runs = by.get((name, "scrapy"), [])
        scrapy_pps = med([r.pages_per_s for r in scrapy_runs])
        scrapy_rss = max((r.peak_rss for r in scrapy_runs), default=0)
        order = {r: i for i, r in enumerate(RUNNERS)}
        keys = sorted((k for k in by if k[0] == name), key=lambda k: (order.get(k[1], 9), k[1]))
        for sname, runner in keys:
            runs = by[(sname, runner)]
            pps = [r.pages_per_s for r in runs]
            row = {
                "scenario": name,
                "runner": runner,
                "runs": len(runs),
                "pages": med([r.pages for r in runs]),
                "pages_per_s": med(pps),
                "pages_per_s_min": min(pps),
                "pages_per_s_max": max(pps),
                "pages_per_s_span": med([r.pages_per_s_span for r in runs]),
                "ratio_vs_scrapy": (med(pps) / scrapy_pps) if scrapy_pps else None,
                "wall": med([r.wall for r in runs]),
                "network_floor_s": sc.network_floor(),
                "cpu_ms_per_page": med([r.cpu_ms_per_page for r in runs]),
                "main_cpu_ms_per_page": med([r.main_cpu_ms_per_page for r in runs]),
                "peak_rss_mb": max(r.peak_rss for r in runs) / 2**20,
                "peak_pss_mb": max(r.peak_pss for r in runs) / 2**20,
                "rss_vs_scrapy": (max(r.peak_rss for r in runs) / scrapy_rss)
                if scrapy_rss
                else None,
                "n429": sum(r.n429 for r in runs),
                "completeness": min(r.completeness for r in runs),
                "duplicates": max(r.duplicates for r in runs),
                "refetched": max(r.refetched for r in runs),
                "partial": any(r.partial for r in runs),
                "failed": sum(1 for r in runs if r.returncode != 0 or r.timed_out),
                "server_cpu_share": max(r.server_cpu / r.wall for r in runs if r.wall),
                "text": {
                    "pps": rng(pps),
                    "cpu": rng([r.cpu_ms_per_page for r in runs], "{:.2f}"),
                    "main_cpu": rng([r.main_cpu_ms_per_page for r in runs], "{:.2f}"),
                    "rss": rng([r.peak_rss / 2**20 for r in runs]),
                    "pss": rng([r.peak_pss / 2**20 for r in runs]),
                },
            }
            if sc.rate:
                effs = [efficiency(r, sc, hosts) for r in runs]
                row["efficiency"] = med(effs)
                row["efficiency_min"] = min(effs)
                row["efficiency_wall"] = med([efficiency(r, sc, hosts, "wall") for r in runs])
                row["gaps_below"] = sum(r.gaps_below for r in runs)
                row["min_gap"] = min((r.min_gap for r in runs if r.min_gap is not None), default=0)
                row["text"]["eff"] = rng(effs, "{:.3f}")
            rows.append(row)
    return rows


def targets(rows: list[dict], sites: dict[str, Site]) -> list[dict]:
    get = {(r["scenario"], r["runner"]): r for r in rows}
    out = []

    def ratio_target(name: str, need: float) -> None:
        ours, scrapy = get.get((name, "ours")), get.get((name, "scrapy"))
        if ours and scrapy and scrapy["pages_per_s"]:
            got = ours["pages_per_s"] / scrapy["pages_per_s"]
            value = f"{got:.2f}×"
            if floor := ours.get("network_floor_s"):
                # What no client can beat, start-up free, against this run of Scrapy.
                ceiling = ours["pages"] / floor / scrapy["pages_per_s"]
                value += (
                    f" (the network's ceiling here: {ceiling:.2f}×, no client finishing "
                    f"under {floor:.2f} s{'; out of reach' if ceiling < need else ''})"
                )
            out.append({"target": f"{name}: ≥ {need}× Scrapy pages/s", "value": value,
                        "met": got >= need})  # fmt: skip

    # Issue 13's targets: heavy at 95 % of the two-core limit, light pages 3x, slow hosts 2.5x.
    for name, need in (("heavy", 2.1), ("fast", 3.0), ("slow", 2.5)):
        for twin in twins(name):
            ratio_target(twin, need)
    for name in twins("polite"):
        if p := get.get((name, "ours")):
            ok = p["efficiency"] >= 0.97 and p["n429"] == 0
            value = (
                f"{p['efficiency']:.3f} (min {p['efficiency_min']:.3f}; wall-clock "
                f"{p['efficiency_wall']:.3f}), {p['n429']} × 429"
            )
            out.append({"target": f"{name}: efficiency ≥ 0.97, zero 429s", "value": value,
                        "met": ok})  # fmt: skip
    f = get.get(("faults", "ours"))
    if f:
        ok = f["completeness"] >= 1.0 and f["duplicates"] == 0
        out.append(
            {
                "target": "faults: completeness 1.000, zero duplicates",
                "value": f"{f['completeness']:.3f}, {f['duplicates']} duplicates",
                "met": ok,
            }
        )
    for name in ALL:
        ours, scrapy = get.get((name, "ours")), get.get((name, "scrapy"))
        # PSS: RSS counts the pages the workers share with their fork server once per process.
        if ours and scrapy and scrapy["peak_pss_mb"]:
            got = ours["peak_pss_mb"] / scrapy["peak_pss_mb"]
            out.append({"target": f"{name}: peak PSS ≤ 1.2× Scrapy's", "value":
                        f"{ours['peak_pss_mb']:.0f} / {scrapy['peak_pss_mb']:.0f} MB = {got:.2f}×",
                        "met": got <= 1.2})  # fmt: skip
    one, ten = get.get(("fast", "ours")), get.get(("scale", "ours"))
    if one and ten and "scale" in sites:
        urls = sites["scale"].pages
        allowed = one["peak_rss_mb"] * 1.2 + urls * 100 / 2**20
        out.append({"target": "scale: peak RSS < 1.2 × fast + 100 B/URL",
                    "value": f"{ten['peak_rss_mb']:.0f} MB vs allowed {allowed:.0f} MB "
                             f"({one['peak_rss_mb']:.0f} × 1.2 + {urls} URLs × 100 B)",
                    "met": ten["peak_rss_mb"] < allowed})  # fmt: skip
    return out


def render(rows: list[dict], checks: list[dict], meta: dict) -> str:
    lines = [
        f"Machine: {meta['machine']}",
        f"Run: {meta['started']}, scale {meta['scale']}, rounds {meta['repeat']}, "
        f"server {meta['server']}, framework {meta['framework']}",
        "",
        "| scenario | runner | pages | pages/s median (min–max) | × Scrapy | CPU ms/page "
        "| main CPU ms/page | peak PSS MB (tree) | peak RSS MB (tree) | 429s "
        "| eff. / completeness | dup | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['ratio_vs_scrapy']:.2f}" if r["ratio_vs_scrapy"] else "-"
        quality = f"eff {r['text']['eff']}" if "efficiency" in r else f"{r['completeness']:.3f}"
        notes = []
        if r["partial"]:
            notes.append("partial (time budget)")
        if r["failed"]:
            notes.append(f"{r['failed']} run(s) failed")
        if r["refetched"]:
            notes.append(f"refetched {r['refetched']}")
        if "gaps_below" in r:
            notes.append(f"min gap {r['min_gap'] * 1000:.0f} ms")
        notes.append(f"span {r['pages_per_s_span']:.0f}/s")
        lines.append(
            f"| {r['scenario']} | {r['runner']} | {r['pages']:.0f} | {r['text']['pps']} | {ratio} "
            f"| {r['text']['cpu']} | {r['text']['main_cpu']} | {r['text']['pss']} "
            f"| {r['text']['rss']} | {r['n429']} "
            f"| {quality} "
            f"| {r['duplicates']} | {'; '.join(notes)} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c['target']} | {c['value']} | {'yes' if c['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def framework_label(rev: str) -> str:
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    if rev == "tree":
        dirty = " + uncommitted changes" if git("status", "--porcelain", "scraper") else ""
        return f"working tree at {git('rev-parse', '--short', 'HEAD')}{dirty}"
    return f"scraper/ at {git('rev-parse', '--short', rev)} (git archive)"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}, {platform.platform()}, "
            f"Python {platform.python_version()}")  # fmt: skip


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("scraper", "scrapy", "twisted", "httpx", "beautifulsoup4", "lxml", "psutil"):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="site size factor")
    parser.add_argument("--scenarios", default=",".join(ORDER))
    parser.add_argument("--runners", default="", help="default: ours,scrapy,naive + variants")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (runners interleaved)")
    parser.add_argument("--server", choices=("nginx", "python"), default="nginx")
    parser.add_argument("--naive-budget", type=float, default=15.0, help="seconds per naive run")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--profile", action="store_true", help="also profile ours (py-spy)")
    parser.add_argument("--no-bench", action="store_true", help="only profile")
    parser.add_argument(
        "--framework",
        default="tree",
        help="'tree' (the working tree) or a git revision of scraper/ to measure",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for our runners (experiments: --set CONCURRENT_REQUESTS=40)",
    )
    parser.add_argument(
        "--report",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="no runs: rebuild the table from these run folders (later wins per scenario+runner)",
    )
    args = parser.parse_args(argv)
    if args.report:
        return report_only(args.report, args.scale)
    global FRAMEWORK_PATH
    if args.framework != "tree":
        FRAMEWORK_PATH = snapshot_framework(args.framework, args.workdir)
    compile_sources()

    scenarios = build(args.scale)
    if args.set:
        extra = dict(item.split("=", 1) for item in args.set)
        scenarios = {k: replace(v, ours={**v.ours, **extra}) for k, v in scenarios.items()}
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    names = [shape for n in names for shape in (SHAPES if n == "shapes" else (n,))]
    unknown = set(names) - set(scenarios)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    server_kind = args.server if nginx_available() else "python"
    have_scrapy = scrapy_available()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = args.workdir / "runs" / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": machine(), "started": stamp, "scale": args.scale, "repeat": args.repeat,
        "server": server_kind, "versions": versions(), "scenarios": names,
        "framework": framework_label(args.framework),
        "set": args.set,
    }  # fmt: skip
    (outdir / "meta.json").write_text(json.dumps(meta, indent=1))
    print(f"{meta['machine']}\nresults in {outdir}", flush=True)
    sites: dict[str, Site] = {}
    results: list[RunResult] = []
    for name in names:
        sc = scenarios[name]
        t0 = time.monotonic()
        site = generate(sc.site, args.workdir / "sites" / f"{name}-{args.scale:g}")
        sites[name] = site
        print(f"[{name}] site: {site.pages} pages on {len(site.addrs)} hosts "
              f"({time.monotonic() - t0:.1f} s to generate or check)", flush=True)  # fmt: skip
        runners = [r for r in (args.runners.split(",") if args.runners else
                   [*RUNNERS, *sc.variants]) if r]  # fmt: skip
        if not have_scrapy:
            runners = [r for r in runners if r != "scrapy"]
        runners = [r for r in runners if r in RUNNERS or r in sc.variants]
        rounds = min(args.repeat, sc.repeat_cap) if sc.repeat_cap else args.repeat
        if args.no_bench:
            rounds = 0
        for rnd in range(rounds):
            for runner in runners:
                r = run_one(sc, site, runner, rnd, outdir / name / f"{rnd}-{runner}",
                            server_kind=server_kind, naive_budget=args.naive_budget)  # fmt: skip
                results.append(r)
                with open(outdir / "runs.jsonl", "a") as f:  # kept even if the run is cut short
                    f.write(json.dumps(asdict(r), default=str) + "\n")
                print(f"[{name}] round {rnd + 1}/{rounds} {runner:9s} {r.pages:6d} pages "
                      f"{r.wall:6.1f} s {r.pages_per_s:7.1f} pages/s cpu {r.cpu_ms_per_page:5.2f}"
                      f" ms/page (main {r.main_cpu_ms_per_page:5.2f}) rss "
                      f"{r.peak_rss / 2**20:5.0f} MB 429s {r.n429} items "
                      f"{r.unique_items}/{r.articles} dup {r.duplicates} rc {r.returncode}"
                      f"{' partial' if r.partial else ''}", flush=True)  # fmt: skip
        if args.profile:
            from .profile import profile_scenario

            profile_scenario(sc, site, outdir / name / "profile", server_kind=server_kind)
    write_report(outdir, results, scenarios, sites, meta)
    return 0


def report_only(dirs: list[Path], scale: float) -> int:
    """Merge the runs of several run folders (a scenario's runs of one runner come from the last
    folder that has them) into one table, written to the last folder."""
    by_scenario: dict[tuple[str, str], list[RunResult]] = {}
    meta: dict = {}
    for d in dirs:
        runs = load_runs(d)
        for key in {(r.scenario, r.runner) for r in runs}:
            by_scenario[key] = [r for r in runs if (r.scenario, r.runner) == key]
        meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").is_file() else meta
    scale = meta.get("scale", scale)
    scenarios = build(scale)
    sites = {}
    for name in {name for name, _ in by_scenario}:
        root = DEFAULT_WORKDIR / "sites" / f"{name}-{scale:g}"
        sites[name] = generate(scenarios[name].site, root)
    meta["merged_from"] = [str(d) for d in dirs]
    results = [r for key in sorted(by_scenario, key=lambda k: ALL.index(k[0]))
               for r in by_scenario[key]]  # fmt: skip
    write_report(dirs[-1], results, scenarios, sites, meta)
    return 0


def load_runs(outdir: Path) -> list[RunResult]:
    runs = []
    if (outdir / "runs.jsonl").is_file():
        records = [json.loads(x) for x in (outdir / "runs.jsonl").read_text().splitlines()]
    else:  # an older run folder: the runs are in results.json
        records = json.loads((outdir / "results.json").read_text())["runs"]
    fields = set(RunResult.__dataclass_fields__)
    for data in records:
        data = {k: v for k, v in data.items() if k in fields}
        data["status"] = {int(k): v for k, v in data["status"].items()}
        runs.append(RunResult(**data))
    return runs


def write_report(outdir, results, scenarios, sites, meta) -> None:
    rows = summarize(results, scenarios, sites)
    checks = targets(rows, sites)
    text = render(rows, checks, meta)
    (outdir / "results.md").write_text(text)
    (outdir / "results.json").write_text(json.dumps(
        {"meta": meta, "rows": rows, "targets": checks,
         "runs": [{**asdict(r), "pages_per_s": r.pages_per_s} for r in results]},
        indent=1, default=str))  # fmt: skip
    print()
    print(text)


if __name__ == "__main__":
    sys.exit(main())
