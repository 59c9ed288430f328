"""The locations catalog (sources.openaq_v3.catalog): built from the real SDK's location objects
(served by the local API), from locations.json, a user's ids or CSV, and compared."""

import json
from datetime import date

import pyarrow as pa
import pytest
from openaq import OpenAQ

from local_services.openaq_api import TEST_API_KEY, UG_M3, OpenAQApiServer
from sample_data.generator import generate_archive
from sources.openaq_v3.catalog import (
    CATALOG_SCHEMA,
    CatalogDiff,
    CatalogError,
    catalog_from_csv,
    catalog_from_ids,
    catalog_from_records,
    catalog_from_sdk,
    diff_catalogs,
)


def record(id, sensors, *, country="DE", provider="Umweltbundesamt", monitor=True, mobile=False):
    return {
        "id": id,
        "name": f"Station {id}",
        "locality": f"City {id}",
        "timezone": "Europe/Berlin",
        "country": country,
        "provider": provider,
        "latitude": 52.5 + id / 100,
        "longitude": 13.4,
        "sensors": [{"id": s, "parameter": p, "units": u} for s, p, u in sensors],
        "is_monitor": monitor,
        "is_mobile": mobile,
    }


RECORDS = [
    record(7, [(71, "o3", UG_M3), (72, "no2", UG_M3)]),
    record(3, [(31, "o3", "ppm")], country="US", provider="AirNow"),
    record(5, [], monitor=False, mobile=True),
]


def sdk_locations(records):
    """The SDK's Location objects for ``records``, as the local API serves them."""
    with (
        OpenAQApiServer(records, per_minute=10_000) as server,
        OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as client,
    ):
        return client.locations.list(limit=1000).results


def test_a_catalog_from_the_sdk_has_one_row_per_location_with_its_sensors():
    catalog = catalog_from_sdk(sdk_locations(RECORDS))

    assert catalog.schema == CATALOG_SCHEMA
    assert catalog.column("location_id").to_pylist() == [3, 5, 7]
    assert catalog.slice(2).to_pylist() == [
        {
            "location_id": 7,
            "name": "Station 7",
            "locality": "City 7",
            "timezone": "Europe/Berlin",
            "country": "DE",
            "provider": "Umweltbundesamt",
            "latitude": 52.57,
            "longitude": 13.4,
            "is_monitor": True,
            "is_mobile": False,
            "sensors": [
                {"sensor_id": 71, "parameter": "o3", "units": UG_M3},
                {"sensor_id": 72, "parameter": "no2", "units": UG_M3},
            ],
        }
    ]
    # A location without sensors has an empty list (known), not null (unknown).
    assert catalog.slice(1, 1).to_pylist()[0]["sensors"] == []
    assert catalog.slice(1, 1).to_pylist()[0]["is_mobile"] is True


def test_the_generated_locations_json_served_and_read_back_is_the_same_catalog(tmp_path):
    generate_archive(tmp_path, date(2024, 5, 1), 1, locations=40, seed=3)
    records = json.loads((tmp_path / "locations.json").read_text(encoding="utf-8"))

    from_api = catalog_from_sdk(sdk_locations(records))

    assert from_api.num_rows == 40
    assert from_api.equals(catalog_from_records(records))
    assert diff_catalogs(catalog_from_records(records), from_api).unchanged


def test_ids_give_rows_with_only_the_id_known():
    catalog = catalog_from_ids([9, 2, 9, 4])  # a keyless listing sees an id under many days

    assert catalog.schema == CATALOG_SCHEMA
    assert catalog.column("location_id").to_pylist() == [2, 4, 9]
    for column in CATALOG_SCHEMA.names[1:]:
        assert catalog.column(column).null_count == 3, column
    assert catalog_from_ids([]).num_rows == 0


@pytest.mark.parametrize("bad", [0, -1, 2**31, "x", True, None, 1.5])
def test_an_id_that_is_not_an_openaq_id_is_refused(bad):
    with pytest.raises(CatalogError, match="is not an integer from 1 to"):
        catalog_from_ids([1, bad])


def test_a_location_twice_in_the_records_is_refused():
    with pytest.raises(CatalogError, match="location 7 is in the catalog twice"):
        catalog_from_records([RECORDS[0], RECORDS[0]])


def test_a_csv_needs_only_location_ids_and_reads_the_columns_it_has():
    text = "\ufefflocation_id, name ,provider,is_monitor,latitude\n12,Alpha,UBA,true,52.1\n4,,,,\n"
    catalog = catalog_from_csv(text)

    assert catalog.schema == CATALOG_SCHEMA
    rows = catalog.to_pylist()
    assert [row["location_id"] for row in rows] == [4, 12]
    assert {k: rows[1][k] for k in ("name", "provider", "is_monitor", "latitude", "country", "sensors")} == {
        "name": "Alpha",
        "provider": "UBA",
        "is_monitor": True,
        "latitude": 52.1,
        "country": None,
        "sensors": None,
    }
    assert all(value is None for key, value in rows[0].items() if key != "location_id")
    assert catalog_from_csv("location_id\n5\n3\n").column("location_id").to_pylist() == [3, 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,name\n1,a\n", "no location_id column"),
        ("", "no location_id column"),
        ("location_id,provder\n1,a\n", "unknown columns provder"),
        ("location_id,sensors\n1,a\n", "unknown columns sensors"),
        ("location_id\n1\nabc\n", "line 3: location id 'abc'"),
        ("location_id\n1\n1\n", "location 1 is in the catalog twice"),
        ("location_id,is_mobile\n1,maybe\n", "line 2: is_mobile 'maybe' is not true or false"),
        ("location_id,latitude\n1,north\n", "line 2: could not convert"),
        ("location_id,latitude\n1,nan\n", "line 2: latitude 'nan' is not a finite number"),
    ],
)
def test_a_csv_that_cannot_be_a_catalog_is_refused_with_its_line(text, message):
    with pytest.raises(CatalogError, match=message):
        catalog_from_csv(text)


def test_a_diff_tells_added_dropped_and_changed_sensors():
    old = catalog_from_records(RECORDS)
    moved_sensor = record(7, [(72, "no2", UG_M3), (73, "o3", "ppb")])  # o3 sensor replaced
    reordered = {**RECORDS[1], "sensors": list(reversed(RECORDS[1]["sensors"])), "name": "Renamed"}
    new = catalog_from_records([moved_sensor, reordered, record(11, [])])

    assert diff_catalogs(old, new) == CatalogDiff(added=(11,), dropped=(5,), sensors_changed=(7,))
    assert diff_catalogs(new, old) == CatalogDiff(added=(5,), dropped=(11,), sensors_changed=(7,))
    assert diff_catalogs(old, old) == CatalogDiff((), (), ())
    assert diff_catalogs(old, old).unchanged and not diff_catalogs(old, new).unchanged


def test_a_diff_against_bare_ids_tells_no_sensor_change_it_cannot_know():
    known = catalog_from_records(RECORDS)
    assert diff_catalogs(known, catalog_from_ids([3, 7, 8])) == CatalogDiff(
        added=(8,), dropped=(5,), sensors_changed=()
    )
    assert diff_catalogs(catalog_from_ids([]), known).added == (3, 5, 7)


def test_an_empty_catalog_has_the_schema():
    assert catalog_from_sdk([]).equals(pa.Table.from_pylist([], schema=CATALOG_SCHEMA))
