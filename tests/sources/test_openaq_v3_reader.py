"""Reading archive days through the shared day reader: conservation, patched files, both
quoting styles, a day with a change of UTC offset, damaged streams (S3 on loopback, unsigned)."""

import gzip
import time
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from domain.times import parse_utc_times
from sample_data.generator import generate_archive, patch_archive
from sources.compression import TRUNCATED_STREAM, reason_class
from sources.objects import ObjectInfo
from sources.openaq_v3.catalog import catalog_from_file, with_catalog_fields
from sources.openaq_v3.keys import parse_key
from sources.openaq_v3.reader import read_archive_day
from tests.helpers import upload_archive
from tests.resources.test_openaq_bucket import ARCHIVE_DAYS, archive_bucket, catalog_ids


def data_lines(root: Path, key: str) -> int:
    """The file's lines after the header (the generator writes no blank line)."""
    return len(gzip.decompress((root / key).read_bytes()).splitlines()) - 1


@pytest.fixture
def archive(s3_endpoint, tmp_path):
    summary = generate_archive(tmp_path, ARCHIVE_DAYS[0], days=len(ARCHIVE_DAYS), locations=12, seed=1)
    upload_archive(s3_endpoint, tmp_path, summary.keys)
    return s3_endpoint, tmp_path, summary


def test_every_data_line_of_every_file_is_exactly_one_row(archive):
    endpoint, root, summary = archive
    bucket, _ = archive_bucket(endpoint)
    ids = catalog_ids(root)
    catalog = catalog_from_file(root / "locations.json")
    names = dict(zip(ids, catalog.column("provider").to_pylist(), strict=True))
    rows = bad = 0
    for day in ARCHIVE_DAYS:
        objects, _ = bucket.archive_day(ids, day)
        table, report = read_archive_day(objects, bucket.read, None)
        table = with_catalog_fields(table, catalog)  # the provider, as raw_openaq_archive joins it
        assert report.objects_new == len(report.objects) == len(objects) and report.objects_reused == 0
        assert report.bytes == sum(o.size for o in objects) and report.records == table.num_rows
        assert report.broken_objects == [] and report.skipped == []
        assert [o["last_modified"] for o in report.objects] == [o.last_modified.isoformat() for o in objects]
        for info in objects:
            mine = table.filter(pc.equal(table.column("source_key"), info.key))
            n = data_lines(root, info.key)
            assert sorted(mine.column("line_number").to_pylist()) == list(range(2, n + 2))
            assert set(mine.column("source_name").drop_null().to_pylist()) == {names[parse_key(info.key)[0]]}
            assert set(mine.column("published_at").to_pylist()) == {info.last_modified.replace(microsecond=0)}
        rows += table.num_rows
        bad += report.unparseable_lines
    assert rows == summary.rows and bad == summary.broken_lines > 0  # a broken line is a bad row, not lost


def test_a_patched_file_is_read_again_and_the_unchanged_ones_are_reused(archive):
    endpoint, root, summary = archive
    day, ids = ARCHIVE_DAYS[1], catalog_ids(root)
    first_bucket, _ = archive_bucket(endpoint)
    objects, _ = first_bucket.archive_day(ids, day)
    first, _ = read_archive_day(objects, first_bucket.read, None)

    time.sleep(1.1)  # S3's LastModified counts seconds: the new version is published later
    patch = patch_archive(root, files=8, values=2, seed=3)
    upload_archive(endpoint, root, patch.keys)
    patched = {key for key in patch.keys if parse_key(key)[1] == day}
    assert patched  # the patch hit files of this day (fixed seed)

    bucket, _ = archive_bucket(endpoint)  # a new run lists again
    again, _ = bucket.archive_day(ids, day)
    fetched: list[str] = []
    table, report = read_archive_day(again, lambda key: fetched.append(key) or bucket.read(key), first)
    assert sorted(fetched) == sorted(patched)
    assert (report.objects_changed, report.objects_new, report.objects_reused) == (
        len(patched),
        0,
        len(again) - len(patched),
    )
    before = {o.key: o for o in objects}
    for info in again:
        if info.key in patched:
            assert info.etag != before[info.key].etag and info.last_modified > before[info.key].last_modified
        else:
            assert (info.etag, info.last_modified) == (before[info.key].etag, before[info.key].last_modified)
    assert table.num_rows == first.num_rows
    for change in (c for c in patch.changes if c.key in patched):
        row = table.filter(
            pc.and_(
                pc.equal(table.column("source_key"), change.key),
                pc.and_(
                    pc.equal(table.column("sensor_id"), change.sensor_id),
                    pc.equal(table.column("date_local"), change.datetime),
                ),
            )
        ).to_pylist()
        assert [r["value"] for r in row] == [change.new] and row[0]["published_at"] > first.filter(
            pc.equal(first.column("source_key"), change.key)
        ).column("published_at")[0].as_py()


