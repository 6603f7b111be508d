"""Site servers for the benchmarks, and the reading of their access logs.

``NginxServer``: Debian's nginx run as our own process (``-p`` prefix in a temp dir, generated
config, pid file), one listener per 127.0.x.y host, ``limit_req`` keyed on ``$server_addr`` for
per-host rate limits (429), ``echo_sleep`` (libnginx-mod-http-echo) for latency. Stopped by pid.

``PyServer``: ``benchmarks/pyserver.py`` as a subprocess: the fault server, and the fallback when
nginx is not installed. Both write ``$msec $server_addr $status $request_uri $request_time``.

With ``ServerConfig.tls`` both speak HTTPS only, with a self-signed certificate for the site's
addresses (``self_signed``): most real sites are HTTPS, and a handshake per connection and
encryption per page cost the clients CPU that plain HTTP does not show.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").is_file()


def free_port(addr: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerConfig:
    root: Path  # site root: one folder per address
    addrs: list[str]
    delay: float = 0.0  # seconds added to every response
    rate: float = 0.0  # requests/s per host (0 = unlimited)
    burst: int = 0
    faults: Path | None = None  # JSON plan: only PyServer can serve faults
    hang: float = 5.0
    tls: bool = False  # HTTPS only, with a self-signed certificate (``self_signed``)


def self_signed(addrs: list[str], folder: Path) -> tuple[Path, Path]:
    """A certificate for the IP addresses ``addrs``, signed by its own key, and that key (PEM
    files in ``folder``). The clients are told not to check it (our DOWNLOAD_VERIFY=false;
    Scrapy checks no certificate by default)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "benchmark site")])
    now = datetime.datetime.now(datetime.UTC)
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addrs]
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    return cert_path, key_path


