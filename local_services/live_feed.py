"""The demo's live feed: the sample archive mirror and the local v3 API, kept moving in real time.

``make ui`` starts it beside ``dagster dev``, so the sensors find new data without any
configuration or network:

- the local OpenAQ v3 API (``openaq_api.OpenAQApiServer``, TLS on loopback) serves the
  archive's locations (its ``locations.json``) and, refreshed every minute, each sensor's
  newest reading at or before now: the generator's own values for the location's local day,
  so the API's latest values agree with the files the archive gets three days later;
  ``latest_openaq_values`` polls them;
- the archive mirror gets the newest local day the live archive would hold (today - 3, as
  ``SAMPLE_ARCHIVE.window``) when the date rolls over, and every few minutes a patched
  re-write of a file of its newest days (``patch_archive``: same key, new ETag);
  ``new_archive_objects`` requests runs for those days.

The product reaches the API through environment variables only (it never imports this
package): ``--env-file`` gets ``OPENAQ_API_URL``, ``OPENAQ_API_KEY`` (the server's test key)
and ``SSL_CERT_FILE`` (a bundle trusting the server's self-signed certificate, which the SDK
verifies through OpenSSL's default paths) once the server answers, and loses them when the
feed stops. Ctrl-C or SIGTERM stops it.

    python -m local_services.live_feed --env-file data/live-feed.env
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from local_services.openaq_api import TEST_API_KEY, OpenAQApiServer
from resources.environment import SAMPLE_ARCHIVE, SAMPLE_CATALOG_FILE
from sample_data.concentrations import ConcentrationModel
from sample_data.openaq_v3.archive import ARCHIVE_PREFIX, ArchiveSummary, generate_archive
from sample_data.openaq_v3.catalog import Location, build_locations
from sample_data.openaq_v3.patch import ArchivePatch, patch_archive
from sample_data.openaq_v3.readings import Readings

LATEST_SECONDS = 60
PATCH_SECONDS = 300
PATCHED_DAYS = 3  # late data arrive for the archive's newest days: the ones the sensor still watches
PATCHED_VALUES = 2  # values changed in a patched file


def day_files(root: Path, day: date) -> list[Path]:
    """The archive's files of one local day."""
    pattern = f"{ARCHIVE_PREFIX}/locationid=*/year={day.year:04d}/month={day.month:02d}/location-*-{day:%Y%m%d}.csv.gz"
    return sorted(root.glob(pattern))


class LiveArchive:
    """Writes the archive mirror below ``root`` as the live archive grows: its newest day, and
    patched re-writes of recent files."""

    def __init__(self, root: Path, locations: int, seed: int, lag_days: int = SAMPLE_ARCHIVE.publication_lag_days):
        self.root, self.locations, self.seed, self.lag_days = root, locations, seed, lag_days

    def newest_day(self, today: date) -> date:
        return today - timedelta(days=self.lag_days)

    def write_newest_day(self, today: date) -> ArchiveSummary | None:
        """The files of the newest day the archive holds ``today``, unless it has them already."""
        day = self.newest_day(today)
        if day_files(self.root, day):
            return None
        # A file depends only on seed, location and day: the same files make demo would write.
        return generate_archive(self.root, day, 1, self.locations, self.seed)

    def patch_recent_file(self, today: date, version: int) -> ArchivePatch:
        """Re-write one file of the newest PATCHED_DAYS days with a few values changed.

        ``patch_archive`` draws from every file below its root, and most of an archive left
        running for weeks is older than the sensor's window: it patches a copy of the recent
        days' files, and the patched file replaces its original in one rename."""
        newest = self.newest_day(today)
        recent = [path for back in range(PATCHED_DAYS) for path in day_files(self.root, newest - timedelta(back))]
        if not recent:
            raise ValueError(f"no archive files of {newest - timedelta(PATCHED_DAYS - 1)}..{newest} in {self.root}")
        # Beside the archive, on its file system: the rename is atomic, and nothing lists it.
        with tempfile.TemporaryDirectory(prefix=f".{self.root.name}-patch-", dir=self.root.parent) as staging:
            for path in recent:
                copy = Path(staging) / path.relative_to(self.root)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
            patch = patch_archive(staging, files=1, values=PATCHED_VALUES, seed=self.seed, version=version)
            for key in patch.keys:
                os.replace(Path(staging) / key, self.root / key)
        return patch


class LatestReadings:
    """Each sensor's newest reading at a moment, from the generator's model: the values the
    archive's file of that local day holds (without its faults)."""

    def __init__(self, locations: int, seed: int):
        model = ConcentrationModel(seed, locations)
        self.locations: list[Location] = build_locations(model.network, seed)
        self.readings = Readings(model)
        self._days: dict[date, list[tuple[int, int, float]]] = {}  # day -> (sensor id, period end, value)

    def at(self, now: datetime) -> list[dict[str, Any]]:
        """One latest value per sensor: its newest period end at or before ``now``."""
        moment = now.timestamp()
        newest: dict[int, tuple[int, float]] = {}
        # A location's local day is within a day of the UTC one; the one before covers the
        # minutes after its local midnight.
        for day in (now.date() + timedelta(days=offset) for offset in (-2, -1, 0, 1)):
            for sensor_id, end, value in self._day(day):
                if end <= moment and end > newest.get(sensor_id, (0, 0.0))[0]:
                    newest[sensor_id] = (end, value)
        return [
            {"sensor_id": sensor_id, "datetime": datetime.fromtimestamp(end, UTC).isoformat(), "value": value}
            for sensor_id, (end, value) in sorted(newest.items())
        ]

    def _day(self, day: date) -> list[tuple[int, int, float]]:
        if day not in self._days:
            if len(self._days) > 8:  # days long past are not asked again
                self._days.pop(min(self._days))
            self._days[day] = [
                (reading.sensor.id, end, value)
                for location_readings in self.readings.day(day, self.locations)
                for reading in location_readings
                for end, value in zip(reading.period_ends.tolist(), reading.values.tolist(), strict=True)
            ]
        return self._days[day]


