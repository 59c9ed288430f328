"""The loopback OpenAQ v3 API, driven by the official SDK pointed at it (and by plain HTTPS
requests where the SDK cannot say something, e.g. the paging of latest values)."""

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
from collections import Counter

import openaq
import pytest
from openaq import OpenAQ

from local_services.openaq_api import TEST_API_KEY, OpenAQApiServer, RateLimiter, openaq_api_server
from tests.helpers import catalog_location

location = catalog_location


UG = "µg/m³"
LOCATIONS = [
    location(
        1, "US", "AirNow", 34.05, -118.24, [(101, "o3", "ppm"), (102, "no2", "ppm")], timezone="America/Los_Angeles"
    ),
    location(2, "US", "AirNow", 40.71, -74.01, [(201, "o3", "ppm")], timezone="America/New_York"),
    location(3, "DE", "Umweltbundesamt", 52.52, 13.40, [(301, "o3", UG), (302, "no2", UG)], timezone="Europe/Berlin"),
    location(4, "DE", "Umweltbundesamt", 53.55, 9.99, [(401, "pm25", UG)], timezone="Europe/Berlin"),
    location(5, "GB", "DEFRA", 51.51, -0.13, [(501, "o3", "ppb")], timezone="Europe/London", mobile=True),
    location(6, "FR", "EEA France", 48.86, 2.35, [(601, "o3", UG)], timezone="Europe/Paris", monitor=False),
]
LATEST = [
    {"sensor_id": 101, "datetime": "2024-05-01T12:00:00Z", "value": 0.031},
    {"sensor_id": 102, "datetime": "2024-05-01T12:00:00Z", "value": 0.012},
    {"sensor_id": 201, "datetime": "2024-05-01T11:00:00Z", "value": 0.044},
    {"sensor_id": 301, "datetime": "2024-05-01T10:00:00Z", "value": 61.5},
    {"sensor_id": 302, "datetime": "2024-05-01T09:00:00Z", "value": 20.0},
    {"sensor_id": 501, "datetime": "2024-05-01T10:00:00Z", "value": 30.0, "latitude": 51.6, "longitude": -0.2},
    {"sensor_id": 601, "datetime": "2024-05-01T09:00:00Z", "value": 55.0},
]
OTHER_KEY = "f" * 64  # well formed, but not one of the server's


@pytest.fixture
def server():
    """A server of its own, for tests that count requests, spend the rate limit or change data."""
    with OpenAQApiServer(LOCATIONS, LATEST) as server:
        yield server


@pytest.fixture
def client(server):
    with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def shared_server():
    """One server for the tests that only read (each new TLS client context costs ~50 ms)."""
    with OpenAQApiServer(LOCATIONS, LATEST, per_minute=100_000, per_hour=100_000) as server:
        yield server


@pytest.fixture(scope="module")
def reader(shared_server):
    with OpenAQ(api_key=TEST_API_KEY, base_url=shared_server.base_url) as client:
        yield client


def fetch(server: OpenAQApiServer, target: str, key: str | None = TEST_API_KEY):
    """A GET with http.client, trusting the server's certificate: (status, headers, JSON body)."""
    context = ssl.create_default_context(cafile=server.certificate)
    connection = http.client.HTTPSConnection(urllib.parse.urlsplit(server.base_url).netloc, timeout=5, context=context)
    try:
        connection.request("GET", target, headers={"X-API-Key": key} if key else {})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def ids(response) -> list[int]:
    return [result.id for result in response.results]


def test_the_sdk_loads_every_field_of_a_location(client):
    response = client.locations.get(1)

    assert (response.meta.page, response.meta.limit, response.meta.found) == (1, 100, 1)
    loc = response.results[0]
    assert (loc.id, loc.name, loc.locality, loc.timezone) == (1, "Station 1", "City 1", "America/Los_Angeles")
    assert (loc.country.code, loc.country.name, loc.provider.name) == ("US", "United States", "AirNow")
    assert (loc.is_monitor, loc.is_mobile, loc.instruments[0].name) == (True, False, "Government Monitor")
    assert (loc.coordinates.latitude, loc.coordinates.longitude) == (34.05, -118.24)
    assert loc.bounds == (-118.24, 34.05, -118.24, 34.05)
    assert [(s.id, s.name, s.parameter.id, s.parameter.name, s.parameter.units) for s in loc.sensors] == [
        (101, "o3 ppm", 10, "o3", "ppm"),
        (102, "no2 ppm", 7, "no2", "ppm"),
    ]
    assert loc.sensors[0].parameter.display_name == "O₃"
    # The newest of its latest values, in UTC and local time; the first measurement is unknown.
    assert (loc.datetime_last.utc, loc.datetime_last.local) == ("2024-05-01T12:00:00Z", "2024-05-01T05:00:00-07:00")
    assert loc.datetime_first is None
    assert (response.headers.x_ratelimit_limit, response.headers.x_ratelimit_remaining) == (60, 59)
    assert (response.headers.x_ratelimit_used, response.headers.x_ratelimit_reset) == (1, 60)


