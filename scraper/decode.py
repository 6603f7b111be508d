"""Content-Encoding decoders whose output is bounded per call.

Flow position: inside a fetch, between the raw bytes off the socket and the body size check.

httpx's own decoders inflate a whole network chunk at once, and a few kilobytes of a
compression bomb can inflate to gigabytes in one call. These decoders hand out at most
``CHUNK`` bytes at a time, so ``DOWNLOAD_MAXSIZE`` stops a bomb with memory bounded:
zlib and brotli take an output limit; zstd is fed small slices of input instead.

A compressed stream says where it ends. One cut short with its framing intact (a Content-Length
that matches the truncated bytes) decodes without error, so ``flush`` checks the decompressor
reached that end and raises ``Truncated`` if not: the body is retried, never parsed as complete.
A body with no bytes at all (HEAD, 204, 304) is left alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from .errors import DecodeError, Truncated

ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what make_decoder decodes
CHUNK = 256 * 1024  # most decoded bytes produced per step
ZSTD_SLICE = 64  # input bytes per zstd step; zstd's ratio is capped near 1:32k per block


class Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class Zlib:
    """gzip (wbits 16+) or deflate (zlib-wrapped, falling back to raw deflate as browsers do)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._fed and data:
            self._fed = True
            if not self._gzip and (data[0] & 0x0F) != 8:  # no zlib header: raw deflate
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = self._obj.decompress(data, CHUNK)
            while out:
                yield out
                out = self._obj.decompress(self._obj.unconsumed_tail, CHUNK)
        except zlib.error as exc:
            raise DecodeError(f"bad compressed body: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        tail = self._obj.flush()
        if tail:
            yield tail
        _check_ended(self._fed and not self._obj.eof, "gzip" if self._gzip else "deflate")


class Brotli:
    def __init__(self) -> None:
        import brotli

        self._obj = brotli.Decompressor()
        self._error = brotli.error
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        try:
            out = self._obj.process(data, output_buffer_limit=CHUNK)
            # Drain what the limit held back before taking more input.
            while out:
                yield out
                if self._obj.is_finished():
                    return
                out = self._obj.process(b"", output_buffer_limit=CHUNK)
        except self._error as exc:
            raise DecodeError(f"bad brotli body: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        _check_ended(self._fed and not self._obj.is_finished(), "brotli")
        return iter(())


class Zstd:
    def __init__(self) -> None:
        import zstandard

        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._error = zstandard.ZstdError
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        try:
            for start in range(0, len(data), ZSTD_SLICE):
                out = self._obj.decompress(data[start : start + ZSTD_SLICE])
                if out:
                    yield out
        except self._error as exc:
            raise DecodeError(f"bad zstd body: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        _check_ended(self._fed and not self._obj.eof, "zstd")
        return iter(())


def _check_ended(cut_short: bool, name: str) -> None:
    if cut_short:
        raise Truncated(f"body cut short: the {name} stream does not end")


Decoder = Identity | Zlib | Brotli | Zstd


def make_decoder(content_encoding: str | None) -> Decoder:
    encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if not encodings:
        return Identity()
    if len(encodings) > 1:
        raise DecodeError(f"stacked Content-Encoding not supported: {content_encoding}")
    encoding = encodings[0]
    if encoding in ("gzip", "x-gzip"):
        return Zlib(gzip=True)
    if encoding == "deflate":
        return Zlib(gzip=False)
    try:
        if encoding == "br":
            return Brotli()
        if encoding == "zstd":
            return Zstd()
    except ImportError as exc:
        raise DecodeError(f"no decoder installed for Content-Encoding {encoding}") from exc
    raise DecodeError(f"unknown Content-Encoding {encoding}")
