"""Proxies: which requests go through a forward proxy, and the transports that take them there.

Flow position: under the fetch threads, beside the connection pool. ``Fetcher`` asks
``proxy_for`` per request: ``request.meta["proxy"]`` when the request has that key (a URL,
``http://user:password@host:port`` for credentials, or empty for none), else ``HTTP_PROXY`` /
``HTTPS_PROXY`` from the environment unless ``NO_PROXY`` names the host (read once, at start).
Proxied requests share one httpx transport (one connection pool) per proxy URL, with the
crawl's TLS settings; httpx sends the credentials as ``Proxy-Authorization`` and tunnels HTTPS
with ``CONNECT``. Requests that need no proxy keep the per-host pool (``transport.py``).
"""

from __future__ import annotations

import threading
import urllib.request
from urllib.parse import urlsplit

import httpx

from .models import Request
from .tls import TlsContext


class Proxies:
    """The crawl's proxies; thread-safe (transports are made once per proxy URL)."""

    def __init__(self, tls: TlsContext) -> None:
        # The connection pool's own context: each holds the CA bundle (1.2 MB, 20 ms to load).
        self._tls = tls
        found = urllib.request.getproxies_environment()  # HTTP_PROXY, http_proxy, NO_PROXY...
        self._environment = {s: found[s] for s in ("http", "https") if s in found}
        self._no_proxy = found.get("no", "")
        self._transports: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def proxy_for(self, request: Request) -> str | None:
        if "proxy" in request.meta:
            return request.meta["proxy"] or None
        parts = urlsplit(request.url)
        proxy = self._environment.get(parts.scheme)
        if proxy is None or self._bypassed(parts.hostname or ""):
            return None
        return proxy

    def _bypassed(self, host: str) -> bool:
        entries = [e.strip().lower().lstrip(".") for e in self._no_proxy.split(",") if e.strip()]
        host = host.lower()
        return "*" in entries or any(host == e or host.endswith("." + e) for e in entries)

    def transport(self, proxy: str) -> httpx.HTTPTransport:
        with self._lock:
            transport = self._transports.get(proxy)
            if transport is None:
                transport = self._transports[proxy] = httpx.HTTPTransport(
                    proxy=proxy, verify=self._tls.get(), trust_env=False
                )
            return transport

    def close(self) -> None:
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()
