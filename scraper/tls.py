"""TLS for the fetch threads' connections: which certificates a crawl trusts.

Flow position: built once by ``Fetcher.from_settings`` and handed to the connection pool
(``transport.py``) and the proxies (``proxy.py``), so every fetch thread's connection,
robots.txt included, checks the same way. It is made when the first HTTPS connection needs it
(``TlsContext``): loading the system's certificate authorities costs 20 ms of a crawl's start
and 1 MB, which a crawl of plain-HTTP sites never uses.
``DOWNLOAD_VERIFY=false`` accepts any certificate (a test site, never a real one);
``DOWNLOAD_CA_BUNDLE`` adds the certificate authorities in a PEM file to the system's, for sites
with private certificates.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Callable

import httpx

from .errors import SettingsError
from .settings import Settings


def tls_context(settings: Settings) -> ssl.SSLContext:
    context = httpx.create_ssl_context()
    if settings.DOWNLOAD_CA_BUNDLE:
        try:
            context.load_verify_locations(cafile=settings.DOWNLOAD_CA_BUNDLE)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                f"DOWNLOAD_CA_BUNDLE {settings.DOWNLOAD_CA_BUNDLE}: not a readable PEM file "
                f"of certificates ({exc})"
            ) from exc
    if not settings.DOWNLOAD_VERIFY:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class TlsContext:
    """One SSL context, made on first use and shared by every thread that asks (thread-safe)."""

    def __init__(self, make: Callable[[], ssl.SSLContext] = httpx.create_ssl_context) -> None:
        self._make = make
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsContext:
        tls = cls(functools.partial(tls_context, settings))
        if settings.DOWNLOAD_CA_BUNDLE:
            tls.get()  # a file that cannot be read is said before the crawl starts
        return tls

    def get(self) -> ssl.SSLContext:
        context = self._context
        if context is None:
            with self._lock:
                if self._context is None:
                    self._context = self._make()
                context = self._context
        return context
