"""A poll's latest values as raw rows (pure): units from the parameter id, the followed locations
only, the catalog's fields, origin columns, averaging periods, and only new values appended."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from domain.raw_schema import RAW_SCHEMA
from local_services.openaq_api import PARAMETERS, UG_M3
from sources.openaq_v3.catalog import PARAMETER_IDS, catalog_from_records
from sources.openaq_v3.latest import (
    PARAMETER_UNITS,
    LatestPage,
    LatestValue,
    followed_parameter_ids,
    is_poll_key,
    poll_of,
    poll_rows,
    source_key,
)
from tests.helpers import catalog_location

CATALOG = catalog_from_records(
    [
        catalog_location(1, "US", "AirNow", 34.05, -118.24, [(101, "o3", "ppm")]),
        catalog_location(2, "DE", "Umweltbundesamt", 52.52, 13.4, [(201, "no2", UG_M3)], mobile=True),
    ]
)
POLL = datetime(2024, 5, 1, 12, 7, 30, 250000, tzinfo=UTC)


def value(sensor, location, utc, reading, latitude=34.05, longitude=-118.24):
    return LatestValue(utc, utc.replace("Z", "+00:00"), reading, latitude, longitude, location, sensor)


def test_the_parameter_ids_name_the_units_the_api_lists_for_them():
    served = {parameter_id: name_and_units for name_and_units, (parameter_id, _) in PARAMETERS.items()}
    assert sorted(PARAMETER_UNITS) == sorted(i for ids in PARAMETER_IDS.values() for i in ids)
    assert all(PARAMETER_UNITS[i] == served[i] for i in PARAMETER_UNITS)
    assert followed_parameter_ids(["o3", "no2"]) == [10, 3, 32, 7, 5, 15]


def test_only_followed_locations_are_kept_with_their_catalog_fields_and_origin():
    pages = [
        LatestPage(10, 1, [value(999, 77, "2024-05-01T11:00:00Z", 0.5), value(101, 1, "2024-05-01T11:00:00Z", 0.031)]),
        LatestPage(5, 1, [value(201, 2, "2024-05-01T12:00:00Z", 40.0, 52.52, 13.4)]),
    ]
    table, report = poll_rows(pages, CATALOG, POLL, None)

    assert table.schema == RAW_SCHEMA
    assert (report.pages, report.values, report.followed, report.new) == (2, 3, 2, 2)
    first, second = table.to_pylist()
    assert first["source_key"] == "api/v3/parameters/10/latest?page=1@2024-05-01T12:07:30.250000Z"
    assert (
        first["source_key"] == source_key(10, 1, POLL) and poll_of(first["source_key"]) == "2024-05-01T12:07:30.250000Z"
    )
    assert first["line_number"] == 2  # the second result of its page
    assert first["published_at"] == POLL.replace(microsecond=0)  # the raw schema keeps seconds
    assert (first["parameter"], first["unit"], first["value"]) == ("o3", "ppm", 0.031)
    assert (first["location"], first["city"], first["country"], first["source_name"]) == (
        "Station 1",
        "City 1",
        "US",
        "AirNow",
    )
    assert (first["location_id"], first["sensor_id"], first["mobile"]) == (1, 101, False)
    assert (second["parameter"], second["unit"], second["mobile"]) == ("no2", UG_M3, True)
    assert [o["key"] for o in report.objects] == [source_key(10, 1, POLL), source_key(5, 1, POLL)]
    # Provenance tells a poll's key from a bucket object's.
    assert all(is_poll_key(o["key"]) for o in report.objects)
    assert not is_poll_key("records/csv.gz/locationid=1/year=2024/month=05/location-1-20240501.csv.gz")
    assert not is_poll_key("realtime-gzipped/2014-01-01/1388577600.ndjson.gz")
    assert first["source_etag"] != second["source_etag"]


def test_a_second_poll_appends_only_values_not_stored_yet():
    first_poll = [LatestPage(10, 1, [value(101, 1, "2024-05-01T11:00:00Z", 0.031)])]
    stored, _ = poll_rows(first_poll, CATALOG, POLL, None)
    later = POLL.replace(minute=22)
    again, report = poll_rows(first_poll, CATALOG, later, stored)
    assert report.new == 0 and report.objects == [] and again.equals(stored)

    # The same hour with another value (corrected by the provider): kept, and the later poll wins.
    corrected = [LatestPage(10, 1, [value(101, 1, "2024-05-01T11:00:00Z", 0.032)])]
    table, report = poll_rows(corrected, CATALOG, later, stored)
    assert report.new == 1
    assert table.column("value").to_pylist() == [0.031, 0.032]
    assert table.slice(0, 1).equals(stored)  # earlier polls' rows are kept as they were


@pytest.mark.parametrize(
    ("earlier", "now", "period"),
    [
        ([], "2024-05-01T11:00:00Z", 60.0),  # one time seen: hourly, as monitors publish
        (["2024-05-01T11:00:00Z"], "2024-05-01T11:10:00Z", 10.0),  # a 10-minute sensor, seen twice
        (["2024-05-01T09:00:00Z"], "2024-05-01T11:00:00Z", 60.0),  # a missed hour is not a 2-hour period
    ],
)
def test_the_averaging_period_is_the_shortest_spacing_seen_at_most_an_hour(earlier, now, period):
    stored = None
    for utc in earlier:
        stored, _ = poll_rows([LatestPage(10, 1, [value(101, 1, utc, 0.03)])], CATALOG, POLL, stored)
    table, _ = poll_rows([LatestPage(10, 1, [value(101, 1, now, 0.04)])], CATALOG, POLL, stored)
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    assert (last["averaging_period_value"], last["averaging_period_unit"]) == (period, "minutes")


def test_a_poll_of_nothing_followed_adds_nothing():
    table, report = poll_rows([LatestPage(3, 1, [value(999, 77, "2024-05-01T11:00:00Z", 50.0)])], CATALOG, POLL, None)
    assert table.num_rows == 0 and table.schema == RAW_SCHEMA
    assert (report.values, report.followed, report.new) == (1, 0, 0)


def test_stored_rows_read_back_from_parquet_are_joined_with_one_schema():
    stored, _ = poll_rows([LatestPage(10, 1, [value(101, 1, "2024-05-01T11:00:00Z", 0.03)])], CATALOG, POLL, None)
    as_read = stored.cast(stored.schema.set(2, pa.field("published_at", pa.timestamp("ms", tz="UTC"))))
    table, _ = poll_rows([LatestPage(10, 1, [value(101, 1, "2024-05-01T12:00:00Z", 0.04)])], CATALOG, POLL, as_read)
    assert table.schema == RAW_SCHEMA and table.num_rows == 2
