"""TLS for the fetch threads' connections: which certificates a crawl trusts.

Flow position: built once by ``Fetcher.from_settings`` and handed to the connection pool
(``transport.py``), so every fetch thread's connection, robots.txt included, checks the same way.
``DOWNLOAD_VERIFY=false`` accepts any certificate (a test site, never a real one);
``DOWNLOAD_CA_BUNDLE`` adds the certificate authorities in a PEM file to the system's, for sites
with private certificates.
"""

from __future__ import annotations

import ssl

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
