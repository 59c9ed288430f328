import hashlib
import json
import math
import os
import shutil
import stat
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from resources.openaq_bucket import ObjectReadError, OpenAQBucket
from sample_data.generator import generate_archive
from sources.openaq_v3.keys import parse_key
from tests.helpers import ARCHIVE_BUCKET, upload_archive
from tests.openaq_fixtures import record, write_object

OUTSIDE = "points outside the bucket's folder (a symbolic link or ..): not followed"


@pytest.fixture
def local_bucket(tmp_path):
    write_object(tmp_path, "2014-01-01", "1388578200_b.ndjson", [record()], gz=False)
    write_object(tmp_path, "2014-01-01", "1388577600.ndjson.gz", [record(), record(value=0.05)])
    write_object(tmp_path, "2014-01-02", "1388664000.ndjson.gz", [record()])
    return tmp_path


def test_local_folder_lists_a_day_with_sizes_and_content_hashes(local_bucket):
    bucket = OpenAQBucket(url=str(local_bucket))
    objects = bucket.list_day("2014-01-01")
    assert [o.key for o in objects] == ["2014-01-01/1388577600.ndjson.gz", "2014-01-01/1388578200_b.ndjson"]
    first = local_bucket / "2014-01-01" / "1388577600.ndjson.gz"
    assert objects[0].size == first.stat().st_size
    assert objects[0].etag == hashlib.md5(first.read_bytes()).hexdigest()
    assert bucket.read(objects[0].key) == first.read_bytes()


def test_local_folder_as_file_url_and_missing_day(local_bucket):
    bucket = OpenAQBucket(url=f"file://{local_bucket}")
    assert len(bucket.list_day("2014-01-02")) == 1
    assert bucket.list_day("2014-02-01") == []


@mock_aws
def test_s3_prefix_lists_keys_etags_and_reads_objects(local_bucket):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="openaq-fetches")
    for path in sorted(local_bucket.rglob("*.ndjson*")):
        key = f"realtime-gzipped/{path.parent.name}/{path.name}"
        s3.put_object(Bucket="openaq-fetches", Key=key, Body=path.read_bytes())
    s3.put_object(Bucket="openaq-fetches", Key="realtime-gzipped/2014-01-010/x.ndjson", Body=b"other day")

    bucket = OpenAQBucket(url="s3://openaq-fetches/realtime-gzipped", unsigned=False)
    objects = bucket.list_day("2014-01-01")
    assert [o.key for o in objects] == [
        "realtime-gzipped/2014-01-01/1388577600.ndjson.gz",
        "realtime-gzipped/2014-01-01/1388578200_b.ndjson",
    ]
    local = local_bucket / "2014-01-01" / "1388577600.ndjson.gz"
    assert objects[0].etag == hashlib.md5(local.read_bytes()).hexdigest()  # S3 ETag, quotes stripped
    assert objects[0].size == local.stat().st_size
    assert bucket.read(objects[0].key) == local.read_bytes()


@mock_aws
def test_s3_bucket_root_without_prefix():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="mirror")
    s3.put_object(Bucket="mirror", Key="2014-01-01/1388577600.ndjson", Body=b"{}\n")
    bucket = OpenAQBucket(url="s3://mirror", unsigned=False)
    assert [o.key for o in bucket.list_day("2014-01-01")] == ["2014-01-01/1388577600.ndjson"]


