"""Secrets out of what the crawl prints and records: passwords in URLs (a Redis URL, a proxy, a
page's ``user:password@``), and the values of ``Authorization``, ``Proxy-Authorization`` and
cookie headers.

Flow position: at the edges where text leaves the process: every log line (``RedactingFilter``
on the log handlers the command installs), the failures file and dead letters (``redact_url``
on the URLs they hold, ``redact_text`` on free text). The stored frontier records keep requests
whole: a resumed request must carry its headers again.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@ anywhere in a text: the password goes.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\s:]*):[^/?#@\s]*@")
# A credential header's value, as a log or a repr shows it: ``Authorization: Basic abc``,
# ``'cookie': 'a=b'``, ``(b'Proxy-Authorization', b'...')``.
_HEADER_VALUE = re.compile(
    r"""((?:proxy-)?authorization|(?:set-)?cookie)(['"]?\s*[:=,]\s*(?:b?['"])?)([^'"\r\n]+)""",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """``url`` without its password (``user:***@host``)."""
    if "@" not in url:  # most URLs: no parsing
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed port: mask by pattern
        return redact_text(url)
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:{MASK}@" if parts.username else f":{MASK}@"
    return urlunsplit(parts._replace(netloc=user + host))


def redact_text(text: str) -> str:
    """``text`` with URL passwords and credential header values masked."""
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    if any(word in text.lower() for word in ("authorization", "cookie")):
        text = _HEADER_VALUE.sub(rf"\1\2{MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler emits (exception text included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def redact_logs() -> None:
    """Mask secrets in everything the root logger's handlers write (call after configuring
    them): a spider's own log lines included."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
