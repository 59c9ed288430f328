import gzip
from datetime import UTC, datetime

import pytest

from domain.raw_schema import RAW_SCHEMA
from sources.objects import ObjectInfo
from sources.openaq_v1.names import object_name_error, published_at
from sources.openaq_v1.parse import decompress, parse_object
from sources.openaq_v1.reader import read_objects
from tests.openaq_fixtures import ABSENT, ndjson, record, write_object


@pytest.mark.parametrize(
    "key",
    [
        "realtime-gzipped/2014-01-01/1388577600.ndjson.gz",
        "2014-01-01/1388577600.ndjson",
        "realtime/2021-06-01/1622505600_a1b2-c3.ndjson",
        "2021-06-01/1622505600_f99efda7-5851-8c9a-4717-5025a827c507.ndjson.gz",
    ],
)
def test_both_object_name_styles_are_accepted(key):
    assert object_name_error(key) is None


@pytest.mark.parametrize(
    "key",
    [
        "2014-01-01/README.txt",
        "2014-01-01/1388577600.json",
        "2014-01-01/latest.ndjson",
        "2014-01-01/1388577600.ndjson.tmp",
    ],
)
def test_odd_object_names_are_rejected_with_a_reason(key):
    assert "is not <unix-seconds>" in object_name_error(key)


def test_publish_time_comes_from_the_name():
    assert published_at("x/2021-06-01/1622505600_abc.ndjson") == datetime(2021, 6, 1, tzinfo=UTC)


def test_clean_object_flattens_fields_and_numbers_lines():
    table = parse_object(
        gzip.compress(ndjson([record(), record(parameter="no2", value=21.5, unit="µg/m³")])),
        key="2014-01-01/1388577600.ndjson.gz",
        etag="abc",
    )
    assert table.schema == RAW_SCHEMA
    rows = table.to_pylist()
    assert [r["line_number"] for r in rows] == [1, 2]
    assert rows[0]["parameter"] == "o3" and rows[0]["value"] == 0.04 and rows[0]["unit"] == "ppm"
    assert rows[0]["latitude"] == 40.416775 and rows[0]["averaging_period_value"] == 1.0
    assert rows[0]["date_utc"] == "2014-01-01T12:00:00.000Z"
    assert rows[0]["attribution"] == [{"name": "Comunidad de Madrid", "url": "http://example.org"}]
    assert rows[1]["unit"] == "µg/m³"
    assert {r["source_key"] for r in rows} == {"2014-01-01/1388577600.ndjson.gz"}
    assert {r["source_etag"] for r in rows} == {"abc"}
    assert rows[0]["published_at"] == datetime(2014, 1, 1, 12, tzinfo=UTC)
    assert all(r["parse_error"] is None and r["raw_line"] is None for r in rows)


def test_broken_line_is_isolated_and_good_lines_beside_it_survive():
    lines = [record(value=float(i)) for i in range(40)]
    lines[17] = b'{"date":{"utc":"2014-01-01T12:00:00.000Z"},"parameter":"o3","val'
    table = parse_object(ndjson(lines), key="2014-01-01/1388577600.ndjson", etag="e")
    rows = table.to_pylist()
    assert len(rows) == 40
    bad = [r for r in rows if r["parse_error"]]
    assert [r["line_number"] for r in bad] == [18]
    assert bad[0]["parse_error"].startswith("invalid JSON")
    assert bad[0]["raw_line"].startswith('{"date"')
    good = [r for r in rows if not r["parse_error"]]
    assert [r["value"] for r in good] == [float(i) for i in range(40) if i != 17]
    assert [r["line_number"] for r in good] == [i + 1 for i in range(40) if i != 17]


def test_wrong_type_keeps_readable_fields_and_names_the_field():
    table = parse_object(ndjson([record(value="n/a"), record()]), key="2014-01-01/1388577600.ndjson", etag="e")
    rows = {r["line_number"]: r for r in table.to_pylist()}
    bad = rows[1]
    assert "value is str 'n/a'" in bad["parse_error"]
    assert bad["parameter"] == "o3" and bad["latitude"] == 40.416775 and bad["value"] is None
    assert rows[2]["parse_error"] is None


def test_nan_literal_is_read_as_a_number_for_harmonization_to_judge():
    line = ndjson([record(value=123.0)]).replace(b"123.0", b"NaN")
    row = parse_object(line, key="2014-01-01/1388577600.ndjson", etag="e").to_pylist()[0]
    assert row["parse_error"] is None and row["value"] != row["value"]  # NaN


def test_non_object_json_line_is_an_error():
    # Beside a record: an object of nothing but such lines is not NDJSON at all (a broken object).
    rows = parse_object(
        b'[1, 2]\n"text"\n' + ndjson([record()]), key="2014-01-01/1388577600.ndjson", etag="e"
    ).to_pylist()
    assert [r["parse_error"] for r in rows] == [None, "not an object: a JSON array", "not an object: a JSON string"]


def test_blank_lines_are_not_records_but_line_numbers_follow_the_file():
    payload = ndjson([record(value=1.0)]) + b"\n   \n" + ndjson([record(value=2.0)])
    rows = parse_object(payload, key="2014-01-01/1388577600.ndjson", etag="e").to_pylist()
    assert [(r["line_number"], r["value"]) for r in rows] == [(1, 1.0), (4, 2.0)]