def test_an_unknown_location_has_no_results_as_on_openaq(reader):
    response = reader.locations.get(999)
    assert (response.results, response.meta.found) == ([], 0)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"parameters_id": 10}, [1, 2]),  # o3 in ppm
        ({"parameters_id": 3}, [3, 6]),  # o3 in µg/m³
        ({"parameters_id": 32}, [5]),  # o3 in ppb
        ({"parameters_id": [7, 5]}, [1, 3]),  # no2 in either unit
        ({"bbox": (-125.0, 30.0, -70.0, 45.0)}, [1, 2]),  # min lon, min lat, max lon, max lat
        ({"bbox": (-5.0, 45.0, 15.0, 55.0)}, [3, 4, 5, 6]),
        ({"iso": "DE"}, [3, 4]),
        ({"monitor": False}, [6]),
        ({"monitor": True, "mobile": False}, [1, 2, 3, 4]),
        ({"mobile": True}, [5]),
        ({"iso": "US", "parameters_id": 7}, [1]),
        ({"bbox": (-125.0, 30.0, 15.0, 55.0), "parameters_id": 3, "monitor": True}, [3]),
    ],
)
def test_each_filter_selects_its_locations(reader, filters, expected):
    response = reader.locations.list(**filters)
    assert ids(response) == expected
    assert response.meta.found == len(expected)


def test_countries_and_providers_are_filtered_by_the_ids_the_server_gives(shared_server, reader):
    assert ids(reader.locations.list(countries_id=shared_server.country_id("US"))) == [1, 2]
    providers = [shared_server.provider_id("DEFRA"), shared_server.provider_id("Umweltbundesamt")]
    assert ids(reader.locations.list(providers_id=providers)) == [3, 4, 5]
    assert reader.locations.get(3).results[0].country.id == shared_server.country_id("DE")


def test_pages_split_the_matches_and_found_counts_them_all(reader):
    first, second = reader.locations.list(limit=4, page=1), reader.locations.list(limit=4, page=2)
    assert (ids(first), first.meta.found, first.meta.limit, first.meta.page) == ([1, 2, 3, 4], 6, 4, 1)
    assert (ids(second), second.meta.found, second.meta.page) == ([5, 6], 6, 2)
    # OpenAQ counts alongside the rows, so a page past the end finds nothing at all.
    past = reader.locations.list(limit=4, page=3)
    assert (ids(past), past.meta.found) == ([], 0)
    assert ids(reader.locations.list(limit=4, sort_order="desc")) == [6, 5, 4, 3]


def test_latest_values_per_parameter_and_per_location(reader):
    ozone_ppm = reader.parameters.latest(10)
    assert [(r.sensors_id, r.locations_id, r.value) for r in ozone_ppm.results] == [(101, 1, 0.031), (201, 2, 0.044)]
    assert ozone_ppm.meta.found == 2
    los_angeles = ozone_ppm.results[0]
    assert (los_angeles.datetime.utc, los_angeles.datetime.local) == (
        "2024-05-01T12:00:00Z",
        "2024-05-01T05:00:00-07:00",
    )
    assert (los_angeles.coordinates.latitude, los_angeles.coordinates.longitude) == (34.05, -118.24)

    berlin = reader.locations.latest(3)
    assert [(r.sensors_id, r.value, r.datetime.local) for r in berlin.results] == [
        (301, 61.5, "2024-05-01T12:00:00+02:00"),
        (302, 20.0, "2024-05-01T11:00:00+02:00"),
    ]
    # A mobile location's value carries where it was taken.
    mobile = reader.locations.latest(5).results[0]
    assert (mobile.coordinates.latitude, mobile.coordinates.longitude) == (51.6, -0.2)
    # A location without latest values has none, and no last datetime.
    assert reader.locations.latest(4).results == []
    assert reader.locations.get(4).results[0].datetime_last is None


