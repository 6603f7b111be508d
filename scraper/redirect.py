"""The redirect policy: whether a 3xx is followed, and the request that follows it.

Flow position: asked by the fetch threads when a response is a redirect; a ``Follow`` goes back
to the frontier as a new request (so the target's politeness and robots.txt apply), a
``Refuse`` fails the request with its kind. ``crawl shell`` and ``crawl check`` follow the
same rules in place (``commands/pages.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .models import Request, Response, canonical_url, url_problem
from .settings import Settings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
REDIRECT_PRIORITY_ADJUST = 2  # as Scrapy: finish a redirect chain before starting new pages
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Follow:
    """Fetch ``request`` (the redirect's target) instead."""

    request: Request


@dataclass(frozen=True, slots=True)
class Refuse:
    """The redirect is not followed: ``kind`` is the failure kind, ``detail`` what it was."""

    kind: str  # invalid_url, redirect_scheme, too_many_redirects, redirect_loop
    detail: str


RedirectOutcome = Follow | Refuse


@dataclass(frozen=True, slots=True)
class RedirectPolicy:
    enabled: bool = True
    max_times: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> RedirectPolicy:
        return cls(settings.REDIRECT_ENABLED, settings.REDIRECT_MAX_TIMES)

    def applies(self, request: Request, response: Response) -> bool:
        """Whether ``response`` is a redirect this policy handles."""
        return (
            self.enabled
            and response.status in REDIRECT_STATUSES
            and "location" in response.headers
            and not request.meta.get("dont_redirect")
        )

    def outcome(self, request: Request, response: Response) -> RedirectOutcome:
        """Follow ``response``'s Location, or refuse to."""
        location = response.headers["location"].strip()
        try:
            target = response.urljoin(location)
            problem = url_problem(target)
        except ValueError as exc:  # an unclosed IPv6 bracket: not even joinable
            target, problem = location, str(exc)
        if problem is not None:
            return Refuse("invalid_url", f"{response.status} to {target[:200]}: {problem}")
        detail = f"{response.status} to {target[:200]}"
        if urlsplit(target).scheme not in ("http", "https"):
            return Refuse("redirect_scheme", detail)
        times = int(request.meta.get("redirect_times", 0)) + 1
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if times > self.max_times:
            return Refuse("too_many_redirects", detail)
        if canonical_url(target) in {canonical_url(u) for u in chain}:
            return Refuse("redirect_loop", detail)
        return Follow(_redirected(request, response, target, times, chain))


def _redirected(
    request: Request, response: Response, target: str, times: int, chain: list[str]
) -> Request:
    """``request`` sent on to ``target``: a 303 (and a 301/302 of a POST) becomes a GET, and
    credentials stay behind when the target is another place."""
    method, body = request.method, request.body
    headers = dict(request.headers)
    if (
        response.status == 303
        and method != "HEAD"
        or (response.status in (301, 302) and method == "POST")
    ):
        method, body = "GET", b""
        headers = {
            k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
        }
    if not _credentials_may_follow(request.url, target):
        headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    meta = {**request.meta, "redirect_times": times, "redirect_urls": chain}
    new = request.replace(
        url=target,
        method=method,
        body=body,
        headers=headers,
        meta=meta,
        priority=request.priority + REDIRECT_PRIORITY_ADJUST,
    )
    new.attempts = 0
    return new


def _credentials_may_follow(source: str, target: str) -> bool:
    """Whether credentials sent to ``source`` may go on to ``target`` (as requests decides):
    the same host and port, and never from https down to http; an http -> https upgrade on
    the default ports counts as the same place."""
    old, new = urlsplit(source), urlsplit(target)
    try:
        old_port = old.port or DEFAULT_PORTS.get(old.scheme)
        new_port = new.port or DEFAULT_PORTS.get(new.scheme)
    except ValueError:  # a port out of range: not the same place
        return False
    if old.hostname != new.hostname:
        return False
    if old.scheme == new.scheme:
        return old_port == new_port
    return (old.scheme, old_port, new.scheme, new_port) == ("http", 80, "https", 443)
