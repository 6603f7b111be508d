"""HTTP Basic auth from the spider's ``http_user``/``http_pass`` attributes, as Scrapy's
HttpAuthMiddleware: sent to ``http_auth_domain`` and its subdomains only, compared with the
URL's host and port as Scrapy does (``example.com``, or ``127.0.0.1:8080``); by default the
host of the spider's first request, never every host.

Flow position: the main process, where requests are admitted to the frontier (the fetch layer
also drops the header on a redirect to another host).
"""

from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import urlsplit

from .models import Request


class SpiderAuth:
    def __init__(self, user: str, password: str, domain: str | None) -> None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.header = f"Basic {token}"
        self.domain = domain.lower() if domain else None
        self._lock = threading.Lock()

    def apply(self, request: Request) -> None:
        host = urlsplit(request.url).netloc.lower()
        with self._lock:
            if self.domain is None:
                self.domain = host
        if host == self.domain or host.endswith(f".{self.domain}"):
            request.headers.setdefault("Authorization", self.header)


def spider_auth(spider: Any) -> SpiderAuth | None:
    user, password = getattr(spider, "http_user", ""), getattr(spider, "http_pass", "")
    if not (user or password):
        return None
    return SpiderAuth(user, password, getattr(spider, "http_auth_domain", None))
