"""The OpenAQCatalog resource against the local OpenAQ v3 API, through the real SDK (never
patched): filters, paging, rate limits and the key kept out of everything shown."""

import json
import time
import traceback
from datetime import date

import dagster as dg
import pytest
from openaq import OpenAQ

from local_services.openaq_api import TEST_API_KEY, UG_M3, OpenAQApiServer
from resources.openaq_catalog import (
    CatalogConfigError,
    CatalogFetchError,
    KeylessCatalog,
    OpenAQCatalog,
)
from sample_data.generator import generate_archive
from sources.openaq_v3.catalog import catalog_from_records, diff_catalogs
from tests.helpers import catalog_location

location = catalog_location


LOCATIONS = [
    location(1, "US", "AirNow", 34.05, -118.24, [(101, "o3", "ppm"), (102, "no2", "ppm")]),
    location(2, "US", "AirNow", 40.71, -74.0, [(201, "o3", "ppm")]),
    location(3, "DE", "Umweltbundesamt", 52.52, 13.4, [(301, "o3", UG_M3), (302, "no2", UG_M3)]),
    location(4, "DE", "Umweltbundesamt", 48.14, 11.58, [(401, "pm25", UG_M3)]),  # no o3, no no2
    location(5, "GB", "DEFRA", 51.5, -0.12, [(501, "o3", "ppb")]),
    location(6, "FR", "Atmo", 48.86, 2.35, [(601, "no2", "ppb")], monitor=False),  # a low-cost sensor
    location(7, "FR", "Atmo", 45.76, 4.84, [(701, "o3", UG_M3)]),
]
OTHER_KEY = "f" * 64  # well formed, but not one the server knows


def ids(catalog):
    return catalog.column("location_id").to_pylist()


def catalog(server, **settings):
    return OpenAQCatalog(api_key=TEST_API_KEY, base_url=server.base_url, **settings)


@pytest.fixture
def server():
    with OpenAQApiServer(LOCATIONS, per_minute=10_000, per_hour=10_000) as server:
        yield server


def test_the_default_filters_follow_monitors_of_o3_and_no2_in_every_unit(server):
    fetched = catalog(server).fetch_catalog()

    assert ids(fetched) == [1, 2, 3, 5, 7]  # 4 measures neither, 6 is not a monitor
    [request] = server.requests()
    assert request.path == "/v3/locations"
    assert request.params == {
        "page": ["1"],
        "limit": ["1000"],
        "parameters_id": ["10,3,32,7,5,15"],
        "monitor": ["true"],
    }


def test_every_filter_goes_to_the_server_one_listing_per_country(server):
    resource = catalog(
        server,
        parameters=["no2"],
        countries=["US", "DE"],
        bbox=[-130.0, 30.0, 20.0, 60.0],
        providers=[server.provider_id("AirNow"), server.provider_id("Umweltbundesamt")],
        monitor_only=False,
    )
    assert ids(resource.fetch_catalog()) == [1, 3]

    common = {
        "page": ["1"],
        "limit": ["1000"],
        "parameters_id": ["7,5,15"],
        "bbox": ["-130.0,30.0,20.0,60.0"],
        "providers_id": [f"{server.provider_id('AirNow')},{server.provider_id('Umweltbundesamt')}"],
    }
    assert [r.params for r in server.requests()] == [{**common, "iso": ["US"]}, {**common, "iso": ["DE"]}]