@pytest.mark.parametrize(
    ("query", "sensors"),
    [
        ("limit=1&page=1", [301]),
        ("limit=1&page=2", [601]),
        ("datetime_min=2024-05-01T09:30:00%2B00:00", [301]),  # after 09:30 UTC
        ("datetime_min=2024-05-01T10:30:00", [301, 601]),  # without an offset: local time, 12:00 and 11:00 there
        ("datetime_min=2024-05-01", [301, 601]),  # midnight local time
        ("datetime_min=2024-05-02", []),
    ],
)
def test_latest_values_page_and_filter_by_datetime_min(shared_server, query, sensors):
    """The SDK sends no query with latest values; the API takes limit, page and datetime_min."""
    status, _, body = fetch(shared_server, f"/v3/parameters/3/latest?{query}")
    assert status == 200
    assert [r["sensorsId"] for r in body["results"]] == sensors


@pytest.mark.parametrize(
    ("target", "status", "where"),
    [
        ("/v3/locations?limit=1001", 422, ["query", "limit"]),
        ("/v3/locations?page=0", 422, ["query", "page"]),
        ("/v3/locations?bbox=10,50,5,55", 422, ["query", "bbox"]),  # min lon above max lon
        ("/v3/locations?monitor=maybe", 422, ["query", "monitor"]),
        ("/v3/locations?iso=US&countries_id=1", 422, ["query", "iso"]),
        ("/v3/locations?coordinates=52.5,13.4&radius=1000", 422, ["query", "coordinates"]),  # not served here
        ("/v3/locations/0", 422, ["path", "locations_id"]),
        ("/v3/parameters/3/latest?datetime_min=yesterday", 422, ["query", "datetime_min"]),
        ("/v3/nowhere", 404, None),
    ],
)
def test_queries_it_cannot_answer_are_refused(shared_server, target, status, where):
    got, _, body = fetch(shared_server, target)
    assert got == status
    if where:
        assert body["detail"][0]["loc"] == where


def test_a_key_the_server_does_not_know_is_refused(server):
    with OpenAQ(api_key=OTHER_KEY, base_url=server.base_url) as stranger, pytest.raises(openaq.NotAuthorizedError):
        stranger.locations.list()
    status, _, body = fetch(server, "/v3/locations", key=None)
    assert (status, body) == (401, {"detail": "Invalid credentials"})
    # The SDK itself refuses keys that are not 64 hex digits, before any request.
    with pytest.raises(openaq.ApiKeyMissingError):
        OpenAQ(api_key="test-key", base_url=server.base_url)
    assert [(r.path, r.status) for r in server.requests()] == [("/v3/locations", 401)] * 2


def test_over_the_minute_limit_the_sdk_stops_itself_and_the_server_says_429():
    with OpenAQApiServer(LOCATIONS, LATEST, per_minute=3) as server:
        with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url, auto_wait=False) as client:
            remaining = [client.locations.list().headers.x_ratelimit_remaining for _ in range(3)]
            assert remaining == [2, 1, 0]
            # The SDK counts from the headers and refuses without asking the server.
            with pytest.raises(openaq.RateLimitError):
                client.locations.list()
        assert len(server.requests()) == 3

        # A client that has not seen the headers asks, and the server refuses.
        with (
            OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as unaware,
            pytest.raises(openaq.HTTPRateLimitError),
        ):
            unaware.locations.get(1)
        status, headers, body = fetch(server, "/v3/locations/1")
        assert (status, body) == (429, {"detail": "Too many requests"})
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert headers["x-ratelimit-reset"] == headers["Retry-After"]
        assert (headers["x-ratelimit-limit"], headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]) == (
            "3",
            "0",
            "3",
        )
        assert [r.status for r in server.requests()] == [200, 200, 200, 429, 429]


def test_with_auto_wait_the_sdk_sleeps_until_the_window_is_over():
    with (
        OpenAQApiServer(LOCATIONS, LATEST, per_minute=2, minute_seconds=1.0) as server,
        OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url, auto_wait=True) as client,
    ):
        started = time.monotonic()
        found = [client.locations.list().meta.found for _ in range(3)]
        waited = time.monotonic() - started
    assert found == [6, 6, 6]
    assert waited >= 1.0  # the third request waited for the next window ...
    assert [r.status for r in server.requests()] == [200, 200, 200]  # ... so the server refused nothing