def read_catalog(root: Path, expected: list[Location]) -> list[dict[str, Any]]:
    """The archive's ``locations.json``, which must be the generator's for the feed's arguments."""
    path = root / SAMPLE_CATALOG_FILE
    if not path.exists():
        raise SystemExit(f"{path} does not exist: generate the archive first (make demo)")
    catalog = json.loads(path.read_text())
    if sorted(entry["id"] for entry in catalog) != sorted(location.id for location in expected):
        raise SystemExit(f"{path} is not the sample archive of these --locations and --seed")
    return catalog


def write_env_file(path: Path, server: OpenAQApiServer) -> None:
    """The variables that point the product at the server, as shell exports (renamed into place:
    a reader waiting for the file never sees half of it)."""
    variables = {"OPENAQ_API_URL": server.base_url, "OPENAQ_API_KEY": TEST_API_KEY, "SSL_CERT_FILE": server.ca_file}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(f"export {name}={shlex.quote(str(value))}\n" for name, value in variables.items()))
    os.replace(partial, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_services.live_feed",
        description="The demo's live feed (make ui starts it beside dagster dev): serves the local OpenAQ v3 API "
        "with the sample archive's locations and, every minute, each sensor's newest value; writes the archive's "
        f"newest day (today - {SAMPLE_ARCHIVE.publication_lag_days}) when the date rolls over, and every few "
        "minutes a patched re-write of a recent file. Prints what it writes; Ctrl-C stops it. No network, no "
        "configuration: the defaults are the embedded demo's.",
    )
    parser.add_argument(
        "--archive", type=Path, default=SAMPLE_ARCHIVE.path, help="the archive mirror (default: %(default)s)"
    )
    parser.add_argument(
        "--locations", type=int, default=SAMPLE_ARCHIVE.locations, help="its locations (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=SAMPLE_ARCHIVE.seed, help="its seed (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="the API's loopback port (default: a free one)")
    parser.add_argument(
        "--env-file",
        type=Path,
        help="write OPENAQ_API_URL, OPENAQ_API_KEY and SSL_CERT_FILE there as shell exports once serving",
    )
    parser.add_argument("--latest-seconds", type=float, default=LATEST_SECONDS, help="default: %(default)s")
    parser.add_argument("--patch-seconds", type=float, default=PATCH_SECONDS, help="default: %(default)s")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    latest = LatestReadings(args.locations, args.seed)
    catalog = read_catalog(args.archive, latest.locations)
    archive = LiveArchive(args.archive, args.locations, args.seed)
    with OpenAQApiServer(catalog, port=args.port) as server:
        say(f"OpenAQ v3 API at {server.base_url} ({len(catalog)} locations), key {TEST_API_KEY}")
        if args.env_file:
            write_env_file(args.env_file, server)
            say(f"variables for dagster dev in {args.env_file}")
        try:
            feed(args, server, latest, archive, clock)
        finally:
            if args.env_file:
                args.env_file.unlink(missing_ok=True)


def feed(
    args: argparse.Namespace,
    server: OpenAQApiServer,
    latest: LatestReadings,
    archive: LiveArchive,
    clock: Callable[[], datetime],
) -> None:
    today: date | None = None
    next_latest = next_patch = time.monotonic()
    next_patch += args.patch_seconds  # the archive is as make demo left it until then
    while True:
        # The archive's days are local dates, as make demo's window (date.today()).
        if date.today() != today:
            today = date.today()
            written = archive.write_newest_day(today)
            if written:
                say(f"archive: wrote {archive.newest_day(today)}, {written.files} files")
        if time.monotonic() >= next_latest:
            values = latest.at(clock())
            server.set_latest(values)
            newest = max((value["datetime"] for value in values), default="-")
            say(f"API: latest values of {len(values)} sensors, newest {newest}")
            next_latest += args.latest_seconds
        if time.monotonic() >= next_patch:
            # The version draws the patch: the time, so every patch, of any run of the feed, differs.
            patch = archive.patch_recent_file(today, version=int(time.time()))
            for key in patch.keys:
                changes = [f"sensor {c.sensor_id} at {c.datetime}: {c.old} -> {c.new}" for c in patch.changes]
                say(f"archive: patched {key} ({'; '.join(changes)})")
            next_patch += args.patch_seconds
        time.sleep(min(1.0, args.latest_seconds, args.patch_seconds))


def say(text: str) -> None:
    print(f"{datetime.now():%H:%M:%S} live feed: {text}", flush=True)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (make ui's trap) stops the feed as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    # A background job of a non-interactive shell (make ui's) starts with Ctrl-C ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run(args)
    except KeyboardInterrupt:
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
