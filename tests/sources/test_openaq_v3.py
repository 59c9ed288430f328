"""The v3 archive's keys and CSV files: both quoting styles, CRLF, BOM, offsets, bad lines."""

from datetime import UTC, date, datetime

import pytest

from sources.openaq_v3.keys import month_prefix, object_key, parse_key
from sources.openaq_v3.parse import parse_archive_csv

PUBLISHED = datetime(2024, 2, 4, 3, 0, tzinfo=UTC)
QUOTED = (
    b'\xef\xbb\xbf"location_id","sensors_id","location","datetime","lat","lon","parameter","units","value"\r\n'
    b'2178,3917,"Del Norte-2178","2024-02-01T01:00:00-07:00","35.1353","-106.584702","o3","ppm","0.031"\r\n'
    b'2178,3917,"Del Norte-2178","2024-02-01T02:00:00-07:00","35.1353","-106.584702","o3","ppm","0.029"\r\n'
    b'2178,3918,"Del, Norte-2178","2024-02-01T02:00:00-07:00","35.1353","-106.584702","no2","ppm","0.011"\r\n'
)
UNQUOTED = (
    b"location_id,sensors_id,location,datetime,lat,lon,parameter,units,value\n"
    b"2178,3917,Del Norte-2178,2023-09-01T01:00:00-06:00,35.1353,-106.584702,o3,ppm,0.041\n"
    b"2178,3917,Del Norte-2178,2023-09-01T01:10:00-06:00,35.1353,-106.584702,o3,ppm,-999\n"
)


def parse(text: bytes):
    return parse_archive_csv(text, key="k", etag="e", published_at=PUBLISHED).to_pylist()


def test_keys_name_a_location_and_its_local_day():
    key = object_key(2178, date(2024, 2, 1))
    assert key == "locationid=2178/year=2024/month=02/location-2178-20240201.csv.gz"
    assert month_prefix(2178, 2024, 2) == "locationid=2178/year=2024/month=02/"
    assert parse_key(f"records/csv.gz/{key}") == (2178, date(2024, 2, 1))
    assert parse_key("records/csv.gz/locationid=1/year=2024/month=03/location-1-20240229.csv.gz") is None
    assert parse_key("records/csv.gz/locationid=1/year=2024/month=02/location-2-20240201.csv.gz") is None


@pytest.mark.parametrize("text", [QUOTED, UNQUOTED], ids=["quoted-crlf-bom", "unquoted-lf"])
def test_both_styles_give_the_same_fields(text):
    rows = parse(text)
    first = rows[0]
    assert first["line_number"] == 2 and first["parse_error"] is None
    assert first["location"] == "Del Norte-2178" and first["location_id"] == 2178 and first["sensor_id"] == 3917
    assert first["latitude"] == 35.1353 and first["longitude"] == -106.584702 and first["unit"] == "ppm"
    assert first["source_key"] == "k" and first["published_at"] == PUBLISHED
    assert first["source_name"] is None  # the file names no provider: the catalog's is joined later
    assert first["date_utc"] == first["date_local"] and first["date_utc"].endswith(("-07:00", "-06:00"))


def test_a_quoted_comma_stays_in_its_field_and_the_sensor_spacing_is_its_period():
    rows = parse(QUOTED)
    assert rows[2]["location"] == "Del, Norte-2178" and rows[2]["value"] == 0.011
    assert [r["averaging_period_value"] for r in rows] == [60.0, 60.0, None]  # the no2 sensor has one time
    assert parse(UNQUOTED)[0]["averaging_period_value"] == 10.0
    assert parse(UNQUOTED)[1]["value"] == -999.0  # a sentinel is a value here; harmonization judges it


def test_a_bad_line_costs_only_itself_and_keeps_its_text():
    text = (
        QUOTED
        + b'2178,3917,"Del Norte-2178","2024-02-01T03:00:00-07:00","35.1353"\r\n'
        + (b'2178,3917,"Del Norte-2178","2024-02-01T04:00:00-07:00","35.1353","-106.584702","o3","ppm","n/a"\r\n')
    )
    rows = parse(text)
    good = [r for r in rows if r["parse_error"] is None]
    bad = {r["line_number"]: r for r in rows if r["parse_error"] is not None}
    assert len(good) == 3 and sorted(bad) == [5, 6]
    assert "5 fields, the header 9" in bad[5]["parse_error"] and bad[5]["raw_line"].endswith('"35.1353"')
    assert "not a number" in bad[6]["parse_error"] and bad[6]["raw_line"].endswith('"n/a"')
    assert bad[6]["raw_line_bytes"] == len(bad[6]["raw_line"].encode())


