"""The OpenAQLatest resource against the local OpenAQ v3 API, through the real SDK (never
patched): the requests it makes (one per parameter id and page), paging, datetime_min, 429
with Retry-After, and the key kept out of everything shown."""

import time
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from openaq import OpenAQ

from local_services.openaq_api import TEST_API_KEY, UG_M3, OpenAQApiServer
from resources.openaq_latest import NO_KEY, LatestFetchError, OpenAQLatest
from tests.helpers import catalog_location

NOW = datetime.now(UTC).replace(microsecond=0)
LOCATIONS = [
    catalog_location(1, "US", "AirNow", 34.05, -118.24, [(101, "o3", "ppm"), (102, "no2", "ppm")]),
    catalog_location(2, "DE", "Umweltbundesamt", 52.52, 13.4, [(201, "o3", UG_M3), (202, "no2", UG_M3)]),
    catalog_location(3, "GB", "DEFRA", 51.5, -0.12, [(301, "o3", "ppb")]),
    catalog_location(4, "US", "AirNow", 40.71, -74.0, [(401, "o3", "ppm")]),
    catalog_location(5, "US", "AirNow", 41.88, -87.63, [(501, "o3", "ppm")]),
]


def hours_ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat()


LATEST = [
    {"sensor_id": 101, "datetime": hours_ago(1), "value": 0.031},
    {"sensor_id": 102, "datetime": hours_ago(1), "value": 0.012},
    {"sensor_id": 201, "datetime": hours_ago(2), "value": 61.0},
    {"sensor_id": 202, "datetime": hours_ago(30), "value": 20.0},  # a stale sensor: older than the lookback
    {"sensor_id": 301, "datetime": hours_ago(1), "value": 33.0},
    {"sensor_id": 401, "datetime": hours_ago(1), "value": 0.041},
    {"sensor_id": 501, "datetime": hours_ago(1), "value": 0.029},
]
OTHER_KEY = "f" * 64  # well formed, but not one the server knows


def latest(server, **settings) -> OpenAQLatest:
    return OpenAQLatest(api_key=TEST_API_KEY, base_url=server.base_url, **settings)


def shown(error: BaseException) -> str:
    """Everything a log or the UI could show of an error: its text, repr and whole traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


@pytest.fixture
def server():
    with OpenAQApiServer(LOCATIONS, LATEST, per_minute=10_000, per_hour=10_000) as server:
        yield server


def test_one_request_per_parameter_id_with_the_documented_paging_and_datetime_min(server):
    poll = latest(server).poll(NOW)

    assert poll.parameter_ids == [10, 3, 32, 7, 5, 15]
    assert [r.path for r in server.requests()] == [f"/v3/parameters/{i}/latest" for i in poll.parameter_ids]
    since = (NOW - timedelta(hours=3)).isoformat()
    assert {(r.params["page"][0], r.params["limit"][0], r.params["datetime_min"][0]) for r in server.requests()} == {
        ("1", "1000", since)
    }
    read = {(page.parameter_id, v.sensor_id) for page in poll.pages for v in page.results}
    assert read == {(10, 101), (10, 401), (10, 501), (7, 102), (3, 201), (32, 301)}  # not 202: stale
    assert poll.counts.requests == 6 and poll.counts.rate_limited == 0


def test_pages_are_read_until_found_is_reached(server):
    poll = latest(server, page_size=2, parameters=["o3"]).poll(NOW)

    by_request = [(r.path, r.params["page"]) for r in server.requests()]
    assert by_request == [
        ("/v3/parameters/10/latest", ["1"]),
        ("/v3/parameters/10/latest", ["2"]),  # three ppm sensors in pages of two
        ("/v3/parameters/3/latest", ["1"]),
        ("/v3/parameters/32/latest", ["1"]),
    ]
    assert [(p.parameter_id, p.page, [v.sensor_id for v in p.results]) for p in poll.pages] == [
        (10, 1, [101, 401]),
        (10, 2, [501]),
        (3, 1, [201]),
        (32, 1, [301]),
    ]
    first = poll.pages[0].results[0]
    assert (first.location_id, first.value, first.latitude, first.longitude) == (1, 0.031, 34.05, -118.24)
    assert first.date_utc == (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_429_waits_its_retry_after_and_the_request_then_succeeds():
    with OpenAQApiServer(LOCATIONS, LATEST, per_minute=2, minute_seconds=1.0) as server:
        # Another client of the same key spends the minute, so the resource's SDK cannot know.
        with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as other:
            other.locations.list()
            other.locations.list()
        started = time.monotonic()
        poll = latest(server, parameters=["no2"]).poll(NOW)
        waited = time.monotonic() - started

    statuses = [r.status for r in server.requests()]
    assert statuses[:4] == [200, 200, 429, 200] and statuses.count(200) == 2 + 3
    assert poll.counts.requests == 3 and poll.counts.rate_limited == statuses.count(429)
    assert poll.counts.waited_seconds == statuses.count(429) * 1.0
    assert 0.9 <= waited < 10  # Retry-After: 1 (the window is a second here), not the default minute
    assert {v.sensor_id for p in poll.pages for v in p.results} == {102}


def test_a_429_asking_for_the_hour_fails_at_once_without_the_key():
    with OpenAQApiServer(LOCATIONS, LATEST, per_minute=100, per_hour=1) as server:
        with OpenAQ(api_key=TEST_API_KEY, base_url=server.base_url) as other:
            other.locations.list()
        started = time.monotonic()
        with pytest.raises(LatestFetchError, match=r"refused 1 request\(s\) with 429 .* wait 36\d\d s") as raised:
            latest(server, max_wait_seconds=5.0).poll(NOW)
        assert time.monotonic() - started < 3
    assert TEST_API_KEY not in shown(raised.value)


def test_the_key_is_never_in_an_error_or_the_resources_repr(server):
    refused = OpenAQLatest(api_key=OTHER_KEY, base_url=server.base_url)
    assert OTHER_KEY not in repr(refused) and OTHER_KEY not in str(refused.describe())
    assert refused.describe()["api_key"] == "OPENAQ_API_KEY (set)"
    with pytest.raises(LatestFetchError, match="OpenAQ latest values from .*NotAuthorizedError") as unknown:
        refused.poll(NOW)
    assert OTHER_KEY not in shown(unknown.value)
    assert unknown.value.__cause__ is None and unknown.value.__suppress_context__
    assert [r.status for r in server.requests()] == [401]


def test_without_a_key_nothing_is_asked_and_the_error_says_why(server, monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)  # the SDK would read it; the resource does not
    keyless = OpenAQLatest(base_url=server.base_url)
    assert keyless.describe()["api_key"] == "OPENAQ_API_KEY (not set)"
    with pytest.raises(LatestFetchError, match="^no OPENAQ_API_KEY") as raised:
        keyless.poll(NOW)
    assert str(raised.value) == NO_KEY
    assert server.requests() == []
