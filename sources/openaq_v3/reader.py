"""Read one partition of OpenAQ v3 archive objects through the shared day reader
(``sources.day_reader``: thread pool, reuse of unchanged objects, the day report).

An object is inflated by ``sources.compression`` and read to its lines (``archive_lines``) on
the reader's threads; the day's lines become raw rows at once (``archive_rows``). Its rows'
``published_at`` is the object's ``last_modified``: a patched file (same key, new ETag) is
published after the version it replaces, so harmonization keeps its values. A damaged stream
keeps its complete lines, as in v1: the bytes after the last newline become one row numbered
after them, carrying the stream's error, and the object is listed as broken with that text.
Keys that are not archive keys are ``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from sources.compression import inflate
from sources.day_reader import DayReport, read_day
from sources.objects import ObjectInfo, ParsedObject
from sources.openaq_v3.keys import parse_key
from sources.openaq_v3.parse import LINES_SCHEMA, Origin, archive_lines, archive_rows

NOT_AN_ARCHIVE_KEY = "not an archive key"
_RAW_LINE_BYTES = 4 << 10  # raw_line keeps a line's first 4 KiB (domain.raw_schema)
# Objects fetched at once: an archive object is small, so a GET's wait, not parsing, sets the pace.
ARCHIVE_READ_THREADS = 8


def read_archive_day(
    objects: Iterable[ObjectInfo],
    read: Callable[[str], bytes],
    previous: pa.Table | None,
    *,
    threads: int = ARCHIVE_READ_THREADS,
) -> tuple[pa.Table, DayReport]:
    """Rows of RAW_SCHEMA for the archive objects of one partition, and the day report.

    ``objects`` may be a lazy listing (see ``sources.day_reader.read_day``). ``previous`` is the
    partition's table from an earlier read, whose rows of objects listed again with the same
    ETag are reused.
    """
    return read_day(
        objects, read, previous, parse=_parse, name_error=archive_key_error, assemble=_rows, threads=threads
    )


def archive_key_error(key: str) -> str | None:
    """Why ``key`` is not an archive object's key, or None if it is one."""
    return None if parse_key(key) is not None else f"{NOT_AN_ARCHIVE_KEY}: {key}"


def _parse(data: bytes, info: ObjectInfo) -> ParsedObject:
    """The object's lines (LINES_SCHEMA)."""
    text, damage, trailing = inflate(data)
    if damage is None:
        return ParsedObject(archive_lines(bytes(text)), trailing)
    # The complete lines are parsed; the rest (possibly empty) is one line carrying the damage.
    end = text.rfind(b"\n") + 1
    complete, rest = bytes(text[:end]), bytes(text[end:])
    problem = damage if not rest.strip() else f"{damage}; last line cut off"
    cut = pa.Table.from_pylist(
        [
            {
                "line_number": complete.count(b"\n") + 1,
                "parse_error": problem,
                "raw_line": rest[:_RAW_LINE_BYTES].decode("utf-8", "backslashreplace"),
                "raw_line_bytes": len(rest),
            }
        ],
        schema=LINES_SCHEMA,
    )
    tables = [archive_lines(complete), cut] if complete else [cut]
    return ParsedObject(pa.concat_tables(tables), problem)


def _rows(parsed: list[tuple[ObjectInfo, pa.Table]]) -> pa.Table:
    return archive_rows([(Origin(info.key, info.etag, info.last_modified), lines) for info, lines in parsed])