def test_truncated_gzip_keeps_the_records_before_the_cut_and_reports_the_cut():
    payload = ndjson([record(value=float(i)) for i in range(2000)])
    compressed = gzip.compress(payload)
    table = parse_object(compressed[: len(compressed) // 2], key="2014-01-01/1388577600.ndjson.gz", etag="e")
    rows = table.to_pylist()
    good = [r for r in rows if r["parse_error"] is None]
    assert 0 < len(good) < 2000
    assert [r["value"] for r in good] == [float(i) for i in range(len(good))]
    last = rows[-1]
    assert last["parse_error"].startswith("truncated gzip stream")
    assert last["line_number"] == len(good) + 1
    assert len(rows) == len(good) + 1  # the cut line is one row, not lost and not two


def test_every_kind_of_broken_line_in_one_truncated_object_is_one_row_each():
    items = [record(value=float(i)) for i in range(300)]
    items[10] = record(value="n/a")  # screened out before the parse
    items[50] = '{"parameter":"o3","val'  # screened out: not a {...} object
    items[90] = "[1, 2]"  # screened out
    items[150] = record(coordinates="somewhere")  # passes the screen; pyarrow rejects it: the block is split
    items[220] = record(value="12.5")
    compressed = gzip.compress(ndjson(items))
    table = parse_object(compressed[: len(compressed) * 9 // 10], key="2014-01-01/1388577600.ndjson.gz", etag="e")
    rows = table.to_pylist()
    numbers = [r["line_number"] for r in rows]
    assert sorted(numbers) == list(range(1, len(rows) + 1))  # every line once, none lost
    bad = {r["line_number"]: r["parse_error"] for r in rows if r["parse_error"]}
    assert set(bad) == {11, 51, 91, 151, 221, len(rows)}
    assert "value is str 'n/a'" in bad[11] and bad[51].startswith("invalid JSON")
    assert bad[91] == "not an object: a JSON array" and "coordinates is not an object" in bad[151]
    assert rows[-1]["parse_error"].startswith("truncated gzip stream")  # the cut line comes last
    good = [r for r in rows if not r["parse_error"]]
    assert [r["line_number"] for r in good] == sorted(r["line_number"] for r in good)  # parsed lines in order
    assert all(r["value"] == r["line_number"] - 1 for r in good)
    assert table.column("line_number").num_chunks <= 2  # the first block, then everything else as one chunk


def test_corrupt_gzip_reports_an_error_row():
    compressed = bytearray(gzip.compress(ndjson([record()] * 50)))
    compressed[20:40] = b"\xff" * 20
    rows = parse_object(bytes(compressed), key="2014-01-01/1388577600.ndjson.gz", etag="e").to_pylist()
    assert rows[-1]["parse_error"].startswith(("corrupt gzip stream", "truncated gzip stream"))


def test_gzip_is_detected_by_content_not_name():
    text, error = decompress(gzip.compress(b'{"a": 1}\n'))
    assert (text, error) == (b'{"a": 1}\n', None)
    rows = parse_object(gzip.compress(ndjson([record()])), key="2014-01-01/1388577600.ndjson", etag="e").to_pylist()
    assert rows[0]["parse_error"] is None


def test_concatenated_gzip_members_are_all_read():
    payload = gzip.compress(ndjson([record(value=1.0)])) + gzip.compress(ndjson([record(value=2.0)]))
    rows = parse_object(payload, key="2014-01-01/1388577600.ndjson.gz", etag="e").to_pylist()
    assert [r["value"] for r in rows] == [1.0, 2.0]


def test_missing_optional_fields_are_null():
    row = parse_object(
        ndjson([record(coordinates=ABSENT, averagingPeriod=ABSENT)]), key="2014-01-01/1388577600.ndjson", etag="e"
    ).to_pylist()[0]
    assert row["latitude"] is None and row["averaging_period_value"] is None and row["parse_error"] is None


def test_read_objects_skips_odd_names_and_reports_provenance(tmp_path):
    write_object(tmp_path, "2014-01-01", "1388577600.ndjson.gz", [record(), record(value=0.05)])
    write_object(tmp_path, "2014-01-01", "1388578200_abc.ndjson", [record(value=0.06)], gz=False)
    (tmp_path / "2014-01-01" / "README.txt").write_text("not data")
    objects = [
        ObjectInfo(key=f"2014-01-01/{p.name}", size=p.stat().st_size, etag=f"etag-{p.name}")
        for p in sorted((tmp_path / "2014-01-01").iterdir())
    ]
    table, report = read_objects(objects, lambda key: (tmp_path / key).read_bytes())
    assert table.num_rows == report.records == 3
    assert [o["key"] for o in report.objects] == ["2014-01-01/1388577600.ndjson.gz", "2014-01-01/1388578200_abc.ndjson"]
    assert report.objects[0]["etag"] == "etag-1388577600.ndjson.gz"
    assert report.skipped == [{"key": "2014-01-01/README.txt", "reason": object_name_error("README.txt")}]
    assert report.bytes == sum(o["size"] for o in report.objects)
    assert report.unparseable_lines == 0 and report.broken_objects == []


def test_read_objects_names_a_broken_object(tmp_path):
    compressed = gzip.compress(ndjson([record(value=float(i)) for i in range(500)]))
    (tmp_path / "1388577600.ndjson.gz").write_bytes(compressed[:-30])
    info = ObjectInfo(key="1388577600.ndjson.gz", size=len(compressed) - 30, etag="e")
    table, report = read_objects([info], lambda key: (tmp_path / key).read_bytes())
    assert report.broken_objects[0]["key"] == "1388577600.ndjson.gz"
    assert report.unparseable_lines >= 1 and table.num_rows == report.records