def test_the_rate_windows_count_per_key_and_the_tightest_one_is_told():
    now = [0.0]
    limiter = RateLimiter([(2, 60.0), (3, 3600.0)], clock=lambda: now[0])

    def take(at, key="a"):
        now[0] = at
        allowed, headers = limiter.take(key)
        limit, remaining, reset = (int(headers[f"x-ratelimit-{n}"]) for n in ("limit", "remaining", "reset"))
        return allowed, limit, remaining, reset, headers.get("Retry-After")

    assert take(0) == (True, 2, 1, 60, None)
    assert take(1) == (True, 2, 0, 59, None)
    assert take(2) == (False, 2, 0, 58, "58")  # the minute is full
    assert take(2, key="b") == (True, 2, 1, 60, None)  # another key has its own windows
    assert take(60) == (True, 3, 0, 3540, None)  # a new minute; the hour's third request
    assert take(61) == (False, 3, 0, 3539, "3539")  # the hour is full, the minute is not
    assert take(3600) == (True, 2, 1, 60, None)  # both windows start again


def test_the_request_log_counts_every_request_per_path(server, client):
    client.locations.list(limit=2, page=1)
    client.locations.list(limit=2, page=2)
    client.locations.get(2)
    client.parameters.latest(10)
    with OpenAQ(api_key=OTHER_KEY, base_url=server.base_url) as stranger, pytest.raises(openaq.NotAuthorizedError):
        stranger.locations.list()

    assert server.request_counts() == Counter({"/v3/locations": 3, "/v3/locations/2": 1, "/v3/parameters/10/latest": 1})
    assert server.requests()[1].params == {"page": ["2"], "limit": ["2"]}
    server.clear_requests()
    assert server.request_counts() == Counter()


def test_the_data_can_be_replaced_while_serving(server, client):
    server.set_latest([{"sensor_id": 101, "datetime": "2024-05-01T13:00:00+00:00", "value": 0.05}])
    assert [(r.sensors_id, r.value, r.datetime.utc) for r in client.parameters.latest(10).results] == [
        (101, 0.05, "2024-05-01T13:00:00Z")
    ]

    server.set_locations(LOCATIONS[:2])
    assert ids(client.locations.list()) == [1, 2]
    assert client.parameters.latest(10).results == []  # the latest values went with the old catalog


@pytest.mark.parametrize(
    ("locations", "latest", "message"),
    [
        ([location(1, "US", "AirNow", 0, 0, [(1, "o3", "mg/m³")])], [], "no parameter 'o3' in 'mg/m³'"),
        (
            [location(1, "US", "AirNow", 0, 0, [(1, "o3", "ppm"), (1, "no2", "ppm")])],
            [],
            "sensor 1 is in the catalog twice",
        ),
        (
            [location(1, "US", "AirNow", 0, 0, []), location(1, "US", "AirNow", 0, 0, [])],
            [],
            "location 1 is in the catalog twice",
        ),
        ([{**location(1, "US", "AirNow", 0, 0, []), "timezone": "Mars/Olympus"}], [], "unknown timezone"),
        ([{k: v for k, v in location(1, "US", "AirNow", 0, 0, []).items() if k != "is_mobile"}], [], "lacks is_mobile"),
        (LOCATIONS, [{"sensor_id": 999, "datetime": "2024-05-01T00:00:00Z", "value": 1}], "not in the catalog"),
        (LOCATIONS, [{"sensor_id": 101, "datetime": "2024-05-01T00:00:00", "value": 1}], "no UTC offset"),
    ],
)
def test_a_catalog_that_does_not_fit_the_format_is_refused(locations, latest, message):
    with pytest.raises(ValueError, match=message):
        OpenAQApiServer(locations, latest)


def test_the_context_manager_yields_a_url_the_sdk_trusts_and_cleans_up(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with openaq_api_server(LOCATIONS, LATEST) as base_url:
        assert base_url.startswith("https://127.0.0.1:") and base_url.endswith("/v3/")
        assert "SSL_CERT_FILE" in os.environ
        with OpenAQ(api_key=TEST_API_KEY, base_url=base_url) as client:
            assert client.locations.list(iso="GB").results[0].id == 5
    assert "SSL_CERT_FILE" not in os.environ
    port = urllib.parse.urlsplit(base_url).port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
