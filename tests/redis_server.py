"""A private ``redis-server`` for the tests: free loopback port, temporary folder, stopped by
pid. Nothing here touches any other Redis on the machine.

Fixtures (import them into a test module): ``redis_server`` (one per test session and xdist
worker, shared), ``own_redis`` (one for this test alone: it may be stopped and restarted), and
``crawl_name`` (fresh per test, so tests sharing a server never share keys). Without a
``redis-server`` on PATH they fail with one line saying so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
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


class RedisServer:
    """One redis-server process on 127.0.0.1; ``restart()`` keeps its port and data folder."""

    def __init__(
        self, folder: Path, appendonly: bool = False, executable: str | None = REDIS_SERVER
    ) -> None:
        self.folder = folder
        self.appendonly = appendonly
        self.executable = executable
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

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


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def crawl_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