def test_quoted_and_unquoted_files_of_one_location_read_alike(archive):
    endpoint, root, _ = archive
    bucket, _ = archive_bucket(endpoint)
    objects = bucket.archive_month(1264, 2024, 3)  # the location re-exported day by day
    firsts = {gzip.decompress((root / o.key).read_bytes())[:1] for o in objects}
    assert firsts == {b'"', b"l"}  # quoted and unquoted headers in the one read
    table, report = read_archive_day(objects, bucket.read, None)
    assert report.records == sum(data_lines(root, o.key) for o in objects)
    good = table.filter(pc.is_null(table.column("parse_error")))
    for info in objects:
        mine = good.filter(pc.equal(good.column("source_key"), info.key))
        assert mine.num_rows > 0 and mine.column("location_id").to_pylist() == [1264] * mine.num_rows
        assert mine.column("value").null_count == 0 and '"' not in "".join(mine.column("location").to_pylist())


def test_the_day_summer_time_starts_has_23_hours_with_both_offsets(archive):
    endpoint, root, _ = archive
    bucket, _ = archive_bucket(endpoint)
    objects, missing = bucket.archive_day([1069], date(2024, 3, 10))  # Vancouver
    table, _ = read_archive_day(objects, bucket.read, None)
    hourly = table.filter(pc.equal(table.column("sensor_id"), table.column("sensor_id")[0]))
    local = hourly.column("date_local").to_pylist()
    assert missing == [] and len(local) == 23
    assert {text[-6:] for text in local} == {"-08:00", "-07:00"}
    instants = parse_utc_times(hourly.column("date_utc"))
    assert len(set(instants.tolist())) == 23 and set(hourly.column("averaging_period_value").to_pylist()) == {60.0}


def test_a_damaged_stream_keeps_its_complete_lines_and_its_entry_survives_reuse(archive):
    _, root, summary = archive
    key = summary.keys[0]
    data = (root / key).read_bytes()
    cut = gzip.compress(gzip.decompress(data), mtime=0)[:-200]
    info = ObjectInfo(key, len(cut), "damaged")
    table, report = read_archive_day([info], {key: cut}.__getitem__, None)
    rows = table.to_pylist()
    last = rows[-1]
    assert reason_class(last["parse_error"]) == TRUNCATED_STREAM and report.broken_objects[0]["key"] == key
    assert [r["line_number"] for r in rows] == list(range(2, last["line_number"] + 1))
    assert all(r["parse_error"] is None for r in rows[:-1]) and len(rows) > 1
    again, again_report = read_archive_day([info], {}.__getitem__, table)
    assert again_report.objects_reused == 1 and again_report.broken_objects == report.broken_objects
    assert again.num_rows == table.num_rows


def test_a_day_read_at_once_gives_the_rows_of_its_objects_read_one_by_one(archive):
    # The day's conversion runs once over all objects: it must not mix one object's rows with another's.
    _, root, summary = archive
    day_keys = [key for key in summary.keys if parse_key(key)[1] == ARCHIVE_DAYS[0]]
    blobs = {key: (root / key).read_bytes() for key in day_keys}
    blobs[day_keys[1]] = gzip.compress(gzip.decompress(blobs[day_keys[1]]), mtime=0)[:-200]  # a damaged stream
    objects = [ObjectInfo(key, len(blobs[key]), f"etag-{key}") for key in day_keys]
    together, report = read_archive_day(objects, blobs.__getitem__, None, threads=3)
    alone = [read_archive_day([info], blobs.__getitem__, None)[0] for info in objects]
    assert together.to_pylist() == [row for table in alone for row in table.to_pylist()]
    assert report.unparseable_lines > 1 and [o["key"] for o in report.broken_objects] == [day_keys[1]]
