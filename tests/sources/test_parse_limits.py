"""The parser's caps, raw_line escapes and stream rules (sources.openaq_v1.parse's docstring)."""

import base64
import gzip
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sources import compression
from sources.openaq_v1 import parse as P
from sources.openaq_v1.names import EARLIEST_PUBLISHED, LATEST_PUBLISHED, object_name_error
from sources.openaq_v1.parse import decompress, raw_line_bytes_of, read_object, reason_class
from tests.hostile_inputs import inflatable_prefix, line, ndjson, records

KEY = "2014-01-01/1388577600.ndjson.gz"
ROOT = Path(__file__).resolve().parents[2]


def rows_of(data: bytes) -> list[dict]:
    return read_object(data, key=KEY, etag="e").table.to_pylist()


def bad_rows(rows: list[dict]) -> dict[int, dict]:
    return {r["line_number"]: r for r in rows if r["parse_error"] is not None}


def test_a_200_mb_location_costs_its_line_and_is_held_once(tmp_path):
    """The line is one bad row keeping 4 KiB; the process holds the inflated text about once
    (before: the name was stored whole, and reading it peaked at 1.3-2.7 GB)."""
    script = textwrap.dedent(
        """
        import json, resource, sys, zlib
        from sources.openaq_v1.parse import read_object
        good = b"".join(json.dumps({"parameter": "o3", "value": i}).encode() + b"\\n" for i in range(3000))
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        parts = [compressor.compress(good + b'{"parameter":"o3","value":1,"location":"')]
        parts += [compressor.compress(b"A" * (1 << 20)) for _ in range(200)]
        parts += [compressor.compress(b'"}\\n' + good), compressor.flush()]
        data = b"".join(parts)
        del parts
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        table = read_object(data, key="2014-01-01/1388577600.ndjson.gz", etag="e").table
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        bad = table.filter(table.column("parse_error").is_valid()).to_pylist()
        print(json.dumps({"rows": table.num_rows, "grown": grown,
                          "bad": [[r["line_number"], r["parse_error"], len(r["raw_line"]), r["raw_line_bytes"]] for r in bad]}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    size = (200 << 20) + len('{"parameter":"o3","value":1,"location":""}')
    assert result["rows"] == 6001
    assert result["bad"] == [
        [3001, f"line too long: {size} bytes, more than {P.MAX_LINE_BYTES}", P.MAX_RAW_LINE_BYTES, size]
    ]
    assert result["grown"] < 1.5 * size + (32 << 20)


def test_an_object_inflates_up_to_the_cap_and_keeps_the_lines_before_it(monkeypatch):
    monkeypatch.setattr(compression, "MAX_OBJECT_BYTES", 1 << 20)  # the cap lives where gzip is inflated
    items = records(1, 1388577600, 6000)  # about 2.7 MB
    text = ndjson([line(r) for r in items])
    rows = rows_of(gzip.compress(text))
    kept = text[: 1 << 20]
    complete = kept.count(b"\n")
    assert len(rows) == complete + 1
    assert [r["line_number"] for r in rows if r["parse_error"] is None] == list(range(1, complete + 1))
    cut = rows[-1]
    assert reason_class(cut["parse_error"]) == P.OBJECT_TOO_LARGE and cut["line_number"] == complete + 1
    assert cut["raw_line_bytes"] == len(kept) - kept.rfind(b"\n") - 1  # the partial line up to the cap


def test_garbled_deflate_keeps_every_line_zlib_inflated_cleanly_before_it():
    """Deflate has no checksum until the trailer, so zlib may inflate some garbage before it
    notices; every line before the garbage is kept (before: a 64 KB step lost them all)."""
    items = records(2, 1388577600, 2000)
    text = ndjson([line(r) for r in items])
    data = bytearray(gzip.compress(text, mtime=0))
    data[20_000:20_016] = bytes(b ^ 0x5A for b in data[20_000:20_016])
    prefix = inflatable_prefix(bytes(data))
    clean = 0  # complete lines of the inflated prefix that are the object's lines
    for got, want in zip(prefix.split(b"\n")[:-1], text.split(b"\n"), strict=False):
        if got != want:
            break
        clean += 1
    assert clean > 300
    rows = {r["line_number"]: r for r in rows_of(bytes(data))}
    assert all(
        rows[n]["parse_error"] is None and rows[n]["value"] == items[n - 1]["value"] for n in range(1, clean + 1)
    )
    last = max(rows)
    assert last == prefix.count(b"\n") + 1 and reason_class(rows[last]["parse_error"]) == P.CORRUPT_STREAM


def test_trailing_bytes_after_the_stream_cost_no_record_and_add_no_row():
    text = ndjson([line(r) for r in records(3, 1388577600, 50)])
    data = gzip.compress(text) + b"junk without a newline"
    parsed = read_object(data, key=KEY, etag="e")
    assert parsed.table.num_rows == 50 and parsed.table.column("parse_error").null_count == 50
    assert reason_class(parsed.problem) == P.TRAILING_DATA and "22 bytes" in parsed.problem
    assert decompress(data) == (text, parsed.problem)


def test_trailing_gzip_members_and_nul_padding_are_read():
    text = ndjson([line(r) for r in records(4, 1388577600, 30)])
    data = gzip.compress(text[:1000]) + b"\x00" * 512 + gzip.compress(text[1000:]) + b"\x00" * 100
    assert decompress(data) == (text, None)


@pytest.mark.parametrize(
    "raw, stored",
    [
        (b'{"a": 1', '{"a": 1'),  # text as it came
        (b'{"a": "\xff"}', "base64:" + base64.b64encode(b'{"a": "\xff"}').decode()),  # not UTF-8
        (b'{"a": "\x00"}', "base64:" + base64.b64encode(b'{"a": "\x00"}').decode()),  # NUL
        (b"base64:abc", "base64:" + base64.b64encode(b"base64:abc").decode()),  # the marker itself
    ],
)
def test_raw_line_is_the_text_or_marked_base64_and_reversible(raw, stored):
    rows = rows_of(ndjson([line(records(5, 1388577600, 1)[0]), raw]))
    bad = bad_rows(rows)[2]
    assert bad["raw_line"] == stored and raw_line_bytes_of(stored) == raw and bad["raw_line_bytes"] == len(raw)


def test_raw_line_is_cut_between_characters_and_records_the_whole_length():
    # "é" is two bytes; put one across the 4 KiB cut.
    raw = b'{"location": "' + b"a" * (P.MAX_RAW_LINE_BYTES - 15) + "é".encode() * 3000 + b'", "value": "x"'
    bad = bad_rows(rows_of(ndjson([line(records(6, 1388577600, 1)[0]), raw])))[2]
    kept = raw_line_bytes_of(bad["raw_line"])
    assert not bad["raw_line"].startswith("base64:") and raw.startswith(kept)
    assert P.MAX_RAW_LINE_BYTES - 1 <= len(kept) <= P.MAX_RAW_LINE_BYTES and bad["raw_line_bytes"] == len(raw)


def test_a_long_line_of_valid_fields_is_a_record():
    record = records(7, 1388577600, 1)[0] | {"location": "x" * P.MAX_FIELD_BYTES, "city": "y" * P.MAX_FIELD_BYTES}
    rows = rows_of(ndjson([line(record)]))
    assert rows[0]["parse_error"] is None and rows[0]["location"] == record["location"]
    record["city"] += "y"
    rows = rows_of(ndjson([line(record)]))
    assert (
        rows[0]["parse_error"]
        == f"field too long: city is {P.MAX_FIELD_BYTES + 1} bytes, more than {P.MAX_FIELD_BYTES}"
    )


def test_bad_line_reasons_name_the_field():
    base = records(8, 1388577600, 1)[0]
    lines = [
        line(base).replace(b'"value":', b'"value":1e999,"x":', 1),
        line(base).replace(b'"location":"', b'"location":"\\ud800'),
        line(base).replace(b'"city":"', b'"city":"\\u0000'),
        line(base)[:-1] + b',"mobile":true}',
        line(base).replace(b'"Agency', b'"\xe2\x82Agency', 1),
        line(base),
    ]
    bad = {n: r["parse_error"] for n, r in bad_rows(rows_of(ndjson(lines))).items()}
    assert bad == {
        1: "number out of range: value is the literal 1e999, beyond float64",
        2: "lone surrogate: location holds \\ud800 without its pair",
        3: "NUL character: city holds U+0000",
        4: "duplicate field: mobile is given twice",
        5: bad[5],  # where the bad byte is: checked below
    }
    assert bad[5].startswith("invalid UTF-8: byte ")


def test_pyarrow_infinities_are_checked_one_by_one():
    base = records(9, 1388577600, 1)[0]
    lines = [
        line(base | {"value": 1.5}),
        line(base).replace(b'"value":', b'"value":' + b"9" * 320 + b',"x":', 1),
        line(base).replace(b'"value":', b'"value":-Infinity,"x":', 1),
    ]
    rows = {r["line_number"]: r for r in rows_of(ndjson(lines))}
    assert rows[1]["parse_error"] is None and rows[1]["value"] == 1.5
    assert reason_class(rows[2]["parse_error"]) == P.NUMBER_OUT_OF_RANGE and rows[2]["value"] is None
    assert rows[3]["parse_error"] is None and rows[3]["value"] == float("-inf")


@pytest.mark.parametrize(
    "seconds, plausible",
    [
        (int(EARLIEST_PUBLISHED.timestamp()) - 1, False),
        (int(EARLIEST_PUBLISHED.timestamp()), True),
        (int(LATEST_PUBLISHED.timestamp()) - 1, True),
        (int(LATEST_PUBLISHED.timestamp()), False),
        (int((datetime.now(UTC) + timedelta(days=1)).timestamp()), True),
    ],
    # Named ids: a time in the id would differ between the workers that collect the tests.
    ids=["before-2013", "first-second", "last-second", "2100", "tomorrow"],
)
def test_names_are_plausible_from_2013_to_2099(seconds, plausible):
    problem = object_name_error(f"2014-01-01/{seconds}_abc.ndjson")
    assert (problem is None) == plausible
    if not plausible:
        assert problem.startswith("implausible publish time: object name")


def test_only_an_object_without_a_line_that_could_be_a_record_is_not_ndjson():
    assert read_object(b'{"date": {"utc": "2014', key=KEY, etag="e").table.num_rows == 1
    parsed = read_object(b"\x89PNG\r\n\x1a\n\x00\x00", key=KEY, etag="e")
    assert parsed.table.num_rows == 0 and reason_class(parsed.problem) == P.BINARY_DATA
    parsed = read_object(b"   \n\t\n", key=KEY, etag="e")
    assert parsed.table.num_rows == 0 and parsed.problem is None  # blank: nothing to read, nothing lost
    parsed = read_object(json.dumps(records(10, 1388577600, 1)[0]).encode() + b"\r\n", key=KEY, etag="e")
    assert parsed.table.num_rows == 1 and parsed.problem is None  # a CRLF record looks like a record


def test_an_object_is_read_up_to_its_line_cap(monkeypatch):
    monkeypatch.setattr(P, "MAX_OBJECT_LINES", 100)
    monkeypatch.setattr(P, "_SALVAGED_BATCH", 7)  # bad rows gathered into tables a few at a time
    items = [line(r) for r in records(11, 1388577600, 150)]
    items[10:40] = [b"[1]"] * 30
    parsed = read_object(gzip.compress(ndjson(items)), key=KEY, etag="e")
    rows = parsed.table.to_pylist()
    assert sorted(r["line_number"] for r in rows) == list(range(1, 102))
    assert [r["line_number"] for r in rows if r["parse_error"] == "not an object: a JSON array"] == list(range(11, 41))
    rest = rows[-1]
    assert rest["line_number"] == 101 and rest["parse_error"] == parsed.problem
    assert parsed.problem == "object too large: more than 100 lines; the rest is not read"
    assert rest["raw_line_bytes"] == len(ndjson(items[100:]))  # the unread rest, whose first 4 KiB raw_line keeps
