"""The demo's live feed: the archive's newest day and patched files as the sensor sees them
(keys and ETags), the API's latest values as the product's resource reads them through the
SDK, and the command that ``make ui`` runs, stopped by Ctrl-C."""

import csv
import gzip
import hashlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from local_services.live_feed import PATCHED_DAYS, LatestReadings, LiveArchive, day_files
from local_services.loopback import free_port
from local_services.openaq_api import TEST_API_KEY, OpenAQApiServer
from resources.environment import PROJECT_ROOT
from resources.openaq_latest import OpenAQLatest
from sample_data.openaq_v3.archive import generate_archive

SEED, LOCATIONS = 7, 8
TODAY = date(2026, 12, 2)
NEWEST = TODAY - timedelta(days=3)  # the newest day the live archive holds today


def etags(root: Path) -> dict[str, str]:
    """Every data file's key and content MD5: what a local folder's listing gives as its ETag."""
    return {
        path.relative_to(root).as_posix(): hashlib.md5(path.read_bytes()).hexdigest() for path in root.rglob("*.csv.gz")
    }


def file_values(root: Path) -> dict[tuple[int, datetime], float]:
    """(sensor id, UTC period end) -> value, from every line of every file below ``root``."""
    values = {}
    for path in root.rglob("*.csv.gz"):
        for row in csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode("utf-8-sig"))):
            end = datetime.fromisoformat(row["datetime"]).astimezone(UTC)
            values[int(row["sensors_id"]), end] = float(row["value"])
    return values


def test_the_newest_day_is_written_once_with_the_generators_bytes(tmp_path):
    archive = tmp_path / "archive"
    generate_archive(archive, NEWEST - timedelta(days=2), 2, LOCATIONS, SEED)
    live = LiveArchive(archive, LOCATIONS, SEED)

    written = live.write_newest_day(TODAY)

    assert written is not None and len(day_files(archive, NEWEST)) == written.files > 0
    assert live.write_newest_day(TODAY) is None  # the day is there: nothing written
    generate_archive(tmp_path / "fresh", NEWEST, 1, LOCATIONS, SEED)
    fresh = etags(tmp_path / "fresh")
    assert {key: etag for key, etag in etags(archive).items() if key in fresh} == fresh


def test_each_patch_rewrites_one_recent_file_with_a_new_etag(tmp_path):
    archive = tmp_path / "archive"
    generate_archive(archive, NEWEST - timedelta(days=30), 3, LOCATIONS, SEED)  # long before the sensor's window
    generate_archive(archive, NEWEST - timedelta(days=PATCHED_DAYS - 1), PATCHED_DAYS, LOCATIONS, SEED)
    live = LiveArchive(archive, LOCATIONS, SEED)
    recent_days = {f"{NEWEST - timedelta(days=back):%Y%m%d}" for back in range(PATCHED_DAYS)}

    for version in range(1, 9):
        before = etags(archive)
        patch = live.patch_recent_file(TODAY, version=version)
        after = etags(archive)

        changed = {key for key in before if after[key] != before[key]}
        assert changed == set(patch.keys) and len(changed) == 1 and after.keys() == before.keys()
        (key,) = changed
        assert key[-len("YYYYMMDD.csv.gz") : -len(".csv.gz")] in recent_days
        assert len(patch.changes) == 2 and all(change.new != change.old for change in patch.changes)
    assert not list(tmp_path.glob(".archive-patch-*"))  # the staging copies are gone


def test_latest_values_are_the_archives_readings_and_the_sdk_reads_them(tmp_path):
    archive = tmp_path / "archive"
    # The files of the local days around now, without faults: what the archive will publish.
    generate_archive(archive, TODAY - timedelta(days=2), 4, LOCATIONS, SEED, faults=False)
    in_files = file_values(archive)
    now = datetime(2026, 12, 2, 13, 7, tzinfo=UTC)
    latest = LatestReadings(LOCATIONS, SEED)

    values = latest.at(now)

    sensors = {sensor.id for location in latest.locations for sensor in location.sensors}
    assert {value["sensor_id"] for value in values} == sensors
    for value in values:
        end = datetime.fromisoformat(value["datetime"])
        assert now - timedelta(hours=1) < end <= now  # the newest reading: hourly at most an hour old
        assert in_files[value["sensor_id"], end] == value["value"]

    catalog = json.loads((archive / "locations.json").read_text())
    followed = {
        sensor.id for location in latest.locations for sensor in location.sensors if sensor.parameter in ("o3", "no2")
    }
    with OpenAQApiServer(catalog, values) as server:
        poll = OpenAQLatest(api_key=TEST_API_KEY, base_url=server.base_url, parameters=["o3", "no2"]).poll(now)
    read = {(v.sensor_id, v.value) for page in poll.pages for v in page.results}
    assert read == {(value["sensor_id"], value["value"]) for value in values if value["sensor_id"] in followed}


def test_the_command_serves_writes_patches_and_stops_on_ctrl_c(tmp_path, monkeypatch):
    today = date.today()  # the command follows the clock
    archive = tmp_path / "archive"
    generate_archive(archive, today - timedelta(days=5), 2, LOCATIONS, SEED)
    env_file, port = tmp_path / "feed.env", free_port()
    command = [sys.executable, "-m", "local_services.live_feed", "--archive", str(archive), "--locations"]
    command += [str(LOCATIONS), "--seed", str(SEED), "--port", str(port), "--env-file", str(env_file)]
    command += ["--latest-seconds", "1", "--patch-seconds", "2"]
    feed = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any("archive: patched" in line for line in lines) and time.monotonic() < deadline:
            lines.append(feed.stdout.readline())
        output = "".join(lines)
        assert "archive: patched" in output, output
        assert f"archive: wrote {today - timedelta(days=3)}" in output and day_files(archive, today - timedelta(3))

        words = shlex.split(env_file.read_text())  # export NAME=value, as a shell reads it
        variables = dict(word.split("=", 1) for word in words if word != "export")
        assert variables["OPENAQ_API_URL"] == f"https://127.0.0.1:{port}/v3/"
        assert variables["OPENAQ_API_KEY"] == TEST_API_KEY
        # The product, given only these variables, trusts the server and reads its values.
        monkeypatch.setenv("SSL_CERT_FILE", variables["SSL_CERT_FILE"])
        latest = OpenAQLatest(api_key=variables["OPENAQ_API_KEY"], base_url=variables["OPENAQ_API_URL"])
        assert sum(len(page.results) for page in latest.poll(datetime.now(UTC)).pages) > 0

        feed.send_signal(signal.SIGINT)
        rest, _ = feed.communicate(timeout=30)
    finally:
        if feed.poll() is None:
            os.kill(feed.pid, signal.SIGKILL)
    assert feed.returncode == 0 and rest.rstrip().endswith("live feed: stopped"), rest
    assert not env_file.exists()
