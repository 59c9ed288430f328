"""Inflate a source object that may be gzipped, keeping what a damaged stream still holds.

Gzip is recognised by its magic bytes, not by the name; other bytes are returned as they are.
The stream is inflated in 64 KiB steps; when a step fails, it is inflated again byte by byte,
so every byte zlib inflated before the damage is kept. (Deflate has no checksum before the
trailer: zlib may inflate a stretch of garbage before it notices.) Further gzip members are read
as the same object; NUL padding between or after members is ignored; other bytes after the
last complete member are ignored and reported (``trailing data``).

At most ``MAX_OBJECT_BYTES`` (256 MiB) are inflated (``object too large``), so a small object
cannot inflate without bound. Every problem starts with its reason class, then ``": "``
(``reason_class`` gives the class); a format's reader keeps the complete lines of a damaged
stream and turns the bytes after the last one into a row carrying the damage.
"""

from __future__ import annotations

import re
import zlib

MAX_OBJECT_BYTES = 256 << 20

# A damaged stream: the reader's row standing for the unreadable rest carries one of these.
TRUNCATED_STREAM = "truncated gzip stream"
CORRUPT_STREAM = "corrupt gzip stream"
OBJECT_TOO_LARGE = "object too large"
STREAM_REASONS = (TRUNCATED_STREAM, CORRUPT_STREAM, OBJECT_TOO_LARGE)
# Bytes after the gzip stream: no record is lost, the object is listed as broken when read.
TRAILING_DATA = "trailing data"

_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 64 << 10
_NOT_NUL = re.compile(rb"[^\x00]")


def reason_class(error: str) -> str:
    """The class a ``parse_error`` (or a broken object's error) starts with."""
    return error.split(":", 1)[0]


def decompress(data: bytes) -> tuple[bytes | bytearray, str | None]:
    """The object's text, and what is wrong with its stream (None if nothing is)."""
    text, damage, trailing = inflate(data)
    return text, damage or trailing


def inflate(data: bytes) -> tuple[bytes | bytearray, str | None, str | None]:
    """The object's text, the damage that cut it (None if whole) and what trailing bytes were
    ignored (None if none): see the module docstring."""
    if not data.startswith(_GZIP_MAGIC):
        return data, None, None
    out = bytearray()  # grown in place: a list of pieces joined at the end would hold the text twice
    view = memoryview(data)
    position = 0
    while True:
        inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            if position >= len(view):
                return out, f"{TRUNCATED_STREAM}: the object ends before the gzip trailer", None
            step = view[position : position + _INFLATE_STEP]
            before = inflater.copy()
            try:
                # At most one byte past the cap, so a small object cannot inflate without bound.
                out += inflater.decompress(step, MAX_OBJECT_BYTES + 1 - len(out))
            except zlib.error as exc:
                out += _inflate_until_error(before, step)  # what the failed step inflated before the damage
                del out[MAX_OBJECT_BYTES:]
                return out, f"{CORRUPT_STREAM}: {exc}", None
            if len(out) > MAX_OBJECT_BYTES:
                del out[MAX_OBJECT_BYTES:]
                return (
                    out,
                    f"{OBJECT_TOO_LARGE}: more than {MAX_OBJECT_BYTES} bytes inflated; the rest is not read",
                    None,
                )
            position += len(step)
        position -= len(inflater.unused_data)  # the step's bytes after this member
        following = _NOT_NUL.search(data, position)  # NUL padding is skipped
        if following is None:
            return out, None, None
        position = following.start()
        if not data.startswith(_GZIP_MAGIC, position):
            return (
                out,
                None,
                f"{TRAILING_DATA}: {len(data) - position} bytes after the gzip stream are not gzip; ignored",
            )


def _inflate_until_error(inflater, step: memoryview) -> bytes:
    """What ``inflater`` inflates from ``step`` fed a byte at a time, up to the byte it refuses."""
    pieces = []
    for i in range(len(step)):
        try:
            pieces.append(inflater.decompress(step[i : i + 1]))
        except zlib.error:
            break
    return b"".join(pieces)