class _Base:
    kind = "base"
    stop_signal = signal.SIGTERM
    proc: subprocess.Popen[str]

    def __init__(self, config: ServerConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.port = free_port(config.addrs[0])
        self.log_path = workdir / "access.log"
        self.log_path.unlink(missing_ok=True)  # one log per run
        self.pid: int | None = None

    def __enter__(self) -> _Base:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server we started, by its pid: politely, then for good."""
        if self.pid is None:
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.pid = None

    def urls(self, path: str = "/index.html") -> list[str]:
        scheme = "https" if self.config.tls else "http"
        return [f"{scheme}://{a}:{self.port}{path}" for a in self.config.addrs]

    def cpu_seconds(self) -> float:
        """CPU time used by the server processes so far (0 if psutil is missing)."""
        try:
            import psutil
        except ImportError:
            return 0.0
        total = 0.0
        try:
            proc = psutil.Process(self.pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except (psutil.Error, TypeError):
            pass
        return total


class NginxServer(_Base):
    kind = "nginx"
    stop_signal = signal.SIGQUIT  # graceful: flushes the buffered access log

    def config_text(self) -> str:
        c = self.config
        w = self.workdir
        ssl = " ssl" if c.tls else ""
        listens = "\n".join(f"    listen {a}:{self.port}{ssl};" for a in c.addrs)
        if c.tls:
            cert, key = self_signed(c.addrs, w / "tls")
            listens += f"\n    ssl_certificate {cert}; ssl_certificate_key {key};"
        limit_zone = (
            f"  limit_req_zone $server_addr zone=perhost:1m rate={c.rate:g}r/s;\n" if c.rate else ""
        )
        burst = f" burst={c.burst} nodelay" if c.burst else ""
        limit = f"limit_req zone=perhost{burst}; limit_req_status 429;" if c.rate else ""
        if c.delay:
            locations = (
                f"    location / {{ echo_sleep {c.delay:g}; echo_exec @static; }}\n"
                f"    location @static {{ {limit} try_files $uri $uri/index.html =404; }}\n"
            )
        else:
            locations = f"    location / {{ {limit} try_files $uri $uri/index.html =404; }}\n"
        load = f"load_module {ECHO_MODULE};\n" if c.delay else ""
        if os.geteuid() == 0:  # workers would drop to nobody, who cannot read a 0700 temp dir
            load += "user root;\n"
        return f"""{load}worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
daemon off;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  log_format bench '$msec $server_addr $status $request_uri $request_time';
  client_body_temp_path {w}/tmp; proxy_temp_path {w}/tmp; fastcgi_temp_path {w}/tmp;
  uwsgi_temp_path {w}/tmp; scgi_temp_path {w}/tmp;
  default_type text/html;
  charset utf-8;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000; keepalive_timeout 65;
  open_file_cache max=2000 inactive=20s;  # each entry holds a descriptor: stay under ulimit
{limit_zone}  server {{
{listens}
    access_log {w}/access.log bench buffer=256k flush=1s;
    root {c.root}/$server_addr;
{locations}  }}
}}
"""

    def start(self) -> None:
        if self.config.faults:
            raise ValueError("nginx cannot serve the fault plan; use PyServer")
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config_text())
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        # In the foreground ("daemon off"), as our own child: we reap it, so no zombie is left.
        self.proc = subprocess.Popen(
            [
                nginx,
                "-p",
                str(self.workdir),
                "-c",
                str(conf),
                "-e",
                str(self.workdir / "error.log"),
            ],  # noqa: E501
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        try:
            _wait_listening(self.config.addrs, self.port)
        except RuntimeError as exc:
            self.stop()
            log = (self.workdir / "error.log").read_text()
            raise RuntimeError(f"nginx did not start: {log}") from exc


class PyServer(_Base):
    kind = "python"

    def start(self) -> None:
        c = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "benchmarks.pyserver",
            "--root", str(c.root), "--addrs", ",".join(c.addrs), "--port", str(self.port),
            "--log", str(self.log_path), "--delay", str(c.delay), "--rate", str(c.rate),
            "--burst", str(c.burst), "--hang", str(c.hang), "--max-seconds", "3600",
        ]  # fmt: skip
        if c.faults:
            cmd += ["--faults", str(c.faults)]
        if c.tls:
            cert, key = self_signed(c.addrs, self.workdir / "tls")
            cmd += ["--cert", str(cert), "--key", str(key)]
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root, env=env
        )
        self.pid = self.proc.pid
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"python site server did not start: {line!r}")
        _wait_listening(c.addrs, self.port)


def _wait_listening(addrs: list[str], port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    for addr in addrs:
        while True:
            try:
                socket.create_connection((addr, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"site server not listening on {addr}:{port}") from None
                time.sleep(0.02)


def make_server(config: ServerConfig, workdir: Path, prefer: str = "nginx") -> _Base:
    if config.faults or prefer != "nginx" or not nginx_available():
        return PyServer(config, workdir)
    return NginxServer(config, workdir)


# -- the server's own log ----------------------------------------------------------------------
@dataclass
class LogSummary:
    requests: int = 0
    ok_pages: int = 0  # 200 answers without a fault
    unique_ok: int = 0
    status: dict[int, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    first: float = 0.0  # first request start (epoch s)
    last: float = 0.0  # last request start
    end: float = 0.0  # last answer
    per_host: dict[str, int] = field(default_factory=dict)
    min_gap: float | None = None  # smallest gap between request starts on one host
    gaps_below: int = 0  # gaps below the expected spacing (polite)
    max_ok_per_uri: int = 0  # 200s for one URL: > 1 means a page was fetched twice

    @property
    def span(self) -> float:
        return max(self.end - self.first, 1e-9)

    @property
    def n429(self) -> int:
        return self.status.get(429, 0)


def read_log(path: Path, spacing: float = 0.0) -> LogSummary:
    s = LogSummary()
    if not path.is_file():
        return s
    starts: dict[str, list[float]] = defaultdict(list)
    ok_per_uri: dict[tuple[str, str], int] = defaultdict(int)
    status: dict[int, int] = defaultdict(int)
    faults: dict[str, int] = defaultdict(int)
    first, last, end = float("inf"), 0.0, 0.0
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        msec, addr, code, uri, rtime = parts[:5]
        fault = parts[5] if len(parts) > 5 else None
        done = float(msec)
        start = done - float(rtime) if rtime != "-" else done
        code_i = int(code)
        s.requests += 1
        status[code_i] += 1
        if fault:
            faults[fault] += 1
        elif code_i == 200:
            s.ok_pages += 1
            ok_per_uri[(addr, uri)] += 1
        starts[addr].append(start)
        first, last, end = min(first, start), max(last, start), max(end, done)
    s.status = dict(status)
    s.faults = dict(faults)
    s.unique_ok = len(ok_per_uri)
    s.max_ok_per_uri = max(ok_per_uri.values(), default=0)
    s.first, s.last, s.end = (first if s.requests else 0.0), last, end
    s.per_host = {a: len(v) for a, v in starts.items()}
    gaps = []
    for v in starts.values():
        v.sort()
        gaps += [b - a for a, b in zip(v, v[1:], strict=False)]
    s.min_gap = min(gaps) if gaps else None
    if spacing:
        s.gaps_below = sum(1 for g in gaps if g < spacing * 0.98)
    return s