def test_pages_are_read_until_found_is_reached(server):
    fetched = catalog(server, page_size=2).fetch_catalog()

    assert ids(fetched) == [1, 2, 3, 5, 7]
    assert [(r.params["page"], r.params["limit"], r.status) for r in server.requests()] == [
        (["1"], ["2"], 200),
        (["2"], ["2"], 200),
        (["3"], ["2"], 200),
    ]
    server.clear_requests()
    assert ids(catalog(server, page_size=2, countries=["US", "DE"], parameters=["o3"]).fetch_catalog()) == [1, 2, 3]
    assert [(r.params["iso"], r.params["page"]) for r in server.requests()] == [(["US"], ["1"]), (["DE"], ["1"])]
    server.clear_requests()
    # Four matches in pages of two: found is reached on page 2, no empty page 3 is asked for.
    providers = [server.provider_id(name) for name in ("AirNow", "Umweltbundesamt", "DEFRA")]
    assert ids(catalog(server, page_size=2, parameters=["o3"], providers=providers).fetch_catalog()) == [1, 2, 3, 5]
    assert [r.params["page"] for r in server.requests()] == [["1"], ["2"]]


def test_the_generated_locations_json_is_served_and_read_back_equal(tmp_path):
    generate_archive(tmp_path, date(2024, 5, 1), 1, locations=40, seed=3)
    records = json.loads((tmp_path / "locations.json").read_text(encoding="utf-8"))
    followed = [r for r in records if any(s["parameter"] in ("o3", "no2") for s in r["sensors"])]
    assert any(s["units"] == "ppb" and s["parameter"] == "o3" for r in followed for s in r["sensors"])

    with OpenAQApiServer(records, per_minute=10_000) as server:
        fetched = catalog(server, page_size=7).fetch_catalog()
        pages = len(server.requests())

    assert fetched.equals(catalog_from_records(followed))
    assert pages == -(-len(followed) // 7)


def test_a_429_waits_its_retry_after_and_the_request_then_succeeds():
    with OpenAQApiServer(LOCATIONS, per_minute=2, minute_seconds=1.0) as server:
        # Another client of the same key spends the minute, so the resource's SDK cannot know.
        with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as other:
            other.locations.list()
            other.locations.list()
        started = time.monotonic()
        fetched = catalog(server).fetch_catalog()
        waited = time.monotonic() - started

    assert ids(fetched) == [1, 2, 3, 5, 7]
    assert [r.status for r in server.requests()] == [200, 200, 429, 200]
    assert 0.9 <= waited < 5  # Retry-After: 1 (the window is a second here), not the default minute


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_wait_seconds": 5.0}, r"refused 1 request\(s\) with 429 .* wait 36\d\d s"),  # the hour is spent
        ({"max_retries": 0, "max_wait_seconds": 7200.0}, r"refused 1 request\(s\) with 429 .* 0 retries"),
    ],
)
def test_a_429_beyond_the_retries_or_the_longest_wait_fails_without_waiting(settings, message):
    with OpenAQApiServer(LOCATIONS, per_minute=100, per_hour=1) as server:
        with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as other:
            other.locations.list()
        started = time.monotonic()
        with pytest.raises(CatalogFetchError, match=message) as raised:
            catalog(server, **settings).fetch_catalog()
        assert time.monotonic() - started < 3
    assert [r.status for r in server.requests()] == [200, 429]
    assert TEST_API_KEY not in shown(raised.value)


