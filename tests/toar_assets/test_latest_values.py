"""The v3 API's latest values through the product: polled with the SDK from the local API server
(TLS on loopback, the key checked, pages, rate limits), appended to the poll day's raw partition,
written to the TOAR database as preliminary values, and replaced by the archive's value of the
same series and hour once its file, written later, is read.

The archive is the generator's in a local folder; the server serves its locations.json (plus a
location not followed), and a latest value for one hourly o3 sensor at an hour its archive file
of a recent local day has, with another value than the file's.
"""

import csv
import gzip
import io
import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, EnvVar, materialize

from local_services.openaq_api import TEST_API_KEY, UG_M3, OpenAQApiServer
from resources.openaq_latest import OpenAQLatest
from sample_data.generator import generate_archive
from sample_data.openaq_v3.archive import archive_key
from tests.conftest import project_resources
from tests.helpers import catalog_location, materialize_days, metadata_of
from toar_assets.archive import openaq_locations, raw_openaq_archive
from toar_assets.assets import harmonized_toar_series
from toar_assets.latest import poll_day_allowed, raw_openaq_latest

pytestmark = pytest.mark.slow

SEED, LOCATIONS = 11, 8
PRELIMINARY = "OKPreliminaryNotChecked"
NOT_FOLLOWED = catalog_location(999_999, "US", "AirNow", 10.0, 10.0, [(99_999_001, "o3", "ppm")])
OTHER_KEY = "f" * 64  # well formed, but not one the server knows


def archive_rows(path) -> list[dict]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def hourly_o3_reading(archive, catalog: list[dict]) -> dict:
    """A fixed location's hourly o3 reading from its file of the local day two days before
    today's UTC date, a day over in every timezone (the generator writes whole days: a later
    day's files, in some timezone, hold hours yet to come, which the raw check rejects as
    measured after their publication): the file's key, day, sensor, UTC time and value."""
    day = datetime.now(UTC).date() - timedelta(days=2)
    for entry in catalog:
        path = archive / archive_key(entry["id"], day)
        if entry["is_mobile"] or not path.exists():
            continue
        for sensor in (s for s in entry["sensors"] if s["parameter"] == "o3"):
            rows = [r for r in archive_rows(path) if r["sensors_id"] == str(sensor["id"])]
            times = [datetime.fromisoformat(r["datetime"]) for r in rows]
            if len(rows) < 3 or any(b - a != timedelta(hours=1) for a, b in zip(times, times[1:], strict=False)):
                continue
            row = next((r for r in rows[-3::-1] if r["value"].replace(".", "", 1).isdigit()), None)
            if row is not None:
                return {
                    "key": archive_key(entry["id"], day),
                    "day": day.isoformat(),
                    "location_id": entry["id"],
                    "sensor_id": sensor["id"],
                    "utc": datetime.fromisoformat(row["datetime"]).astimezone(UTC),
                    "value": float(row["value"]),
                }
    raise AssertionError("the sample has an hourly o3 sensor at a fixed location")


