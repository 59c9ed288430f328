"""The archive sensor: which days changed (pure), and the sensor evaluated against a generated
archive in a local folder and on moto's S3 server (unsigned requests), patched as OpenAQ does."""

import hashlib
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context, materialize

from domain.fingerprint import objects_fingerprint
from resources.openaq_bucket import OpenAQBucket
from resources.openaq_sources import OpenAQSources
from resources.parquet_io_manager import ParquetIOManager
from sample_data.generator import generate_archive, patch_archive
from sensors.new_archive_objects import archive_watched_days, new_archive_objects
from sensors.new_objects import changed_days
from sources.objects import ObjectInfo
from sources.openaq_v3.keys import parse_key
from tests.conftest import project_resources
from toar_assets.archive import openaq_locations

# The window of 10 days ending 2024-03-06 spans two months (and the leap day); the archive holds
# 2024-02-20..03-04, so six of its days lie before the window and the window's last two have no file.
NOW = "2024-03-06T06:00:00"
WINDOW = [(date(2024, 3, 6) - timedelta(days=back)).isoformat() for back in range(10)]
FIRST_DAY, ARCHIVE_DAYS = date(2024, 2, 20), 14
BUCKET = "openaq-data-archive"


# --- which days changed: pure, no Dagster ---------------------------------------------------

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def objects(*specs: tuple[str, str, int]) -> list[ObjectInfo]:
    """Objects from (key, etag, minutes after T0 it was written)."""
    return [ObjectInfo(key, 100, etag, T0 + timedelta(minutes=minutes)) for key, etag, minutes in specs]


def test_days_never_seen_are_changed_with_every_object_new():
    changes, cursor = changed_days({"2024-03-02": objects(("a", "1", 0), ("b", "1", 5)), "2024-03-01": []}, {})
    assert [(c.day, c.objects, c.new, c.changed) for c in changes] == [("2024-03-02", 2, 2, 0)]
    assert changes[0].fingerprint == objects_fingerprint([("b", "1"), ("a", "1")])
    assert cursor == {
        "2024-03-02": {"fingerprint": changes[0].fingerprint, "objects": 2, "newest": "2024-03-01T12:05:00+00:00"}
    }  # a day without objects is not kept


def test_an_unchanged_day_is_not_requested_and_new_and_rewritten_objects_are_told_apart():
    first = {"2024-03-02": objects(("a", "1", 0), ("b", "1", 5)), "2024-03-03": objects(("c", "1", 0))}
    _, cursor = changed_days(first, {})
    second = {
        "2024-03-02": objects(("a", "2", 60 * 24), ("b", "1", 5), ("d", "1", 60 * 30)),  # a patched, d added
        "2024-03-03": objects(("c", "1", 0)),
    }
    changes, next_cursor = changed_days(second, cursor)
    assert [(c.day, c.objects, c.since_last_tick, c.new, c.changed) for c in changes] == [("2024-03-02", 3, 1, 1, 1)]
    assert next_cursor["2024-03-03"] == cursor["2024-03-03"]
    assert changed_days(second, next_cursor)[0] == []


def test_the_cursor_keeps_only_the_listed_days_and_not_their_objects():
    few = {f"2024-03-{d:02d}": objects(("a", "1", 0)) for d in range(1, 11)}
    many = {day: objects(*((f"key-{i}", "1", i) for i in range(5000))) for day in few}
    _, small = changed_days(few, {"2024-01-01": {"fingerprint": "old", "objects": 3}})
    _, large = changed_days(many, small)
    assert set(small) == set(large) == set(few)  # the day that left the window is gone
    assert all(set(entry) == {"fingerprint", "objects", "newest"} for entry in large.values())
    assert len(json.dumps(large)) < 110 * len(few)  # about 100 bytes a day, whether it has one object or 5,000


def test_the_window_is_the_watched_days_ending_today():
    assert [d.isoformat() for d in archive_watched_days(date(2024, 3, 6), 10)] == WINDOW
    assert archive_watched_days(date(2024, 3, 6), 1) == [date(2024, 3, 6)]  # never tomorrow


# --- the sensor, against a generated archive ------------------------------------------------


class Archive:
    """A generated archive below ``root`` and the bucket the sensor reads it from: the folder
    itself, or its copy on moto's S3 server."""

    def __init__(self, root: Path, endpoint: str | None):
        self.root, self.endpoint = root, endpoint
        self.keys = generate_archive(root, FIRST_DAY, ARCHIVE_DAYS, locations=8, seed=3).keys
        self.upload(self.keys)

    def bucket(self) -> OpenAQBucket:
        if self.endpoint is None:
            return OpenAQBucket(url=str(self.root))
        return OpenAQBucket(url=f"s3://{BUCKET}", endpoint_url=self.endpoint)  # unsigned, as the real archive

    def upload(self, keys: list[str]) -> None:
        if self.endpoint is None:
            return
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=BUCKET)
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=(self.root / key).read_bytes(), ACL="public-read")

    def patch(self, files: int, seed: int) -> list[str]:
        """Re-write ``files`` files with changed values (new ETags) and publish them; their keys."""
        if self.endpoint is not None:
            time.sleep(1)  # S3's LastModified counts whole seconds: the patch is published a second later
        keys = patch_archive(self.root, files=files, values=2, seed=seed).keys
        self.upload(keys)
        return keys

    def days_with_files(self, keys: list[str] | None = None) -> dict[str, list[str]]:
        days: dict[str, list[str]] = {}
        for key in sorted(keys if keys is not None else self.keys):
            days.setdefault(parse_key(key)[1].isoformat(), []).append(key)
        return days

    def fingerprint(self, day: str) -> str:
        keys = self.days_with_files()[day]
        return objects_fingerprint((key, hashlib.md5((self.root / key).read_bytes()).hexdigest()) for key in keys)


