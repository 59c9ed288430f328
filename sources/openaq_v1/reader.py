"""Read a fetch day of OpenAQ v1 real-time objects through the shared day reader
(``sources.day_reader``: thread pool, reuse of unchanged objects, the day report).

Keys that are not plausible object names are ``skipped`` (``names``); objects that are damaged
or not NDJSON are ``broken_objects`` (``parse``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pyarrow as pa

from sources.day_reader import READ_THREADS, DayReport, read_day
from sources.objects import ObjectInfo, ParsedObject
from sources.openaq_v1.names import object_name_error
from sources.openaq_v1.parse import read_object

__all__ = ["READ_THREADS", "DayReport", "read_objects"]


def read_objects(
    objects: Iterable[ObjectInfo], read: Callable[[str], bytes], previous: pa.Table | None = None
) -> tuple[pa.Table, DayReport]:
    """Read and parse the v1 objects of one day (see ``sources.day_reader.read_day``)."""
    return read_day(objects, read, previous, parse=_parse, name_error=object_name_error)


def _parse(data: bytes, info: ObjectInfo) -> ParsedObject:
    return read_object(data, key=info.key, etag=info.etag)