def _finishes(function, seconds: float = 10):
    """``function()``'s result, failing the test if it takes longer (opening a FIFO blocks,
    hashing /dev/zero never ends); a daemon thread, so a blocked one does not hold the process."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: an entry that is not a file was opened?"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def odd_bucket(tmp_path):
    """A day folder holding one object and one of every entry that is not an object."""
    root, day = tmp_path / "bucket", tmp_path / "bucket" / "2014-01-01"
    write_object(root, "2014-01-01", "1388577600.ndjson", [record()], gz=False)
    write_object(root, "2014-01-02", "1388664000.ndjson", [record(value=0.07)], gz=False)
    outside = tmp_path / "outside.ndjson"
    outside.write_bytes(b"not the bucket's\n")
    (day / "1388577601.ndjson").symlink_to(outside)  # a valid object name, outside the folder
    (day / "1388577602.ndjson").symlink_to("/etc/passwd")  # a system file
    (day / "1388577603.ndjson").symlink_to("../2014-01-02/1388664000.ndjson")  # inside: followed
    (day / "1388577604.ndjson").symlink_to("missing.ndjson")  # dangling
    (day / "1388577605.ndjson").symlink_to("1388577605.ndjson")  # a loop
    (day / "1388577606.ndjson").symlink_to("../../outside.ndjson/..")  # climbs out
    (day / "subfolder").mkdir()
    os.mkfifo(day / "pipe.ndjson")
    return root


def test_local_folder_lists_regular_files_and_every_skipped_entry_with_why(odd_bucket):
    bucket = OpenAQBucket(url=str(odd_bucket))
    objects, skipped = _finishes(lambda: bucket.list_day_with_skipped("2014-01-01"))
    assert [o.key for o in objects] == ["2014-01-01/1388577600.ndjson", "2014-01-01/1388577603.ndjson"]
    inside = (odd_bucket / "2014-01-02" / "1388664000.ndjson").read_bytes()
    assert objects[1].etag == hashlib.md5(inside).hexdigest() and objects[1].size == len(inside)
    assert skipped == [
        {"key": "2014-01-01/1388577601.ndjson", "reason": OUTSIDE},
        {"key": "2014-01-01/1388577602.ndjson", "reason": OUTSIDE},
        {"key": "2014-01-01/1388577604.ndjson", "reason": "dangling symbolic link: its target does not exist"},
        {"key": "2014-01-01/1388577605.ndjson", "reason": "symbolic link in a loop: not followed"},
        {"key": "2014-01-01/1388577606.ndjson", "reason": OUTSIDE},
        {"key": "2014-01-01/pipe.ndjson", "reason": "a FIFO (named pipe), not a regular file: not opened"},
        {"key": "2014-01-01/subfolder", "reason": "a directory, not an object"},
    ]
    assert _finishes(lambda: bucket.list_day("2014-01-01")) == objects  # the plain listing, as before


def test_local_folder_reads_nothing_outside_itself_and_never_opens_a_fifo(odd_bucket):
    bucket = OpenAQBucket(url=str(odd_bucket))
    for key in [
        "2014-01-01/1388577601.ndjson",
        "2014-01-01/1388577602.ndjson",
        "2014-01-01/../../outside.ndjson",
        "2014-01-01/../2014-01-02/../../outside.ndjson",
        "2014-01-01/pipe.ndjson",
        "2014-01-01/subfolder",
    ]:
        with pytest.raises(ObjectReadError) as raised:
            _finishes(lambda key=key: bucket.read(key))
        assert raised.value.location == str(odd_bucket / key)
    assert bucket.read("2014-01-01/1388577603.ndjson") == (odd_bucket / "2014-01-02" / "1388664000.ndjson").read_bytes()


def test_a_day_folder_linked_outside_the_bucket_is_skipped(tmp_path):
    write_object(tmp_path / "elsewhere", "2014-01-01", "1388577600.ndjson", [record()], gz=False)
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "2014-01-01").symlink_to(tmp_path / "elsewhere" / "2014-01-01")
    assert OpenAQBucket(url=str(tmp_path / "bucket")).list_day_with_skipped("2014-01-01") == (
        [],
        [{"key": "2014-01-01/", "reason": OUTSIDE}],
    )


def test_a_bucket_folder_reached_through_a_link_is_inside_itself(local_bucket, tmp_path_factory):
    link = tmp_path_factory.mktemp("linked") / "mirror"
    link.symlink_to(local_bucket)
    objects, skipped = OpenAQBucket(url=str(link)).list_day_with_skipped("2014-01-01")
    assert len(objects) == 2 and skipped == []


def test_devices_are_skipped_never_opened():
    """/dev/zero would hash forever and /dev/kmsg blocks: as a bucket day ("/" as the bucket),
    /dev's devices are listed as skipped, unopened."""
    objects, skipped = _finishes(lambda: OpenAQBucket(url="/").list_day_with_skipped("dev"))
    reasons = {entry["key"]: entry["reason"] for entry in skipped}
    assert reasons["dev/null"] == reasons["dev/zero"] == "a device, not a regular file: not opened"
    assert reasons["dev/shm"] == "a directory, not an object"
    assert all(stat.S_ISREG(os.stat(f"/{o.key}").st_mode) for o in objects)


