"""Read one day of source objects, whatever their format: fetch, parse and report, a few at a time.

A format gives its name check (a key -> why it is not one of its objects, or None) and its parse
function (the object's bytes and listing -> ``ParsedObject``). The day report lists keys that
fail the name check as ``skipped``, and objects that are damaged or not of the format as
``broken_objects``: one entry each, with the error its class starts. A damaged stream's entry is
its cut row's ``parse_error`` (a ``sources.compression`` stream reason), found again in reused
rows; an object with trailing bytes after its gzip stream, whose rows are all whole, is listed
when it is read, not when its rows are reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from domain.raw_schema import RAW_SCHEMA
from sources.compression import STREAM_REASONS, reason_class
from sources.objects import ObjectInfo, ParsedObject

# Objects fetched and parsed at once: some are fetched, gunzipped and screened while pyarrow
# parses others, so no core waits on a thread holding the GIL (or on S3).
READ_THREADS = 4

ParseObject = Callable[[bytes, ObjectInfo], ParsedObject]
NameCheck = Callable[[str], str | None]
# The parsed objects' tables (in listing order) to the rows of RAW_SCHEMA. By default they are
# concatenated; a format whose objects are small converts them here, once for all of them.
AssembleRows = Callable[[list[tuple[ObjectInfo, pa.Table]]], pa.Table]


def concatenate(parsed: list[tuple[ObjectInfo, pa.Table]]) -> pa.Table:
    return pa.concat_tables([table for _, table in parsed])


@dataclass
class DayReport:
    """What reading a day found: the provenance list and the counts for asset metadata."""

    # every object of the day, read or reused: key, etag, size, last_modified (ISO 8601 or None)
    objects: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    broken_objects: list[dict] = field(default_factory=list)
    bytes: int = 0  # bytes fetched from the bucket by this read
    objects_reused: int = 0  # objects whose rows came from the previous read (same key and ETag)
    objects_new: int = 0  # objects whose key the previous read did not have
    objects_changed: int = 0  # objects the previous read had under another ETag (re-written)
    records: int = 0
    unparseable_lines: int = 0


def read_day(
    objects: Iterable[ObjectInfo],
    read: Callable[[str], bytes],
    previous: pa.Table | None,
    *,
    parse: ParseObject,
    name_error: NameCheck,
    assemble: AssembleRows = concatenate,
    threads: int = READ_THREADS,
) -> tuple[pa.Table, DayReport]:
    """Read and parse the objects of one day, ``threads`` objects in memory at a time.

    ``objects`` may be a lazy listing: each object is fetched as soon as it is listed, while the
    rest are listed. ``previous`` is the day's table from an earlier read: the rows of objects
    still listed with the same ETag are reused, so only new or changed objects are fetched again.
    """
    report = DayReport()
    tables = []
    known: set[tuple[str, str]] = set()
    if previous is not None and previous.schema.names == RAW_SCHEMA.names:
        previous = previous.cast(RAW_SCHEMA)  # Parquet keeps second timestamps as milliseconds
        known = set(
            zip(previous.column("source_key").to_pylist(), previous.column("source_etag").to_pylist(), strict=True)
        )
    else:
        previous = None
    known_keys = {key for key, _ in known}
    reused: list[str] = []
    to_read: list[ObjectInfo] = []
    pending: list[Future[tuple[int, ParsedObject]]] = []

    def fetch_and_parse(info: ObjectInfo) -> tuple[int, ParsedObject]:
        data = read(info.key)
        return len(data), parse(data, info)

    # Several objects at a time: some are fetched and gunzipped while pyarrow parses others
    # (both release the GIL). Results keep the listing's order.
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for info in objects:
            problem = name_error(info.key)
            if problem is not None:
                report.skipped.append({"key": info.key, "reason": problem})
                continue
            modified = None if info.last_modified is None else info.last_modified.isoformat()
            report.objects.append({"key": info.key, "etag": info.etag, "size": info.size, "last_modified": modified})
            if (info.key, info.etag) in known:
                reused.append(info.key)
                continue
            to_read.append(info)
            pending.append(pool.submit(fetch_and_parse, info))
            if info.key in known_keys:
                report.objects_changed += 1
            else:
                report.objects_new += 1
        parsed = []
        broken: dict[str, str] = {}
        for info, future in zip(to_read, pending, strict=True):
            size, result = future.result()
            report.bytes += size
            parsed.append((info, result.table))
            if result.problem is not None:
                broken[info.key] = result.problem
    if parsed:
        tables.append(assemble(parsed))
    if reused and previous is not None:
        old = previous.filter(pc.is_in(previous.column("source_key"), value_set=pa.array(reused)))
        tables.append(old)
        errors = old.filter(pc.is_valid(old.column("parse_error"))).select(["source_key", "parse_error"]).to_pylist()
        for row in errors:  # a damaged stream's cut row: the object's entry when it was read
            if reason_class(row["parse_error"]) in STREAM_REASONS:
                broken.setdefault(row["source_key"], row["parse_error"])
    table = pa.concat_tables(tables) if tables else RAW_SCHEMA.empty_table()
    if reused:  # objects in key order, as listed; a stable sort keeps each one's rows in their order
        table = table.sort_by("source_key")
    report.objects_reused = len(reused)
    report.records = table.num_rows
    report.unparseable_lines = table.num_rows - table.column("parse_error").null_count
    report.broken_objects = [{"key": key, "error": error} for key, error in sorted(broken.items())]
    return table, report
