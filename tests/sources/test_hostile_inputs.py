"""The hostile corpus (tests/hostile_inputs.py) through the parser and the day reader: each bad
line or object costs itself and nothing more."""

import json
import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from domain.raw_schema import RAW_SCHEMA
from sources.objects import ObjectInfo
from sources.openaq_v1.fields import RECORD_FIELDS
from sources.openaq_v1.names import object_name_error, published_at
from sources.openaq_v1.parse import MAX_RAW_LINE_BYTES, decompress, raw_line_bytes_of, read_object, reason_class
from sources.openaq_v1.reader import read_objects
from tests.hostile_inputs import CASES, HostileCase
from tests.openaq_fixtures import record_fields

READ = [c for c in CASES if c.expected.skipped is None]

# Raw columns holding a record's fields, and how the JSON record spells them.
FIELDS = RECORD_FIELDS  # raw column -> where the record holds it


def lines_of(case: HostileCase) -> list[bytes]:
    """The object's lines as the parser numbers them (line i is ``lines[i - 1]``)."""
    return bytes(decompress(case.data)[0]).split(b"\n")


def expected_fields(text: bytes) -> dict:
    """A good line's fields, read by Python's JSON reader (the reference the parser must match)."""
    record = json.loads(text)
    return record_fields(record)


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("case", READ, ids=[c.name for c in READ])
def test_each_case_costs_only_its_bad_line_or_object(case):
    parsed = read_object(case.data, key=case.key, etag="e")
    table = parsed.table
    assert table.schema == RAW_SCHEMA
    table.validate(full=True)  # strings are UTF-8
    rows = table.to_pylist()
    expected = case.expected
    assert len(rows) == expected.rows
    assert len({r["line_number"] for r in rows}) == len(rows)  # one row per line
    bad = {r["line_number"]: reason_class(r["parse_error"]) for r in rows if r["parse_error"] is not None}
    assert bad == expected.bad_lines
    assert (reason_class(parsed.problem) if parsed.problem else None) == expected.broken
    # Every good line is the record the object holds, field by field.
    lines = lines_of(case)
    for row in rows:
        if row["parse_error"] is None:
            want = expected_fields(lines[row["line_number"] - 1])
            assert all(same(row[c], want[c]) for c in FIELDS), (row, want)
    # Bad lines keep their bytes as they came (cut at the cap), and their whole length.
    for row in rows:
        if row["raw_line"] is not None:
            line = lines[row["line_number"] - 1]  # a damaged stream's cut row: the bytes after the last newline
            kept = raw_line_bytes_of(row["raw_line"])
            assert len(kept) <= MAX_RAW_LINE_BYTES and line.startswith(kept) and row["raw_line_bytes"] == len(line)
        else:
            assert row["raw_line_bytes"] is None
    for column in ("location", "city", "parse_error", "raw_line", "date_utc", "unit"):
        assert not pc.any(pc.match_substring(table.column(column), "\x00")).as_py()  # PostgreSQL refuses NUL


def test_the_day_reader_reports_every_case_once():
    data = {case.key: case.data for case in CASES}
    objects = [ObjectInfo(key, len(blob), f"etag-{i}") for i, (key, blob) in enumerate(sorted(data.items()))]
    table, report = read_objects(objects, data.__getitem__)
    assert table.num_rows == report.records == sum(c.expected.rows for c in READ)
    assert report.unparseable_lines == sum(len(c.expected.bad_lines) for c in READ)
    assert {s["key"]: reason_class(s["reason"]) for s in report.skipped} == {
        c.key: c.expected.skipped for c in CASES if c.expected.skipped
    }
    assert {b["key"]: reason_class(b["error"]) for b in report.broken_objects} == {
        c.key: c.expected.broken for c in READ if c.expected.broken
    }
    # Read again with the first read as the previous table: the damaged streams are found again in
    # their rows; objects with no rows (not NDJSON) are read again; trailing data is listed when read.
    fetched = []
    again, again_report = read_objects(objects, lambda key: fetched.append(key) or data[key], previous=table)
    assert again.num_rows == table.num_rows
    no_rows = {c.key for c in READ if c.expected.rows == 0}
    assert set(fetched) == no_rows
    listed = {b["key"] for b in again_report.broken_objects}
    assert listed == {c.key for c in READ if c.expected.broken and c.expected.broken != "trailing data"}


@pytest.mark.parametrize("case", [c for c in CASES if c.expected.skipped], ids=lambda c: c.name)
def test_absurd_names_are_skipped_with_their_time(case):
    assert reason_class(object_name_error(case.key)) == case.expected.skipped
    with pytest.raises(ValueError, match="implausible publish time"):
        published_at(case.key)


def test_the_corpus_has_a_case_of_every_reason_class():
    from sources.openaq_v1.parse import LINE_REASONS, OBJECT_REASONS

    seen = {r for c in CASES for r in c.expected.bad_lines.values()} | {c.expected.broken for c in CASES}
    assert set(LINE_REASONS) <= seen
    assert set(OBJECT_REASONS) - {"object too large"} <= seen  # a 256 MiB object is tested with a lower cap
    assert len({c.name for c in CASES}) == len({c.key for c in CASES}) == len(CASES)


def test_parquet_and_pandas_take_what_the_parser_made_of_the_corpus(tmp_path):
    import pyarrow.parquet as pq

    from domain.fingerprint import table_fingerprint

    table = pa.concat_tables([read_object(c.data, key=c.key, etag="e").table for c in READ])
    pq.write_table(table, tmp_path / "raw.parquet")
    back = pq.read_table(tmp_path / "raw.parquet").cast(RAW_SCHEMA)
    assert table_fingerprint(back) == table_fingerprint(table)  # NaN-aware; to_pandas decodes every string
