"""The v3 archive through the product, beside the v1 objects of the same stations.

The archive is the generator's, served by moto's S3 server on loopback and read with unsigned
requests (the real boto3 path: delimiters, pagination, ETags); the locations catalog is its
``locations.json``; the v1 objects are a local mirror of the same seed, whose station i stands
where archive location i does. 2014-03-09 is the day US clocks went forward: a US location's
file holds 23 local hours.
"""

import gzip
import json
import re
import shutil
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, materialize

from sample_data.generator import generate_archive, generate_bucket, patch_archive
from tests.conftest import project_resources
from tests.helpers import ARCHIVE_BUCKET, materialize_days, metadata_by_partition, metadata_of, upload_archive
from toar_assets.archive import openaq_locations, raw_openaq_archive
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

SEED = 2014
LOCATIONS = 8
V1_DAY = "2014-03-09"
DAYS = ["2014-03-08", "2014-03-09", "2014-03-10"]
DST_DAY = "2014-03-09"
QUOTED_SINCE = date(2014, 3, 9)  # files of later days are quoted with CRLF, but location 6's, which alternate


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The v1 mirror of V1_DAY and the archive of DAYS, made once; tests copy what they change."""
    root = tmp_path_factory.mktemp("sources")
    generate_bucket(
        root / "mirror", date.fromisoformat(V1_DAY), days=1, stations=LOCATIONS, seed=SEED, objects_per_day=24
    )
    generate_archive(
        root / "archive", date.fromisoformat(DAYS[0]), len(DAYS), LOCATIONS, SEED, quoted_since=QUOTED_SINCE
    )
    return root


class Ingest:
    """The sources in place for one test: the archive uploaded to moto, the resources, one instance."""

    def __init__(self, root, endpoint, database_url, monkeypatch):
        self.root, self.endpoint, self.database_url = root, endpoint, database_url
        self.archive = root / "archive"
        self.keys = sorted(p.relative_to(self.archive).as_posix() for p in self.archive.rglob("*.csv.gz"))
        upload_archive(endpoint, self.archive, self.keys)
        monkeypatch.setenv("OPENAQ_ARCHIVE_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("OPENAQ_LOCATIONS", str(self.archive / "locations.json"))
        self.instance = DagsterInstance.ephemeral()
        self.catalog = {entry["id"]: entry for entry in json.loads((self.archive / "locations.json").read_text())}

    def resources(self):
        return project_resources(self.root, self.root / "mirror", self.database_url, archive=f"s3://{ARCHIVE_BUCKET}")

    def v1_day(self):
        with self.resources() as resources:
            return materialize_days(
                [raw_openaq_measurements, harmonized_toar_series], resources, V1_DAY, instance=self.instance
            )

    def locations(self):
        with self.resources() as resources:
            result = materialize([openaq_locations], resources=resources, instance=self.instance)
        assert result.success
        return result

    def archive_days(self, first=DAYS[0], last=DAYS[-1]):
        with self.resources() as resources:
            result = materialize_days(
                [raw_openaq_archive, harmonized_toar_series], resources, first, last, instance=self.instance
            )
        return metadata_by_partition(result)

    def query(self, sql: str, **params) -> list:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), params).all()
        finally:
            engine.dispose()


@pytest.fixture
def ingest(generated, tmp_path, s3_endpoint, database_url, monkeypatch):
    shutil.copytree(generated, tmp_path / "sources")
    return Ingest(tmp_path / "sources", s3_endpoint, database_url, monkeypatch)


def missing_everywhere(metadata) -> set[int]:
    """Locations without a file on any of DAYS."""
    present = {
        int(o["key"].split("locationid=")[1].split("/")[0])
        for day in DAYS
        for o in metadata[("raw_openaq_archive", day)]["source_objects"]
    }
    return {i for day in DAYS for i in metadata[("raw_openaq_archive", day)]["missing_locations"]} - present


def mobile(ingest, key: str) -> bool:
    return ingest.catalog[int(key.split("locationid=")[1].split("/")[0])]["is_mobile"]


def data_lines(path) -> int:
    return sum(1 for line in gzip.decompress(path.read_bytes()).splitlines()[1:] if line.strip())


def test_archive_days_harmonize_beside_the_v1_objects_of_the_same_stations(ingest):
    ingest.v1_day()
    catalog_run = ingest.locations()
    assert metadata_of(catalog_run, "openaq_locations")["locations"] == LOCATIONS
    metadata = ingest.archive_days()

    for day in DAYS:
        raw, harmonized = metadata[("raw_openaq_archive", day)], metadata[("harmonized_toar_series", day)]
        files = [key for key in ingest.keys if key.endswith(f"-{day.replace('-', '')}.csv.gz")]
        # Every followed location has the day's file or is reported missing; every line is a row.
        assert raw["objects"] == len(files) and raw["objects"] + raw["objects_missing"] == LOCATIONS
        assert raw["records"] == sum(data_lines(ingest.archive / key) for key in files)
        assert {o["key"] for o in raw["source_objects"]} == set(files)
        # Conservation, with the v1 day's rows where there are some.
        assert harmonized["rows_in/raw_openaq_archive"] == raw["records"]
        v1_rows = harmonized["rows_in/raw_openaq_measurements"]
        assert (v1_rows > 0) == (day == V1_DAY)
        assert harmonized["rows_in"] == raw["records"] + v1_rows
        assert harmonized["rows_in"] == harmonized["rows_out"] + harmonized["duplicates"] + harmonized["quarantined"]
        # A location without a file for the day costs only its absence.
        for missing in raw["missing_locations"]:
            assert not ingest.query(
                "SELECT key FROM raw_object WHERE key LIKE :k", k=f"%location-{missing}-%{day.replace('-', '')}%"
            )
    assert sum(metadata[("raw_openaq_archive", day)]["objects_missing"] for day in DAYS) >= 1  # location 7 is offline

    # One partition holds quoted (CRLF) and unquoted (LF) files, and reads both.
    mixed = []
    for day in DAYS:
        styles = {
            gzip.decompress((ingest.archive / key).read_bytes()).lstrip(b"\xef\xbb\xbf").startswith(b'"')
            for key in ingest.keys
            if key.endswith(f"-{day.replace('-', '')}.csv.gz")
        }
        mixed += [day] if styles == {True, False} else []
    assert mixed, "the alternating location makes a day of mixed styles"
    for day in mixed:
        rows = ingest.query(
            "SELECT ro.key, count(*) FROM data d JOIN raw_object ro ON ro.id = d.source_object_id "
            "WHERE ro.partition_date = :day AND ro.key LIKE 'records/%' GROUP BY ro.key",
            day=day,
        )
        files = [key for key in ingest.keys if key.endswith(f"-{day.replace('-', '')}.csv.gz")]
        assert sorted(key for key, _ in rows) == [key for key in files if not mobile(ingest, key)]

    # Same coordinates, one station: an archive location and the v1 station where it stands are
    # one TOAR station, known by the v1 name and the archive's "<site>-<system id>" name, with
    # the location id as its code; where both sources give a value for the same series and
    # hour, the later publication (the archive file) is kept and the other counted a duplicate.
    codes = dict(ingest.query("SELECT code, station_id FROM stationmeta_code WHERE kind = 'openaq_location_id'"))
    fixed = {
        i for i, entry in ingest.catalog.items() if not entry["is_mobile"]
    }  # a mobile location's rows are quarantined
    assert set(codes) == {str(i) for i in fixed - missing_everywhere(metadata)}
    aliases: dict[int, set[str]] = {}
    for station, name in ingest.query("SELECT station_id, name FROM stationmeta_alias"):
        aliases.setdefault(station, set()).add(name)
    stations = {
        (round(lat, 4), round(lon, 4)): station
        for station, lat, lon in ingest.query("SELECT id, latitude, longitude FROM stationmeta_core")
    }
    shared = 0
    for location_id, entry in ingest.catalog.items():
        station = codes.get(str(location_id))
        if station is None:
            continue
        assert stations[(round(entry["latitude"], 4), round(entry["longitude"], 4))] == station
        archive_names = {name for name in aliases[station] if re.fullmatch(rf"{re.escape(entry['name'])}.*-\d+", name)}
        shared += bool(archive_names) and bool(aliases[station] - archive_names)
    assert shared >= LOCATIONS - 3  # v1 station 4 has no coordinates, 5 is mobile
    assert (
        metadata[("harmonized_toar_series", V1_DAY)]["duplicates"]
        > metadata[("harmonized_toar_series", DAYS[0])]["duplicates"]
    )
    overlap = ingest.query(
        "SELECT count(*) FROM data d JOIN raw_object ro ON ro.id = d.source_object_id "
        "WHERE ro.key NOT LIKE 'records/%' AND d.datetime IN (SELECT d2.datetime FROM data d2 JOIN raw_object r2 "
        "ON r2.id = d2.source_object_id WHERE r2.key LIKE 'records/%' AND d2.timeseries_id = d.timeseries_id)"
    )
    assert overlap == [(0,)]  # no v1 value remains at an hour its series has from the archive
    # The series provider is the catalog's (the files name none).
    providers = {entry["provider"] for entry in ingest.catalog.values()}
    archive_providers = ingest.query(
        "SELECT DISTINCT ts.provider FROM data d JOIN timeseries ts ON ts.id = d.timeseries_id "
        "JOIN raw_object ro ON ro.id = d.source_object_id WHERE ro.key LIKE 'records/%'"
    )
    assert {p for (p,) in archive_providers} <= providers


def test_a_dst_day_holds_23_utc_hours_of_local_time(ingest):
    ingest.locations()
    ingest.archive_days(DST_DAY, DST_DAY)
    day = date.fromisoformat(DST_DAY)
    checked = 0
    for location_id, entry in ingest.catalog.items():
        zone, utc = ZoneInfo(entry["timezone"]), ZoneInfo("UTC")
        # Aware datetimes of one zone subtract as wall times: the day's length is taken in UTC.
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(utc)
        next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(utc)
        if next_midnight - midnight != timedelta(hours=23):
            continue
        # The file's rows end 01:00 .. 24:00 local: 23 hours, ending at the next local midnight.
        expected = [midnight.replace(tzinfo=None) + timedelta(hours=h) for h in range(1, 24)]
        rows = ingest.query(
            "SELECT DISTINCT d.datetime FROM data d JOIN raw_object ro ON ro.id = d.source_object_id "
            "JOIN timeseries ts ON ts.id = d.timeseries_id WHERE ro.key LIKE :key AND ts.sampling_frequency = 'hourly'",
            key=f"%location-{location_id}-{DST_DAY.replace('-', '')}.csv.gz",
        )
        if not rows:
            continue  # no file that day, or no hourly series
        assert sorted(pd_naive(when) for (when,) in rows) == expected
        checked += 1
    assert checked >= 1, "a location in a US time zone among the sample's"


def pd_naive(value) -> datetime:
    """A database datetime (SQLite gives text) as a naive datetime."""
    return datetime.fromisoformat(str(value)) if not isinstance(value, datetime) else value


def test_a_patched_file_replaces_exactly_the_values_it_changes(ingest, s3_endpoint):
    ingest.locations()
    ingest.archive_days()
    stored = "SELECT timeseries_id, datetime, value FROM data ORDER BY timeseries_id, datetime"
    before = {(ts, str(when)): value for ts, when, value in ingest.query(stored)}
    patch = patch_archive(ingest.archive, files=1, values=2, seed=5)
    (key,) = patch.keys
    upload_archive(s3_endpoint, ingest.archive, [key])  # same key, new content: a new ETag
    day = date(int(key[-15:-11]), int(key[-11:-9]), int(key[-9:-7])).isoformat()

    metadata = ingest.archive_days(day, day)
    raw = metadata[("raw_openaq_archive", day)]
    assert (raw["objects_changed"], raw["objects_new"]) == (1, 0)
    assert raw["objects_reused"] == raw["objects"] - 1
    after = {(ts, str(when)): value for ts, when, value in ingest.query(stored)}
    assert after.keys() == before.keys()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    # Each changed value is one of the file's two, converted to its TOAR unit by the same factor.
    assert len(changed) == len(patch.changes) == 2
    ratios = sorted(new / old for old, new in changed.values())
    assert ratios == pytest.approx(sorted(c.new / c.old for c in patch.changes))
    when = {datetime.fromisoformat(c.datetime).astimezone(ZoneInfo("UTC")).replace(tzinfo=None) for c in patch.changes}
    assert {pd_naive(k[1]) for k in changed} == when
