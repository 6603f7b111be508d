"""Failure kinds: every ``reason`` a line of the failures file can carry, and what it means.

Flow position: outside the flow. The engine writes one line per request that finally failed
(``<output stem>.failures.jsonl``) and counts it by this reason in the summary; README's
failure-kind table is generated from ``FAILURE_KINDS`` (a test keeps the two the same, and
another checks that every kind the code can write is listed here).
"""

from __future__ import annotations

FAILURE_KINDS: dict[str, str] = {
    "http_NNN": (
        "The server answered status NNN (http_404, http_503, ...) and the callback does not "
        "handle it; a status in RETRY_HTTP_CODES was retried first. `retry_after` holds the "
        "server's Retry-After, if it sent one."
    ),
    "timeout": "No complete response within DOWNLOAD_TIMEOUT (connect, headers and body).",
    "connect_error": (
        "A connection broken before a response came (a reset, a hang-up); one that could not "
        "be made at all makes the host down instead (see host_unreachable)."
    ),
    "protocol_error": (
        "The server did not speak HTTP: a malformed status line or header line, or chunked "
        "framing that is not chunked framing."
    ),
    "truncated": (
        "The body ended early: a reset, fewer bytes than Content-Length, a chunked or "
        "compressed body that never ends."
    ),
    "too_large": "The decoded body is over DOWNLOAD_MAXSIZE.",
    "decode_error": "A Content-Encoding that cannot be decoded.",
    "fetch_error": "Any other transport error of the HTTP client (the detail says which).",
    "invalid_url": (
        "A URL no request can be sent to (an unclosed IPv6 bracket, a port out of range, no "
        "host): a start URL, a link or a redirect's Location."
    ),
    "unsupported_scheme": "A start URL whose scheme is not http or https (ftp:, file:, ...).",
    "url_too_long": "A start URL longer than URLLENGTH_LIMIT.",
    "offsite_filtered": "A start URL outside the spider's allowed_domains and ALLOWED_DOMAINS.",
    "redirect_scheme": "A redirect to a scheme other than http or https.",
    "too_many_redirects": "More redirects than REDIRECT_MAX_TIMES.",
    "redirect_loop": "A redirect back to a URL already in the chain.",
    "private_address": (
        "The host resolves to (or connected to) a loopback, private, link-local or "
        "unique-local address while DENY_PRIVATE_ADDRESSES is on and ALLOWED_NETWORKS does not "
        "cover it; never retried."
    ),
    "host_unreachable": (
        "Never fetched: no connection to its host could be made (refused, DNS, TLS, connect "
        "timeout; the detail names the cause) for HOST_DOWN_TIMEOUT seconds "
        "(HOST_UNREACHED_TIMEOUT if it never answered in this run), nothing else was left, and "
        "there was no job folder to keep it in (with one, it stays there for the next run)."
    ),
    "robots_forbidden": "robots.txt disallows the URL.",
    "robots_unavailable": (
        "robots.txt stayed unreachable (5xx, or no answer) through ROBOTSTXT_RETRY_TIMES "
        "waits; the detail names the last cause (HTTP 503, a DNS or TLS error, ...)."
    ),
    "middleware_error": (
        "A downloader middleware raised (not IgnoreRequest, which drops the request without a "
        "failure line) or returned something else than it may; the log has the traceback."
    ),
    "callback_error": "The callback raised; the detail is the exception's last line.",
    "parse_error": "The parse job failed outside the callback (its result could not be sent).",
    "parse_timeout": "The callback ran past PARSE_TIMEOUT on every try.",
    "worker_died": "The callback's worker process died on every try (a crash, os._exit).",
    "worker_memory": "The callback went over PARSE_MEMORY_LIMIT on every try.",
    "internal_error": "A bug in the framework while handling the request (the log has it).",
}


def markdown_table() -> str:
    """README's failure-kind table."""
    rows = ["| Reason | What happened |", "|---|---|"]
    rows += [f"| `{kind}` | {meaning} |" for kind, meaning in FAILURE_KINDS.items()]
    return "\n".join(rows)
