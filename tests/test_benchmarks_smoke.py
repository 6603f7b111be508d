"""The benchmark harness cannot rot: every scenario's code path, on a tiny site.

Correctness only, no timing. Uses the Python site server (no nginx needed; the nginx config
gets its own check when nginx is installed), needs no bench-only package (psutil, Scrapy): the
Scrapy runner runs only when scrapy is importable.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks import handoff, redis_scaling
from benchmarks import run as bench
from benchmarks.scenarios import SHAPES, build
from benchmarks.servers import NginxServer, ServerConfig, nginx_available, read_log
from benchmarks.sites import SiteSpec, generate
from benchmarks.workload import heavy, heavy_lxml, heavy_numpy, light, light_soup

pytest_plugins = ["redis_server"]  # fixture: redis_server (the Redis scaling benchmark)

TINY = 0.004  # scale: a handful of pages per scenario


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    scenarios = build(TINY)
    # Fewer processes to start, so it stays quick: two parse workers for heavy, one for fast and
    # faults, callbacks in the main process (PARSE_WORKERS=0, a path of its own) for the rest.
    workers = {"heavy": "2", "fast": "1", "faults": "1"}
    for name, sc in scenarios.items():
        ours = {**sc.ours, "PARSE_WORKERS": workers.get(name, "0")}
        scenarios[name] = dataclasses.replace(sc, ours=ours)
    # Keep the fault scenario quick: a short timeout, short backoffs, room for a loaded machine.
    faults = scenarios["faults"]
    scenarios["faults"] = dataclasses.replace(
        faults,
        ours={
            **faults.ours,
            "DOWNLOAD_TIMEOUT": "1",
            "RETRY_BACKOFF_BASE": "0.05",
            "RETRY_TIMES": "4",
        },
    )
    # The runs share the machine (they run at once, below): allow a little arrival jitter.
    scenarios["polite"] = dataclasses.replace(scenarios["polite"], burst=3)
    return scenarios, tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def runs(tiny):
    """Every (scenario, runner) of the smoke test, run at once: the crawls are mostly start-up
    and waiting, so together they take a few seconds instead of twenty."""
    scenarios, work = tiny
    jobs = [(name, "ours") for name in SCENARIOS] + [("fast", "naive"), ("fast-tls", "naive")]
    if bench.scrapy_available():
        jobs += [("fast", "scrapy"), ("fast-tls", "scrapy")]

    def one(job: tuple[str, str]):
        name, runner = job
        sc = scenarios[name]
        site = generate(sc.site, work / "sites" / f"{name}-{runner}")
        rundir = work / "runs" / f"{name}-{runner}"
        r = bench.run_one(sc, site, runner, 0, rundir, server_kind="python", naive_budget=10)
        return job, (sc, site, r, rundir)

    with ThreadPoolExecutor(len(jobs)) as pool:
        return dict(pool.map(one, jobs))


SCENARIOS = ["heavy", "fast", "slow", "polite", "faults", "scale", "fast-tls"]


def test_workload_is_deterministic_and_finds_articles(tmp_path: Path) -> None:
    site = generate(SiteSpec(hosts=1, articles=3, page_bytes=20_000, seed=3), tmp_path / "s")
    again = generate(SiteSpec(hosts=1, articles=3, page_bytes=20_000, seed=3), tmp_path / "t")
    page = (tmp_path / "s" / site.addrs[0] / "a" / "1.html").read_text()
    assert page == (tmp_path / "t" / again.addrs[0] / "a" / "1.html").read_text()
    item, links = heavy("http://h/a/1.html", page)
    assert item and len(item["top_terms"]) == 20 and len(item["simhash"]) == 16
    assert heavy("http://h/a/1.html", page)[0] == item  # stable simhash
    assert "http://h/index.html" in links
    litem, llinks = light("http://h/a/1.html", page)
    assert litem and litem["title"] == item["title"] and llinks == links
    # The second workloads: the same links and title, by other means.
    assert light_soup("http://h/a/1.html", page) == (litem, llinks)
    xitem, xlinks = heavy_lxml("http://h/a/1.html", page)
    assert xitem and xitem["title"] == item["title"] and xlinks == links
    assert len(xitem["minhash"]) == 4 and heavy_lxml("http://h/a/1.html", page)[0] == xitem
    nitem, nlinks = heavy_numpy("http://h/a/1.html", page)
    assert nitem and nitem["title"] == item["title"] and nlinks == links
    assert nitem["words"] == xitem["words"] and sum(nitem["word_lengths"]) <= nitem["words"]
    assert len(nitem["minhash"]) == 4 and heavy_numpy("http://h/a/1.html", page)[0] == nitem
    # fast-links' site: as many links to other articles as asked, beside the two of the nav.
    wide = generate(SiteSpec(hosts=1, articles=3, page_bytes=2_000, related=40), tmp_path / "w")
    page = (tmp_path / "w" / wide.addrs[0] / "a" / "1.html").read_text()
    assert light("http://h/a/1.html", page)[0]["links"] == 2 + 40
    index = (tmp_path / "s" / site.addrs[0] / "index.html").read_text()
    assert light("http://h/index.html", index)[0] is None
    assert light_soup("http://h/index.html", index)[0] is None
    assert heavy_lxml("http://h/index.html", index)[0] is None
    assert heavy_numpy("http://h/index.html", index)[0] is None


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_with_our_framework(tiny, runs, name: str) -> None:
    scenarios, _ = tiny
    sc, site, r, rundir = runs[(name, "ours")]
    stderr = (rundir / "stderr.txt").read_text()
    assert r.returncode == 0, stderr
    assert r.unique_items == site.articles, stderr  # every article, faults included
    assert r.duplicates == 0
    assert r.pages == site.pages
    assert r.n429 == 0
    if sc.faults:
        log = read_log(rundir / "server" / "access.log")
        assert set(log.faults) == {"reset", "hang", "truncate"}  # each tripped once
        assert log.status.get(500) and log.status.get(503)
    if sc.tls:  # every page came over HTTPS, with the certificate no runner checks
        items = [json.loads(line) for line in (rundir / "items.jsonl").read_text().splitlines()]
        assert all(item["url"].startswith("https://") for item in items)
    if sc.delay:  # a floor the crawl beat would be no floor
        assert r.span >= sc.network_floor() > 0
    rows = bench.summarize([r], scenarios, {name: site})
    assert rows and rows[0]["pages"] == site.pages
    bench.render(rows, bench.targets(rows, {name: site}), {
        "machine": bench.machine(), "started": "now", "scale": TINY, "repeat": 1,
        "server": "python", "framework": "tree"})  # fmt: skip


def test_network_floor_counts_the_rounds_no_client_can_skip() -> None:
    scenarios = build(1.0)
    # Slow: 20 hosts of 100 articles behind one listing, 8 at once per host, each answer 0.2 s
    # late: the index, the listing, then 13 rounds of articles.
    assert scenarios["slow"].network_floor() == pytest.approx(0.2 * (1 + 1 + 13))
    assert scenarios["fast"].network_floor() == 0.0  # no latency: nothing to count
    # Fewer requests at once in all than the hosts could take: the crawl's limit binds.
    narrow = dataclasses.replace(
        scenarios["slow"], ours={**scenarios["slow"].ours, "CONCURRENT_REQUESTS": "16"}
    )
    assert narrow.network_floor() == pytest.approx(0.2 * 2040 / 16)
    rows = [
        {
            "scenario": "slow",
            "runner": "ours",
            "pages": 2040,
            "pages_per_s": 600.0,
            "network_floor_s": 3.0,
            "peak_pss_mb": 0,
        },
        {
            "scenario": "slow",
            "runner": "scrapy",
            "pages": 2040,
            "pages_per_s": 300.0,
            "peak_pss_mb": 0,
        },
    ]
    (check,) = [c for c in bench.targets(rows, {}) if c["target"].startswith("slow:")]
    assert check["value"].startswith("2.00× (the network's ceiling here: 2.27×")
    assert "out of reach" in check["value"] and not check["met"]


@pytest.mark.parametrize("name", ["fast", "fast-tls"])
@pytest.mark.parametrize("runner", ["naive", "scrapy"])
def test_other_runners(runs, runner: str, name: str) -> None:
    if runner == "scrapy" and not bench.scrapy_available():
        pytest.skip("scrapy is a bench-only dependency (pip install -e '.[bench]')")
    sc, site, r, rundir = runs[(name, runner)]
    assert r.returncode == 0, (rundir / "stderr.txt").read_text()
    assert r.unique_items == site.articles and r.duplicates == 0
    assert r.pages == site.pages  # the server's own log: every page served, over TLS too
    items = [json.loads(line) for line in (rundir / "items.jsonl").read_text().splitlines()]
    assert {"url", "title", "links"} <= set(items[0])
    assert items[0]["url"].startswith("https://" if sc.tls else "http://")


def test_handoff_measures_each_batch_size(tmp_path: Path) -> None:
    measured = handoff.main(["--batches", "1,3", "--pages", "30", "--workdir", str(tmp_path)])
    assert set(measured) == {1, 3} and all(cpu > 0 for cpu, _ in measured.values())


@pytest.mark.skipif(not nginx_available(), reason="nginx not installed (the Python server is used)")
def test_nginx_config_serves_paces_and_logs(tmp_path: Path) -> None:
    site = generate(SiteSpec(hosts=2, articles=2, page_bytes=2_000, seed=5), tmp_path / "s")
    config = ServerConfig(root=site.root, addrs=site.addrs, delay=0.05, rate=2.0, burst=0)
    server = NginxServer(config, tmp_path / "nginx")
    with server:
        url = server.urls()[0]
        assert urllib.request.urlopen(url, timeout=5).status == 200
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=5)  # second within 0.5 s: over the limit
        assert caught.value.code == 429
    log = read_log(server.log_path)
    assert log.requests == 2 and log.n429 == 1 and log.unique_ok == 1


@pytest.mark.skipif(not nginx_available(), reason="nginx not installed (the Python server is used)")
def test_nginx_config_serves_https_only_with_a_certificate_for_every_address(tmp_path) -> None:
    site = generate(SiteSpec(hosts=2, articles=2, page_bytes=2_000, seed=5), tmp_path / "s")
    server = NginxServer(ServerConfig(root=site.root, addrs=site.addrs, tls=True), tmp_path / "n")
    with server:
        cert = tmp_path / "n" / "tls" / "cert.pem"
        checked = ssl.create_default_context(cafile=cert)  # the name must match each address
        for url in server.urls():
            assert url.startswith("https://")
            assert urllib.request.urlopen(url, timeout=5, context=checked).status == 200
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(server.urls()[0].replace("https:", "http:"), timeout=5)
    assert read_log(server.log_path).unique_ok == 2


@pytest.mark.longest
def test_redis_scaling(tmp_path: Path, redis_server) -> None:
    # 1 and 2 workers on the 20-host slow site at its smallest (one article per host); run()
    # itself checks every page was fetched once and every article is in the merged output.
    result = redis_scaling.run(
        [1, 2], threads=4, scale=TINY, dedup_urls=2000, work=tmp_path, redis=redis_server,
        server_kind="python", sites=tmp_path,
    )  # fmt: skip
    assert [row["workers"] for row in result["rows"]] == [1, 2]
    assert all(row["pages"] == result["site_pages"] == 60 for row in result["rows"])
    assert 7 <= result["dedup_at_scale"] < 200  # bytes per URL: the 7-byte tails and then some
    assert "dedup at 2000 URLs" in redis_scaling.render(result)


def test_profile_charges_a_sample_to_the_last_process_of_its_line_of_descent(tmp_path):
    # py-spy --subprocesses names the crawl process, then the fork server, then the worker: a
    # worker's callback was once charged to the main process because only the first was read.
    from benchmarks import profile

    main = 'process 10:"python -m scraper spider.py"'
    server = 'process 11:"python -B -c from multiprocessing.forkserver import main"'
    worker = 'process 12:""'
    raw = tmp_path / "gil.txt"
    raw.write_text(
        f"{main};thread (10): fetch-1;FetchPool._run (scraper/fetch.py:175) 3\n"
        f"{main};{server};{worker};thread (12);_run_batch (scraper/parse.py:300);"
        "heavy (benchmarks/workload.py:90) 7\n"
    )
    s = profile.summarize(raw, pages=1)
    assert s["samples"] == {"main": 3, "worker": 7}


def test_every_other_site_shape_is_held_to_its_base_scenarios_target(capsys) -> None:
    # "shapes" names them all: only the name that is neither a scenario nor "shapes" is refused.
    with pytest.raises(SystemExit):
        bench.main(["--scenarios", "shapes,fast,nope"])
    assert capsys.readouterr().err.strip().endswith("unknown scenario(s): nope")
    scenarios = build(1.0)
    assert set(SHAPES) <= set(scenarios)
    assert len({scenarios[n].site.seed for n in SHAPES}) == len(SHAPES)
    rows = []
    for name in SHAPES:
        for runner, pps in (("ours", 300.0), ("scrapy", 100.0)):
            rows.append({"scenario": name, "runner": runner, "pages": 1000, "pages_per_s": pps,
                         "peak_pss_mb": 50, "efficiency": 0.99, "efficiency_min": 0.98,
                         "efficiency_wall": 0.97, "n429": 0})  # fmt: skip
    checks = {c["target"]: c["met"] for c in bench.targets(rows, {})}
    assert checks == {
        "heavy-30k: ≥ 2.1× Scrapy pages/s": True,
        "fast-3k: ≥ 3.0× Scrapy pages/s": True,
        "fast-40k: ≥ 3.0× Scrapy pages/s": True,
        "fast-links: ≥ 3.0× Scrapy pages/s": True,
        "slow-40h: ≥ 2.5× Scrapy pages/s": True,
        "polite-1: efficiency ≥ 0.97, zero 429s": True,
        "fast-tls: ≥ 3.0× Scrapy pages/s": True,
        "slow-tls: ≥ 2.5× Scrapy pages/s": True,
        **{f"{name}: peak PSS ≤ 1.2× Scrapy's": True for name in SHAPES},
    }