@pytest.fixture(params=["local folder", "s3"])
def archive(request, tmp_path, monkeypatch) -> Archive:
    monkeypatch.setenv("OPENAQ_SENSOR_NOW", NOW)
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    return Archive(tmp_path / "archive", endpoint)


@pytest.fixture
def lake(tmp_path, archive, monkeypatch) -> Path:
    """The data lake with the followed locations stored: openaq_locations materialized as the
    code location does it, keyless from the archive's folders."""
    for name in ("OPENAQ_LOCATIONS", "OPENAQ_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with project_resources(tmp_path, tmp_path / "mirror", archive=archive.root) as resources:
        assert materialize([openaq_locations], resources=resources, instance=DagsterInstance.ephemeral()).success
    return tmp_path / "lake"


def tick(archive: Archive, lake: Path, cursor: str | None = None, sources: OpenAQSources | None = None):
    """One evaluation, with fresh resources as each tick of the daemon has: (requests, cursor, result)."""
    context = build_sensor_context(
        cursor=cursor,
        resources={
            "openaq_sources": sources or OpenAQSources(),
            "openaq_archive": archive.bucket(),
            "lake_io_manager": ParquetIOManager(base_url=str(lake)),
        },
        instance=DagsterInstance.ephemeral(),
    )
    result = new_archive_objects(context)
    return (result if isinstance(result, list) else []), context.cursor, result


def test_first_tick_requests_each_watched_day_with_files_then_nothing_until_files_change(archive, lake):
    watched = {day: keys for day, keys in archive.days_with_files().items() if day in WINDOW}
    assert len(watched) == 8 and len(archive.days_with_files()) == ARCHIVE_DAYS  # six days lie before the window

    requests, cursor, _ = tick(archive, lake)
    assert all(isinstance(r, RunRequest) for r in requests)
    assert sorted(r.partition_key for r in requests) == sorted(watched)
    for request in requests:
        day = request.partition_key
        assert request.run_key == f"{day}:{archive.fingerprint(day)}"
        assert (request.tags["openaq/objects"], request.tags["openaq/objects_new"]) == (str(len(watched[day])),) * 2
        assert request.tags["openaq/objects_changed"] == "0"
        assert request.tags["openaq/source"] == "archive"  # the instance limits runs per source
    assert set(json.loads(cursor)) == set(watched)  # only the watched days with files

    again, same_cursor, skipped = tick(archive, lake, cursor)
    assert again == [] and isinstance(skipped, SkipReason) and same_cursor == cursor


def test_exactly_the_patched_days_in_the_window_are_requested_again_with_new_run_keys(archive, lake):
    first, cursor, _ = tick(archive, lake)
    patched = archive.days_with_files(archive.patch(files=6, seed=4))
    inside = {day: keys for day, keys in patched.items() if day in WINDOW}
    assert inside and set(patched) - set(inside)  # the patch touches days on both sides of the window

    requests, next_cursor, _ = tick(archive, lake, cursor)
    assert sorted(r.partition_key for r in requests) == sorted(inside)
    earlier = {r.partition_key: r.run_key for r in first}
    for request in requests:
        day = request.partition_key
        assert request.run_key == f"{day}:{archive.fingerprint(day)}" != earlier[day]
        assert (request.tags["openaq/objects_new"], request.tags["openaq/objects_changed"]) == (
            "0",
            str(len(inside[day])),
        )
    assert set(json.loads(next_cursor)) == set(json.loads(cursor))
    assert tick(archive, lake, next_cursor)[0] == []


def test_the_watch_window_is_configurable(archive, lake):
    requests, cursor, _ = tick(archive, lake, sources=OpenAQSources(archive_watch_days=4))
    assert sorted(r.partition_key for r in requests) == ["2024-03-03", "2024-03-04"]  # 03-05 and 03-06: no files yet
    assert sorted(json.loads(cursor)) == ["2024-03-03", "2024-03-04"]


@pytest.fixture
def local_archive(tmp_path, monkeypatch) -> Archive:
    monkeypatch.setenv("OPENAQ_SENSOR_NOW", NOW)
    return Archive(tmp_path / "archive", None)


def test_nothing_is_listed_while_the_archive_is_not_live(local_archive, tmp_path):
    sources = OpenAQSources(live=["realtime"])
    requests, cursor, result = tick(local_archive, tmp_path / "lake", cursor="{}", sources=sources)
    assert requests == [] and cursor == "{}"
    assert isinstance(result, SkipReason) and result.skip_message == sources.not_live("archive")
    assert "'archive' is not live (OPENAQ_SOURCES=realtime)" in result.skip_message


def test_without_a_stored_catalog_the_sensor_says_to_materialize_the_locations(local_archive, tmp_path):
    requests, _, result = tick(local_archive, tmp_path / "empty-lake")
    assert requests == [] and isinstance(result, SkipReason)
    assert "materialize openaq_locations (the locations job)" in result.skip_message