def test_a_file_that_is_not_an_archive_csv_is_one_bad_row():
    rows = parse(b"<html>not found</html>\n")
    assert len(rows) == 1 and rows[0]["line_number"] == 1 and "header" in rows[0]["parse_error"]


def test_bad_lines_are_kept_by_the_raw_line_rule_of_every_format():
    from sources.raw_lines import MAX_RAW_LINE_BYTES, raw_line_bytes_of

    not_text = b'2178,3917,"Del \xff Norte","2024-02-01T03:00:00-07:00","35.1353"'
    too_long = b'2178,3917,"' + b"x" * 10_000 + b'","2024-02-01T04:00:00-07:00","35.1353","-106.58","o3","ppm","n/a"'
    rows = parse(QUOTED + not_text + b"\r\n" + too_long + b"\r\n")
    bad = {r["line_number"]: r for r in rows if r["parse_error"] is not None}
    assert bad[5]["raw_line"].startswith("base64:") and raw_line_bytes_of(bad[5]["raw_line"]) == not_text
    assert bad[5]["raw_line_bytes"] == len(not_text)
    kept = raw_line_bytes_of(bad[6]["raw_line"])
    assert len(kept) == MAX_RAW_LINE_BYTES and too_long.startswith(kept) and bad[6]["raw_line_bytes"] == len(too_long)


def test_a_line_that_is_not_text_costs_only_itself_and_blank_lines_make_no_row():
    not_text = b'2178,3917,"Del Norte","2024-02-01T03:00:00-07:00","35.1353","-106.58","o3","ppm","0.0\x00"'
    after = b'2178,3917,"Del Norte-2178","2024-02-01T04:00:00-07:00","35.1353","-106.584702","o3","ppm","0.027"'
    rows = parse(QUOTED + not_text + b"\r\n\r\n" + after + b"\r\n")
    good = [r["line_number"] for r in rows if r["parse_error"] is None]
    bad = [(r["line_number"], r["parse_error"]) for r in rows if r["parse_error"] is not None]
    assert good == [2, 3, 4, 7] and bad == [(5, "the line is not UTF-8 text without NUL")]
    assert [r["value"] for r in rows if r["line_number"] == 7] == [0.027]


def test_numbers_follow_one_rule_whichever_way_they_are_read():
    # Arrow's fast cast reads some text pandas refuses and refuses some it reads: pandas' rule holds.
    line = b'2178,%s,"Del Norte-2178","2024-02-01T0%d:00:00-07:00","35.1353","-106.584702","o3","ppm","%s"\r\n'
    fields = [(b"3917", b" 0.5 "), (b"0x10", b"0.1"), (b"3917", b"nan"), (b"3917", b"1e400"), (b"3917", b"inf")]
    fields += [(b"3917", b""), (b"3917.0", b"1e-3")]
    text = QUOTED.splitlines(keepends=True)[0] + b"".join(line % (s, i, v) for i, (s, v) in enumerate(fields, 1))
    rows = {r["line_number"]: r for r in parse(text)}
    assert [n for n, r in sorted(rows.items()) if r["parse_error"] is not None] == [3, 4, 5]
    assert [rows[n]["value"] for n in (2, 6, 7, 8)] == [0.5, float("inf"), None, 0.001]
    assert rows[8]["sensor_id"] == 3917


def test_objects_converted_together_give_the_rows_each_gives_alone():
    from sources.openaq_v3.parse import Origin, archive_lines, archive_rows

    other = UNQUOTED.replace(b"01:10:00", b"01:30:00")  # the same sensor id, another spacing in its own file
    bad = QUOTED + b'2178,3917,"Del Norte-2178","2024-02-01T03:00:00-07:00","35.1353"\r\n'
    objects = [(Origin(f"k{i}", f"e{i}", PUBLISHED), text) for i, text in enumerate([QUOTED, other, bad])]
    together = archive_rows([(origin, archive_lines(text)) for origin, text in objects])
    alone = [archive_rows([(origin, archive_lines(text))]) for origin, text in objects]
    assert together.to_pylist() == [row for table in alone for row in table.to_pylist()]
    assert [r["averaging_period_value"] for r in together.to_pylist() if r["source_key"] == "k1"] == [30.0, 30.0]
