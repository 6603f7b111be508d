"""The fetcher: one request in, one complete response out.

Flow position: fetch threads -> **Fetcher** -> the transport (``HostPoolTransport``, or a
proxy's, ``proxy.py``) -> the network.

The fetcher holds what a client would: a transport, the default headers, the timeout and a
cookie jar, all public httpx types. ``transport`` is the seam unit tests use (respx, or
``httpx.MockTransport``); ``from_settings`` builds the crawl's own. It streams and decodes the
body under the size cap and the total deadline, and maps httpx errors to ours. Redirects are
not followed here: they go back through the frontier (``redirect.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import httpx

from .decode import ACCEPT_ENCODING, make_decoder
from .errors import (
    ConnectFailed,
    FetchError,
    FetchTimeout,
    InvalidURL,
    ProtocolError,
    ResponseTooLarge,
    Truncated,
)
from .guard import AddressGuard
from .models import Headers, Request, Response, split_plain
from .proxy import Proxies
from .settings import Settings
from .tls import TlsContext
from .transport import HostPoolTransport, bounded_by


def default_headers(settings: Settings) -> list[tuple[str, str]]:
    """The headers every request carries unless it sets its own, in the order (and the case)
    they are sent: httpx's defaults, each replaced by ``USER_AGENT`` and
    ``DEFAULT_REQUEST_HEADERS`` of the same name."""
    ours = {"User-Agent": settings.USER_AGENT, **settings.DEFAULT_REQUEST_HEADERS}
    replaced = {name.lower() for name in ours}
    base = [("Accept", "*/*"), ("Accept-Encoding", ACCEPT_ENCODING), ("Connection", "keep-alive")]
    return [h for h in base if h[0].lower() not in replaced] + list(ours.items())


def _text_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Raw response headers as text, names lower-cased, decoded as httpx does: ASCII, else
    UTF-8, else Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return Headers([(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw])
        except UnicodeDecodeError:
            continue
    return Headers([(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw])


Opened = tuple[int, Headers, Iterable[bytes], Callable[[], None], str]


class Fetcher:
    """One request, one complete response. Shared by every fetch thread.

    Requests go straight to the transport, with the headers, timeout and cookie jar applied
    here: ``httpx.Client.send`` adds auth, redirect and event-hook layers this fetcher never
    uses, and on fast sites they cost a third of the main process's time per page. When the
    transport is ours (``HostPoolTransport``) and no proxy applies, a request without a body to
    a plain URL (``models.split_plain``) skips httpx's request and response models too.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport,
        *,
        timeout: float,
        max_size: int,
        headers: Sequence[tuple[str, str]] = (),
        proxies: Proxies | None = None,
        cookies: httpx.Cookies | None = None,
        keep_cookies: bool = True,
        on_send: Callable[[Request], None] | None = None,
        on_sent: Callable[[Request], None] | None = None,
    ) -> None:
        self.transport = transport
        self.proxies = proxies  # requests through a forward proxy leave the per-host pool
        self.max_size = max_size
        self.timeout = timeout  # the whole request's deadline, and each read's
        self._pool = transport if isinstance(transport, HostPoolTransport) else None
        self._default_headers = list(headers)  # in their own case: some servers care
        self._timeout = httpx.Timeout(timeout).as_dict()
        # The jar is only touched once a site has set a cookie: parsing Set-Cookie-less
        # responses through http.cookiejar costs as much as the rest of the request.
        self._cookies = httpx.Cookies() if cookies is None else cookies
        self._cookies_lock = threading.Lock()
        self._cookies_seen = bool(self._cookies)
        self._keeps_cookies = keep_cookies  # COOKIES_ENABLED
        # Called as the request's headers go on the wire (httpcore's trace hook), after any
        # connecting, so a per-host delay counts from what the server sees: ``on_send`` just
        # before they are written (it may still refuse the send), ``on_sent`` once they are.
        self.on_send = on_send
        self.on_sent = on_sent

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        *,
        guard: AddressGuard | None = None,
        on_send: Callable[[Request], None] | None = None,
        on_sent: Callable[[Request], None] | None = None,
    ) -> Fetcher:
        """The crawl's fetcher: our connection pool (``guard`` decides which addresses it may
        connect to) unless a ``transport`` is given, the settings' headers, timeout and size
        cap, and the proxies of ``Proxies``."""
        tls = TlsContext.from_settings(settings)
        return cls(
            transport or HostPoolTransport(tls, guard=guard),
            timeout=settings.DOWNLOAD_TIMEOUT,
            max_size=settings.DOWNLOAD_MAXSIZE,
            headers=default_headers(settings),
            proxies=Proxies(tls),
            keep_cookies=settings.COOKIES_ENABLED,
            on_send=on_send,
            on_sent=on_sent,
        )

    def close(self) -> None:
        self.transport.close()
        if self.proxies is not None:
            self.proxies.close()

    def _headers(self, request: Request) -> list[tuple[str, str]]:
        """The default headers, each replaced by the request's own of the same name."""
        if not request.headers:
            return self._default_headers
        own = {name.lower() for name in request.headers}
        kept = [h for h in self._default_headers if h[0].lower() not in own]
        return kept + list(request.headers.items())

    def _extensions(self, request: Request) -> dict[str, object]:
        extensions: dict[str, object] = {"timeout": self._timeout}
        if self.on_send is not None or self.on_sent is not None:
            on_send, on_sent = self.on_send, self.on_sent

            def trace(event: str, info: object) -> None:
                if on_send is not None and event.endswith("send_request_headers.started"):
                    on_send(request)
                elif on_sent is not None and event.endswith("send_request_headers.complete"):
                    on_sent(request)

            extensions["trace"] = trace
        return extensions

    def _open_direct(self, request: Request) -> Opened | None:
        """Send a body-less request for a plain URL straight to our pool; None if the request
        is not one (or a cookie may be due: the jar speaks httpx's models)."""
        assert self._pool is not None
        parts = split_plain(request.url)
        if parts is None or request.body or self._jar_applies(request):
            return None
        scheme, host, port, path = parts
        default = 443 if scheme == "https" else 80
        headers = []
        if not any(name.lower() == "host" for name in request.headers):
            headers.append(
                (b"Host", (host if port in (None, default) else f"{host}:{port}").encode())
            )
        try:
            headers.extend(
                (k.encode("ascii"), v.encode("ascii")) for k, v in self._headers(request)
            )
        except UnicodeEncodeError:  # httpx knows what to do with those
            return None
        response, body = self._pool.send(
            request.method.encode("ascii"),
            (scheme.encode(), host.encode(), port or default),
            path.encode(),
            headers,
            None,
            self._extensions(request),
        )
        text_headers = _text_headers(response.headers)
        if "set-cookie" in text_headers and not request.meta.get("dont_merge_cookies"):
            reply = httpx.Response(response.status, headers=response.headers)
            reply.request = httpx.Request(request.method, request.url)
            self._keep_cookies(reply)
        return response.status, text_headers, body, body.close, request.url

    def _open(self, request: Request, proxy: str | None = None) -> Opened:
        """Send any request through the transport, or through ``proxy``."""
        built = httpx.Request(
            request.method,
            request.url,
            headers=self._headers(request),
            content=request.body or None,
            extensions=self._extensions(request),
        )
        if self._jar_applies(request):
            with self._cookies_lock:
                self._cookies.set_cookie_header(built)
        if proxy is not None and self.proxies is not None:
            transport: httpx.BaseTransport = self.proxies.transport(proxy)
        else:
            transport = self.transport
        reply = transport.handle_request(built)
        reply.request = built
        if not request.meta.get("dont_merge_cookies"):
            self._keep_cookies(reply)
        headers = Headers(reply.headers.multi_items())
        return reply.status_code, headers, reply.stream, reply.close, str(built.url)

    def _jar_applies(self, request: Request) -> bool:
        """Whether the cookie jar may add to this request (Scrapy's ``dont_merge_cookies``
        meta key keeps a request, and what it is answered, out of the jar)."""
        return self._cookies_seen and not request.meta.get("dont_merge_cookies")

    def _keep_cookies(self, reply: httpx.Response) -> None:
        if self._keeps_cookies and "set-cookie" in reply.headers:
            with self._cookies_lock:
                self._cookies.extract_cookies(reply)
                self._cookies_seen = True

    def fetch(self, request: Request) -> Response:
        deadline = time.monotonic() + self.timeout
        in_body = False
        try:
            # Our transport ends every socket operation by the deadline (connect, TLS, the
            # request, the headers, the body); other transports only see per-read timeouts.
            with bounded_by(deadline):
                proxy = self.proxies.proxy_for(request) if self.proxies is not None else None
                direct = self._pool is not None and proxy is None
                opened = self._open_direct(request) if direct else None
                status, headers, stream, close, url = opened or self._open(request, proxy)
                try:
                    in_body = True
                    body = self._read_body(headers, stream, deadline)
                finally:
                    close()
            return Response(url, status, headers, body, request)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{type(exc).__name__}: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            # The server hung up (a short body, or no answer at all), or sent what is not HTTP
            # (a bad status or header line, a chunk-size line that is not hex): the first is
            # a connection fault, the second the server's protocol.
            if not _hung_up(exc):
                raise ProtocolError(f"{type(exc).__name__}: {exc}") from exc
            if in_body:
                raise Truncated(f"body cut short: {type(exc).__name__}: {exc}") from exc
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except httpx.ReadError as exc:
            if in_body:
                raise Truncated(f"body cut short: {type(exc).__name__}: {exc}") from exc
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.ConnectError, httpx.NetworkError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise InvalidURL(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc

    def _read_body(self, headers: Headers, stream: Iterable[bytes], deadline: float) -> bytes:
        """The decoded body, under the size cap and the deadline."""
        declared = headers.get("content-length", "")
        encoding = headers.get("content-encoding")
        if not encoding and declared.isdigit() and int(declared) > self.max_size:
            raise ResponseTooLarge(f"Content-Length {declared} over DOWNLOAD_MAXSIZE")
        decoder = make_decoder(encoding)
        chunks: list[bytes] = []
        total = 0
        for raw in stream:
            # A per-read timeout never ends a body that trickles in; this does (the only
            # bound on transports other than ours).
            if time.monotonic() > deadline:
                raise FetchTimeout(f"no complete response within {self.timeout}s")
            for chunk in decoder.feed(raw):
                total += len(chunk)
                if total > self.max_size:
                    raise ResponseTooLarge(
                        f"body over DOWNLOAD_MAXSIZE ({self.max_size} B) once decoded"
                    )
                chunks.append(chunk)
        chunks.extend(decoder.flush())
        return b"".join(chunks)


def _hung_up(exc: httpx.RemoteProtocolError) -> bool:
    """Whether the protocol error is the server closing the connection (h11's and httpcore's
    words for it), rather than bytes that are not HTTP."""
    text = str(exc)
    return "peer closed connection" in text or "Server disconnected" in text