class Polling:
    """The archive, the API server, the environment and one Dagster instance for one test."""

    def __init__(self, root, server, database_url, monkeypatch):
        self.root, self.server, self.database_url = root, server, database_url
        self.archive = root / "archive"
        monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)
        monkeypatch.setenv("OPENAQ_API_URL", server.base_url)
        monkeypatch.setenv("OPENAQ_LOCATIONS", str(self.archive / "locations.json"))
        self.instance = DagsterInstance.ephemeral()
        self.today = datetime.now(UTC).date().isoformat()

    def resources(self):
        # A lookback of days (the default is 3 hours): the reading is of a local day two days back.
        latest = OpenAQLatest(api_key=EnvVar("OPENAQ_API_KEY"), base_url=self.server.base_url, lookback_hours=72)
        return project_resources(self.root, self.root / "mirror", self.database_url, self.archive, openaq_latest=latest)

    def locations(self):
        with self.resources() as resources:
            assert materialize([openaq_locations], resources=resources, instance=self.instance).success

    def poll(self, raise_on_error=True):
        with self.resources() as resources:
            return materialize_days(
                [raw_openaq_latest, harmonized_toar_series],
                resources,
                self.today,
                instance=self.instance,
                raise_on_error=raise_on_error,
            )

    def archive_day(self, day: str):
        with self.resources() as resources:
            return materialize_days(
                [raw_openaq_archive, harmonized_toar_series], resources, day, instance=self.instance
            )

    def values_at(self, location_id: int, variable: str, utc: datetime) -> list[tuple]:
        """(value, flags, object key) of every stored value of the location's station and variable at ``utc``."""
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT d.datetime, d.value, d.flags, ro.key FROM data d "
                        "JOIN raw_object ro ON ro.id = d.source_object_id "
                        "JOIN timeseries ts ON ts.id = d.timeseries_id "
                        "JOIN stationmeta_code sc ON sc.station_id = ts.station_id "
                        "WHERE sc.code = :code AND ts.variable = :variable"
                    ),
                    {"code": str(location_id), "variable": variable},
                ).all()
        finally:
            engine.dispose()
        naive = utc.astimezone(UTC).replace(tzinfo=None)
        return [(value, flags, key) for when, value, flags, key in rows if _naive(when) == naive]

    def everything_shown(self) -> str:
        """Every event and log line of every run of the instance, materialization metadata included."""
        return "\n".join(repr(self.instance.all_logs(run.run_id)) for run in self.instance.get_runs())


