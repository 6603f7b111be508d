"""A private ``redis-server`` for the tests: free loopback port, temporary folder, stopped by
pid. Nothing here touches any other Redis on the machine.

Fixtures (import them into a test module): ``redis_server`` (one per test session and xdist
worker, shared), ``own_redis`` (one for this test alone: it may be stopped and restarted), and
``crawl_name`` (fresh per test, so tests sharing a server never share keys). Without a
``redis-server`` on PATH they fail with one line saying so. ``RedisServer(password=...)`` asks
clients for a password, ``RedisServer(tls=TlsFiles)`` listens for TLS only (``make_tls_files``
writes a CA and a certificate for 127.0.0.1).
"""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server")
MISSING = "redis-server not found: install it (apt-get install redis-server)"
START_TIMEOUT = 10.0


class RedisServerMissing(RuntimeError):
    """No redis-server executable to start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients check the server against
    cert: Path  # the server's certificate (for IP 127.0.0.1), signed by the CA
    key: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 it signed, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def certificate(name, key, issuer, signer, ca):  # type: ignore[no-untyped-def]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            address = x509.IPAddress(IPv4Address("127.0.0.1"))
            builder = builder.add_extension(x509.SubjectAlternativeName([address]), False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("test CA", ca_key, None, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate("127.0.0.1", key, ca_cert.subject, ca_key, False)
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(cert.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


class RedisServer:
    """One redis-server process on 127.0.0.1; ``restart()`` keeps its port and data folder.
    With ``password``, clients must give it; with ``tls``, the port speaks TLS only."""

    def __init__(
        self,
        folder: Path,
        appendonly: bool = False,
        executable: str | None = REDIS_SERVER,
        password: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.folder = folder
        self.appendonly = appendonly
        self.executable = executable
        self.password = password
        self.tls = tls
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        user = f":{self.password}@" if self.password else ""
        return f"{scheme}://{user}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        options = {"ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        return redis.Redis.from_url(self.url, **options)

    def _security_args(self) -> list[str]:
        args = ["--requirepass", self.password] if self.password else []
        if self.tls:
            args += [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        return args

    def start(self) -> RedisServer:
        if self.executable is None:
            raise RedisServerMissing(MISSING)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.executable,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--dir", str(self.folder),
                "--logfile", str(self.folder / "redis.log"),
                *self._security_args(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.02)
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.folder / 'redis.log'}")
        raise RuntimeError(f"redis-server not ready within {START_TIMEOUT}s")

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()  # SIGTERM: redis-server flushes its append-only file
        self.process.wait(timeout=10)
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


def started(server: RedisServer) -> RedisServer:
    """``server``, started; a missing redis-server fails the test with one line, no traceback."""
    try:
        return server.start()
    except RedisServerMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)  # outside the except: no "during handling of" chain


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = started(RedisServer(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = started(RedisServer(tmp_path / "redis", appendonly=True))
    yield server
    server.stop()


SECRET_PASSWORD = "pw-6Jq2rZ"  # a string that appears nowhere unless it leaks


@pytest.fixture(params=["password", "password+tls"])
def secured_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis for this test asking for ``SECRET_PASSWORD``, and in the second variant
    speaking TLS only (skipped, with the reason, where redis-server was built without it)."""
    tls = make_tls_files(tmp_path / "tls") if "tls" in request.param else None
    server = RedisServer(tmp_path / "secured-redis", password=SECRET_PASSWORD, tls=tls)
    try:
        started(server)
    except RuntimeError as exc:
        if tls is None:
            raise
        log = (server.folder / "redis.log").read_text(errors="replace")[-300:]
        pytest.skip(f"this redis-server does not take --tls-port ({exc}): {log}")
    yield server
    server.stop()


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def crawl_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
