"""How a rejected line is kept in ``raw_line``, the same for every source format.

A bad line's first ``MAX_RAW_LINE_BYTES`` (4 KiB) bytes, cut before a character that does not
fit; ``raw_line_bytes`` holds the whole line's length, so the cut is known. The bytes are kept
as text when they are valid UTF-8 without NUL; otherwise (or if the text itself starts with the
marker) as ``RAW_LINE_BASE64`` followed by their base64. ``raw_line_bytes_of`` gives them back.
"""

from __future__ import annotations

import base64

MAX_RAW_LINE_BYTES = 4 << 10
# raw_line holds this marker and base64 when the line's bytes are not storable text.
RAW_LINE_BASE64 = "base64:"


def raw_line(line: memoryview | bytes) -> tuple[str, int]:
    """A line as raw_line keeps it, and its whole length in bytes."""
    size = len(line)
    cut = min(size, MAX_RAW_LINE_BYTES)
    # Back over UTF-8 continuation bytes (at most 3), so a text line is cut between characters.
    for _ in range(3):
        if cut == size or line[cut] & 0xC0 != 0x80:
            break
        cut -= 1
    kept = bytes(line[:cut])
    try:
        text = kept.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(RAW_LINE_BASE64):
        text = RAW_LINE_BASE64 + base64.b64encode(kept).decode("ascii")
    return text, size


def raw_line_bytes_of(raw_line: str) -> bytes:
    """The bytes a ``raw_line`` keeps (the line's first ``MAX_RAW_LINE_BYTES`` at most)."""
    if raw_line.startswith(RAW_LINE_BASE64):
        return base64.b64decode(raw_line[len(RAW_LINE_BASE64) :])
    return raw_line.encode("utf-8")