def test_display_url_masks_credentials():
    assert OpenAQBucket(url="s3://openaq-fetches/realtime").display_url() == "s3://openaq-fetches/realtime"
    assert OpenAQBucket(url="https://user:s3cr@t@mirror.example/realtime?token=abc").display_url() == (
        "https://user:***@mirror.example/realtime?token=***"
    )


# The v3 archive: a generated mirror, uploaded to moto's S3 server and read with unsigned requests.
ARCHIVE_DAYS = [date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11)]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A generated archive mirror (12 locations, 3 days over the US change to summer time)."""
    root = tmp_path_factory.mktemp("archive")
    return root, generate_archive(root, ARCHIVE_DAYS[0], days=len(ARCHIVE_DAYS), locations=12, seed=1)


def archive_bucket(endpoint: str, **settings) -> tuple[OpenAQBucket, list[dict]]:
    """The archive bucket over S3 (unsigned), and the LIST requests its client sends."""
    bucket = OpenAQBucket(url=f"s3://{ARCHIVE_BUCKET}", endpoint_url=endpoint, **settings)
    lists: list[dict] = []
    bucket._s3().meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **_: lists.append(params)
    )
    return bucket, lists


def catalog_ids(root: Path) -> list[int]:
    return sorted(entry["id"] for entry in json.loads((root / "locations.json").read_text()))


@pytest.fixture
def s3_archive(s3_endpoint, archive):
    root, summary = archive
    upload_archive(s3_endpoint, root, summary.keys)
    return s3_endpoint, root, summary


def test_archive_prefix_lists_every_file_with_etag_size_and_time_page_by_page(s3_archive):
    endpoint, root, summary = s3_archive
    bucket, lists = archive_bucket(endpoint, list_page_size=4)
    objects, skipped = bucket.list_prefix("records/csv.gz/")
    assert skipped == [] and [o.key for o in objects] == sorted(summary.keys)
    assert len(lists) == math.ceil(len(summary.keys) / 4) and all(p["MaxKeys"] == 4 for p in lists)
    for info in objects:
        data = (root / info.key).read_bytes()
        assert (info.etag, info.size) == (hashlib.md5(data).hexdigest(), len(data))
        assert info.last_modified is not None and info.last_modified.tzinfo is not None
    assert [o.key for o in bucket.list_prefix("records/csv.gz/locationid=1029/")[0]] == [
        k for k in sorted(summary.keys) if "/locationid=1029/" in k
    ]


def test_location_ids_are_discovered_from_the_common_prefixes_page_by_page(s3_archive):
    endpoint, root, summary = s3_archive
    bucket, lists = archive_bucket(endpoint, list_page_size=5)
    ids = bucket.archive_location_ids()
    assert ids == catalog_ids(root) and len(ids) == 12
    assert len(lists) == 3 and all(p["Delimiter"] == "/" for p in lists)  # 12 prefixes, 5 a page


def test_a_backfill_lists_each_location_month_once_and_reports_missing_location_days(s3_archive):
    endpoint, root, summary = s3_archive
    bucket, lists = archive_bucket(endpoint)
    ids = catalog_ids(root)
    found: set[str] = set()
    missing: set[tuple[int, date]] = set()
    for day in ARCHIVE_DAYS:
        objects, absent = bucket.archive_day(ids, day)
        assert all(parse_key(o.key)[1] == day for o in objects)
        found |= {o.key for o in objects}
        missing |= {(location_id, day) for location_id in absent}
    assert len(lists) == len(ids)  # 3 days of 12 locations in one month: 12 LIST requests, not 36
    assert found == set(summary.keys)
    expected = {(i, d) for i in ids for d in ARCHIVE_DAYS} - {parse_key(k) for k in summary.keys}
    assert missing == expected and len(missing) == summary.missing_files > 0
    archive_bucket(endpoint)[0].archive_day(ids[:1], ARCHIVE_DAYS[0])
    assert len(lists) == len(ids)  # a new instance has its own cache; this one's stayed untouched
    bucket.list_prefix("records/csv.gz/")
    assert len(lists) == len(ids) + 1  # list_prefix itself is never cached


def test_a_local_mirror_lists_the_archive_as_s3_does(s3_archive):
    endpoint, root, summary = s3_archive
    local, remote = OpenAQBucket(url=str(root)), archive_bucket(endpoint)[0]
    assert local.archive_location_ids() == remote.archive_location_ids()
    ids = catalog_ids(root)
    for day in ARCHIVE_DAYS:
        (local_objects, local_missing), (s3_objects, s3_missing) = (
            local.archive_day(ids, day),
            remote.archive_day(ids, day),
        )
        assert local_missing == s3_missing
        assert [(o.key, o.etag, o.size) for o in local_objects] == [(o.key, o.etag, o.size) for o in s3_objects]
        assert all(o.last_modified is not None for o in local_objects)
    path = root / summary.keys[0]
    assert local.list_prefix(path.parent.relative_to(root).as_posix() + "/")[0][
        0
    ].last_modified == datetime.fromtimestamp(path.stat().st_mtime, UTC)


def test_a_local_mirror_lists_no_location_or_file_outside_itself(archive, tmp_path):
    root, summary = archive
    mirror = tmp_path / "mirror"
    shutil.copytree(root, mirror)
    records = mirror / "records" / "csv.gz"
    elsewhere = tmp_path / "elsewhere" / "locationid=9" / "year=2024" / "month=03"
    elsewhere.mkdir(parents=True)
    (elsewhere / "location-9-20240309.csv.gz").write_bytes(b"outside")
    os.symlink(elsewhere.parent.parent, records / "locationid=9")
    month = records / "locationid=1029" / "year=2024" / "month=03"
    os.symlink(elsewhere / "location-9-20240309.csv.gz", month / "location-1029-20240312.csv.gz")
    bucket = OpenAQBucket(url=str(mirror))
    assert 9 not in bucket.archive_location_ids() and len(bucket.archive_location_ids()) == 12
    objects, skipped = bucket.list_prefix("records/csv.gz/locationid=1029/year=2024/month=03/")
    assert [o.key.rsplit("/", 1)[1] for o in objects] == [f"location-1029-202403{d:02d}.csv.gz" for d in (9, 10, 11)]
    assert skipped == [
        {"key": "records/csv.gz/locationid=1029/year=2024/month=03/location-1029-20240312.csv.gz", "reason": OUTSIDE}
    ]
    assert bucket.archive_day([1029], date(2024, 3, 12)) == ([], [1029])


def test_location_months_listed_at_once_give_what_one_by_one_gives_with_as_many_lists(s3_archive):
    endpoint, root, summary = s3_archive
    ids = catalog_ids(root) + [5, 10_000_000]  # ids without files, of other lengths: key order is not number order
    one_by_one, one_by_one_lists = archive_bucket(endpoint)
    at_once, at_once_lists = archive_bucket(endpoint)
    day = ARCHIVE_DAYS[0]
    sequential = list(one_by_one.archive_day_by_location(ids, day, threads=1))
    concurrent = list(at_once.archive_day_by_location(ids[::-1] + ids[:2], day, threads=8))
    assert concurrent == sequential and len(at_once_lists) == len(one_by_one_lists) == len(ids)
    objects = [o for _, found in concurrent for o in found]
    assert [o.key for o in objects] == sorted(k for k in summary.keys if parse_key(k)[1] == day)
    without = {i for i, found in sequential if not found}
    assert 5 in without and at_once.archive_day(ids, day) == (objects, [i for i in ids if i in without])
    assert len(at_once_lists) == len(ids)  # the month is cached: no LIST again