def shown(error: BaseException) -> str:
    """Everything a log or the UI could show of an error: its text, repr and whole traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def test_the_key_is_never_in_an_error_or_the_resources_repr(server):
    refused = OpenAQCatalog(api_key=OTHER_KEY, base_url=server.base_url)
    for text in (repr(refused), str(refused), json.dumps(refused.describe())):
        assert OTHER_KEY not in text
    assert refused.describe()["api_key"] == "OPENAQ_API_KEY (set)"

    with pytest.raises(CatalogFetchError, match="NotAuthorizedError") as unknown:
        refused.fetch_catalog()
    assert OTHER_KEY not in shown(unknown.value)
    assert unknown.value.__cause__ is None and unknown.value.__suppress_context__

    malformed = "secret-" + "9" * 57  # the SDK refuses it before any request
    with pytest.raises(CatalogFetchError, match="ApiKeyMissingError") as refused_early:
        OpenAQCatalog(api_key=malformed, base_url=server.base_url).fetch_catalog()
    assert malformed not in shown(refused_early.value)
    assert malformed not in repr(OpenAQCatalog(api_key=malformed))
    assert [r.status for r in server.requests()] == [401]


def test_the_key_comes_from_the_environment_and_the_run_shows_only_its_name(server, monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)

    @dg.asset
    def followed_locations(openaq_catalog: OpenAQCatalog) -> dg.MaterializeResult:
        table = openaq_catalog.fetch_catalog()
        return dg.MaterializeResult(metadata={"locations": table.num_rows, **openaq_catalog.describe()})

    resource = OpenAQCatalog(api_key=dg.EnvVar("OPENAQ_API_KEY"), base_url=server.base_url)
    assert "OPENAQ_API_KEY" not in repr(resource) and TEST_API_KEY not in repr(resource)
    result = dg.materialize([followed_locations], resources={"openaq_catalog": resource})

    assert result.success
    metadata = result.asset_materializations_for_node("followed_locations")[0].metadata
    assert metadata["locations"].value == 5
    assert metadata["api_key"].value == "OPENAQ_API_KEY (set)"
    events = "\n".join(repr(event) for event in result.all_events)
    assert TEST_API_KEY not in events


def test_ids_or_a_csv_are_followed_without_asking_the_api(server, tmp_path):
    by_ids = OpenAQCatalog(location_ids=[7, 3, 7], base_url=server.base_url)
    assert by_ids.source() == "location_ids"
    assert ids(by_ids.fetch_catalog()) == [3, 7]

    csv_file = tmp_path / "stations.csv"
    csv_file.write_text("location_id,name,country\n12,Alpha,DE\n4,,\n", encoding="utf-8")
    by_csv = OpenAQCatalog(api_key=TEST_API_KEY, locations_file=str(csv_file), base_url=server.base_url)
    assert by_csv.source() == "locations_file"
    table = by_csv.fetch_catalog()
    assert table.select(["location_id", "name", "country"]).to_pylist() == [
        {"location_id": 4, "name": None, "country": None},
        {"location_id": 12, "name": "Alpha", "country": "DE"},
    ]
    assert server.requests() == []


def test_without_a_key_ids_or_csv_it_says_discovery_must_be_keyless(server, monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)  # the SDK would read it; the resource does not
    keyless = OpenAQCatalog(base_url=server.base_url)
    assert keyless.source() == "keyless"
    assert keyless.describe()["api_key"] == "OPENAQ_API_KEY (not set)"
    with pytest.raises(KeylessCatalog, match="discovered keyless"):
        keyless.fetch_catalog()
    assert server.requests() == []


def test_a_catalog_refreshed_after_the_server_changed_tells_added_and_dropped(server):
    resource = catalog(server)
    before = resource.fetch_catalog()
    server.set_locations([*LOCATIONS[1:5], location(8, "PL", "GIOS", 52.23, 21.01, [(801, "o3", UG_M3)]), LOCATIONS[6]])
    after = resource.fetch_catalog()

    change = diff_catalogs(before, after)
    assert (change.added, change.dropped, change.sensors_changed) == ((8,), (1,), ())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"parameters": ["pm25"]}, r"parameters \['pm25'\]"),
        ({"parameters": []}, "parameters"),
        ({"countries": ["Germany"]}, "ISO 3166"),
        ({"countries": ["de"]}, "ISO 3166"),
        ({"bbox": [10.0, 50.0, 5.0, 55.0]}, "minimum above its maximum"),
        ({"bbox": [1.0, 2.0, 3.0]}, "four numbers"),
        ({"page_size": 1001}, "page_size 1001"),
        ({"page_size": 0}, "page_size 0"),
        ({"location_ids": [1], "locations_file": "x.csv"}, "give one of them"),
    ],
)
def test_settings_that_cannot_select_locations_are_refused_before_any_request(server, settings, message):
    with pytest.raises(CatalogConfigError, match=message):
        catalog(server, **settings).fetch_catalog()
    assert server.requests() == []