def _naive(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@pytest.fixture
def polling(tmp_path, database_url, monkeypatch):
    today = datetime.now(UTC).date()
    generate_archive(tmp_path / "archive", today - timedelta(days=2), 3, LOCATIONS, SEED)
    catalog = json.loads((tmp_path / "archive" / "locations.json").read_text(encoding="utf-8"))
    with OpenAQApiServer([*catalog, NOT_FOLLOWED]) as server:
        yield Polling(tmp_path, server, database_url, monkeypatch), catalog


def test_latest_values_land_preliminary_and_the_archive_published_later_replaces_them(polling):
    polling, catalog = polling
    reading = hourly_o3_reading(polling.archive, catalog)
    preliminary = reading["value"] + 7.0  # not the archive's value
    polling.server.set_latest(
        [
            {"sensor_id": reading["sensor_id"], "datetime": reading["utc"].isoformat(), "value": preliminary},
            {"sensor_id": 99_999_001, "datetime": reading["utc"].isoformat(), "value": 0.05},  # not followed
        ]
    )
    polling.locations()

    first = polling.poll()
    raw, harmonized = metadata_of(first, "raw_openaq_latest"), metadata_of(first, "harmonized_toar_series")
    assert (raw["requests"], raw["pages"], raw["parameters_polled"]) == (6, 6, [10, 3, 32, 7, 5, 15])
    assert (raw["values"], raw["followed_values"], raw["values_new"], raw["records"]) == (2, 1, 1, 1)
    assert raw["polls_in_partition"] == 1 and raw["rate_limited"] == 0
    [page] = raw["source_objects"]
    assert page["key"].startswith(f"api/v3/parameters/{dict(o3_units(catalog))[reading['sensor_id']]}/latest?page=1@")
    assert harmonized["rows_in/raw_openaq_latest"] == 1 and harmonized["rows_in/raw_openaq_archive"] == 0
    assert harmonized["rows_in"] == harmonized["rows_out"] + harmonized["duplicates"] + harmonized["quarantined"]
    [(poll_value, flags, key)] = polling.values_at(reading["location_id"], "o3", reading["utc"])
    assert (flags, key) == (PRELIMINARY, page["key"])

    # The API repeats a value until the next: a poll of the same values adds nothing.
    again = metadata_of(polling.poll(), "raw_openaq_latest")
    assert (again["values_new"], again["records"], again["polls_in_partition"]) == (0, 1, 1)

    # The archive file of that day, written after the polls, replaces the value of the same series and hour.
    written = datetime.now(UTC).timestamp() + 60
    os.utime(polling.archive / reading["key"], (written, written))
    archived = metadata_of(polling.archive_day(reading["day"]), "harmonized_toar_series")
    assert archived["rows_in"] == archived["rows_out"] + archived["duplicates"] + archived["quarantined"]
    [(archive_value, flags, key)] = polling.values_at(reading["location_id"], "o3", reading["utc"])
    assert key == reading["key"] and flags == PRELIMINARY  # the archive is preliminary too (not checked by a human)
    # The same conversion to nmol/mol applies to both: the stored values keep the ratio of the published ones.
    assert archive_value * preliminary == pytest.approx(poll_value * reading["value"])
    assert archive_value != pytest.approx(poll_value)
    assert TEST_API_KEY not in polling.everything_shown()


def o3_units(catalog: list[dict]) -> list[tuple[int, int]]:
    """(sensor id, its parameter id) of the catalog's o3 sensors."""
    ids = {"ppm": 10, UG_M3: 3, "ppb": 32}
    return [(s["id"], ids[s["units"]]) for entry in catalog for s in entry["sensors"] if s["parameter"] == "o3"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_poll_appends_only_its_new_values(polling):
    polling, catalog = polling
    fixed = [entry for entry in catalog if not entry["is_mobile"]]
    o3 = [(entry, s) for entry in fixed for s in entry["sensors"] if s["parameter"] == "o3"][:2]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    ozone = {"ppm": 0.03, UG_M3: 60.0, "ppb": 30.0}  # about 30 nmol/mol in each unit
    values = [{"sensor_id": s["id"], "datetime": hour.isoformat(), "value": ozone[s["units"]]} for _, s in o3]
    polling.server.set_latest(values[:1])
    polling.locations()
    first = metadata_of(polling.poll(), "raw_openaq_latest")
    polling.server.set_latest([{**values[0], "datetime": (hour + timedelta(hours=1)).isoformat()}, values[1]])
    second = metadata_of(polling.poll(), "raw_openaq_latest")

    assert (first["values_new"], first["records"]) == (1, 1)
    assert (second["values_new"], second["records"], second["polls_in_partition"]) == (2, 3, 2)
    assert len(second["source_objects"]) == len(first["source_objects"]) + len(second["new_objects"])
    # Every value is stored once, the first sensor's at both hours.
    stored = [
        polling.values_at(entry["id"], "o3", when) for entry, _ in o3 for when in (hour, hour + timedelta(hours=1))
    ]
    assert [len(values) for values in stored] == [1, 1, 1, 0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_key_fails_the_poll_and_is_never_shown(polling, monkeypatch):
    polling, _ = polling
    polling.locations()
    monkeypatch.setenv("OPENAQ_API_KEY", OTHER_KEY)
    result = polling.poll(raise_on_error=False)

    assert not result.success
    shown = polling.everything_shown()
    assert "NotAuthorizedError" in shown and OTHER_KEY not in shown and TEST_API_KEY not in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_the_poll_s_day_can_be_materialized(polling):
    polling, _ = polling
    polling.locations()
    past = (date.fromisoformat(polling.today) - timedelta(days=3)).isoformat()
    with polling.resources() as resources:
        result = materialize_days([raw_openaq_latest], resources, past, instance=polling.instance, raise_on_error=False)
    assert not result.success
    assert "the API keeps no history" in polling.everything_shown()
    assert polling.server.requests() == []


@pytest.mark.parametrize(
    ("day", "polled_at", "allowed"),
    [
        ("2024-05-02", "2024-05-02T00:10:00", True),
        ("2024-05-01", "2024-05-02T00:10:00", True),  # a run of the day's last slot, started after midnight
        ("2024-05-01", "2024-05-02T00:16:00", False),
        ("2024-05-03", "2024-05-02T23:59:00", False),
    ],
)
def test_a_poll_lands_in_its_day_or_the_day_its_slot_began(day, polled_at, allowed):
    assert poll_day_allowed(day, datetime.fromisoformat(polled_at)) is allowed
