"""OpenAQ's v3 API on loopback, served from an in-memory catalog: locations, latest values, API
keys, paging and rate limits, for the ``openaq`` SDK in the tests and the offline demo.

    with openaq_api_server(locations, latest) as base_url:
        client = OpenAQ(api_key=TEST_API_KEY, base_url=base_url)

Paths: ``/v3/locations`` (filters ``parameters_id``, ``bbox``, ``iso``, ``countries_id``,
``providers_id``, ``monitor``, ``mobile``; ``order_by=id``, ``sort_order``, ``limit`` <= 1000,
``page``), ``/v3/locations/{id}``, ``/v3/locations/{id}/latest`` and
``/v3/parameters/{id}/latest`` (``limit``, ``page``, ``datetime_min``).

What the SDK (1.2.0) needs from a server, and OpenAQ does:
- TLS. The SDK speaks HTTPS whatever the scheme of ``base_url``, so the server has a self-signed
  certificate, trusted through ``SSL_CERT_FILE`` while it runs (``local_services.tls``).
- API keys of 64 lowercase hex digits: the SDK refuses any other key before sending anything.
- ``x-ratelimit-limit``, ``-remaining``, ``-used`` and ``-reset`` (seconds) on every counted
  response. The SDK keeps its own budget from them: once ``remaining`` is 0 it sleeps ``reset``
  seconds (``auto_wait``) or raises ``RateLimitError`` without asking the server; a response
  without them counts as 0 remaining for 60 s.
- ``meta`` with ``name``, ``website``, ``page``, ``limit`` and ``found``, and every field of a
  location, ``distance`` (null) included: the SDK's models fail on a missing one.
The SDK's ``parameters.latest`` and ``locations.latest`` send no query at all, so through them a
client sees only the first page (100 values); ``limit``, ``page`` and ``datetime_min`` are served
for clients that send them.

Where this differs from OpenAQ, on purpose:
- A query parameter it does not implement is a 422 (OpenAQ ignores unknown ones), so no test
  passes because a filter silently did not apply.
- Country and provider ids are numbered here (codes and names in sorted order), not OpenAQ's;
  ``country_id`` and ``provider_id`` give them.
- The two rate windows (a minute, an hour) can be shortened for tests, and a 429 also carries
  ``Retry-After``.

The catalog, one plain dict per location (``sample_data`` writes this list to ``locations.json``)::

    {"id": 1, "name": "Downtown", "locality": "Los Angeles", "timezone": "America/Los_Angeles",
     "country": "US", "provider": "AirNow", "latitude": 34.05, "longitude": -118.24,
     "sensors": [{"id": 11, "parameter": "o3", "units": "ppm"}], "is_monitor": True, "is_mobile": False}

Latest values, one dict per sensor: ``{"sensor_id": 11, "datetime": "2024-05-01T12:00:00Z",
"value": 0.031}``, with ``latitude`` and ``longitude`` where a mobile location took it elsewhere.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import http.server
import json
import math
import re
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from local_services.tls import trusting, write_self_signed_certificate

# The SDK refuses keys that are not 64 lowercase hex digits.
TEST_API_KEY = "0123456789abcdef" * 4

UG_M3 = "µg/m³"  # U+00B5 micro sign, as OpenAQ spells it

# OpenAQ's parameters (GET /v3/parameters): (name, units) -> (id, displayName). Every pair the
# sample network measures, and its weather; the same pollutant has one id per unit.
PARAMETERS: dict[tuple[str, str], tuple[int, str]] = {
    ("pm10", UG_M3): (1, "PM10"),
    ("pm25", UG_M3): (2, "PM2.5"),
    ("o3", UG_M3): (3, "O₃ mass"),
    ("co", UG_M3): (4, "CO mass"),
    ("no2", UG_M3): (5, "NO₂ mass"),
    ("so2", UG_M3): (6, "SO₂ mass"),
    ("no2", "ppm"): (7, "NO₂"),
    ("co", "ppm"): (8, "CO"),
    ("so2", "ppm"): (9, "SO₂"),
    ("o3", "ppm"): (10, "O₃"),
    ("bc", UG_M3): (11, "BC"),
    ("no2", "ppb"): (15, "NO₂"),
    ("pm1", UG_M3): (19, "PM1"),
    ("nox", "ppb"): (23, "NOX"),
    ("no", "ppb"): (24, "NO"),
    ("nox", UG_M3): (27, "NOx mass"),
    ("o3", "ppb"): (32, "O₃"),
    ("no", "ppm"): (35, "NO"),
    ("so2", "ppb"): (101, "SO₂"),
    ("co", "ppb"): (102, "CO"),
    ("nox", "ppm"): (19840, "NOx"),
    ("no", UG_M3): (19843, "NO mass"),
    ("relativehumidity", "%"): (98, "RH"),
    ("temperature", "c"): (100, "Temperature (C)"),
}

COUNTRY_NAMES = {
    "AU": "Australia",
    "BR": "Brazil",
    "CA": "Canada",
    "CL": "Chile",
    "CN": "China",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IN": "India",
    "MX": "Mexico",
    "NL": "Netherlands",
    "PL": "Poland",
    "US": "United States",
}

# The catalog says only whether a location is a reference monitor; OpenAQ lists its devices.
MONITOR_INSTRUMENT = {"id": 2, "name": "Government Monitor"}
SENSOR_INSTRUMENT = {"id": 3, "name": "Air Sensor"}

# fmt: off
LOCATION_KEYS = frozenset({"id", "name", "locality", "timezone", "country", "provider",
                           "latitude", "longitude", "sensors", "is_monitor", "is_mobile"})
# fmt: on
SENSOR_KEYS = frozenset({"id", "parameter", "units"})
LATEST_KEYS = frozenset({"sensor_id", "datetime", "value"})

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_ID = 2**31 - 1  # ids are int32, as the SDK checks


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered, whatever its status."""

    path: str
    params: dict[str, list[str]]
    status: int


@dataclass(frozen=True)
class _Location:
    id: int
    body: dict[str, Any]  # the API's JSON, but datetimeLast, which follows the latest values
    zone: ZoneInfo
    country_code: str
    country_id: int
    provider_id: int
    parameter_ids: frozenset[int]
    latitude: float
    longitude: float
    is_monitor: bool
    is_mobile: bool


@dataclass(frozen=True)
class _Latest:
    sensor_id: int
    parameter_id: int
    location: _Location
    utc: datetime.datetime
    value: float
    latitude: float
    longitude: float


class _Catalog:
    """The locations, checked and turned into the API's JSON once."""

    def __init__(self, locations: Iterable[Mapping[str, Any]]) -> None:
        rows = [dict(row) for row in locations]
        for row in rows:
            _require_keys(row, LOCATION_KEYS, f"location {row.get('id')!r}")
            _catalog_id(row["id"], "location")
        self.country_ids = {code: n for n, code in enumerate(sorted({str(row["country"]) for row in rows}), 1)}
        self.provider_ids = {name: n for n, name in enumerate(sorted({str(row["provider"]) for row in rows}), 1)}
        self.locations: dict[int, _Location] = {}
        self.sensors: dict[int, tuple[_Location, int]] = {}  # sensor id -> (location, parameter id)
        for row in sorted(rows, key=lambda row: row["id"]):
            self._add(row)

    def _add(self, row: dict[str, Any]) -> None:
        location_id = row["id"]
        if location_id in self.locations:
            raise ValueError(f"location {location_id} is in the catalog twice")
        try:
            zone = ZoneInfo(row["timezone"])
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"location {location_id}: unknown timezone {row['timezone']!r}") from None
        latitude, longitude = float(row["latitude"]), float(row["longitude"])
        sensors: list[dict[str, Any]] = []
        for sensor in row["sensors"]:
            _require_keys(sensor, SENSOR_KEYS, f"a sensor of location {location_id}")
            sensor_id = _catalog_id(sensor["id"], "sensor")
            if sensor_id in self.sensors or any(s["id"] == sensor_id for s in sensors):
                raise ValueError(f"sensor {sensor_id} is in the catalog twice")
            name, units = sensor["parameter"], sensor["units"]
            if (name, units) not in PARAMETERS:
                raise ValueError(f"sensor {sensor_id}: OpenAQ has no parameter {name!r} in {units!r}")
            parameter_id, display_name = PARAMETERS[name, units]
            parameter = {"id": parameter_id, "name": name, "units": units, "displayName": display_name}
            sensors.append({"id": sensor_id, "name": f"{name} {units}", "parameter": parameter})
        country, provider = str(row["country"]), str(row["provider"])
        country_id, provider_id = self.country_ids[country], self.provider_ids[provider]
        body = {
            "id": location_id,
            "name": row["name"],
            "locality": row["locality"],
            "timezone": row["timezone"],
            "country": {"id": country_id, "code": country, "name": COUNTRY_NAMES.get(country, country)},
            "owner": {"id": provider_id, "name": provider},
            "provider": {"id": provider_id, "name": provider},
            "isMobile": bool(row["is_mobile"]),
            "isMonitor": bool(row["is_monitor"]),
            "instruments": [MONITOR_INSTRUMENT if row["is_monitor"] else SENSOR_INSTRUMENT],
            "sensors": sensors,
            "coordinates": {"latitude": latitude, "longitude": longitude},
            "licenses": [],
            "bounds": [longitude, latitude, longitude, latitude],
            "distance": None,  # only set when searching around coordinates, which is not served here
            "datetimeFirst": None,  # the catalog does not know the first measurement
        }
        location = _Location(
            id=location_id,
            body=body,
            zone=zone,
            country_code=country,
            country_id=country_id,
            provider_id=provider_id,
            parameter_ids=frozenset(s["parameter"]["id"] for s in sensors),
            latitude=latitude,
            longitude=longitude,
            is_monitor=bool(row["is_monitor"]),
            is_mobile=bool(row["is_mobile"]),
        )
        self.locations[location_id] = location
        for sensor in sensors:
            self.sensors[sensor["id"]] = (location, sensor["parameter"]["id"])

    def read_latest(self, rows: Iterable[Mapping[str, Any]]) -> dict[int, _Latest]:
        latest: dict[int, _Latest] = {}
        for row in rows:
            _require_keys(row, LATEST_KEYS, f"latest value {row!r}")
            sensor_id = row["sensor_id"]
            if sensor_id not in self.sensors:
                raise ValueError(f"latest value for sensor {sensor_id!r}, which is not in the catalog")
            if sensor_id in latest:
                raise ValueError(f"two latest values for sensor {sensor_id}")
            utc = datetime.datetime.fromisoformat(str(row["datetime"]))
            if utc.tzinfo is None:
                raise ValueError(f"latest value for sensor {sensor_id}: datetime {row['datetime']!r} has no UTC offset")
            location, parameter_id = self.sensors[sensor_id]
            latest[sensor_id] = _Latest(
                sensor_id=sensor_id,
                parameter_id=parameter_id,
                location=location,
                utc=utc.astimezone(datetime.UTC),
                value=float(row["value"]),
                latitude=float(row.get("latitude", location.latitude)),
                longitude=float(row.get("longitude", location.longitude)),
            )
        return latest


def _require_keys(row: Mapping[str, Any], keys: frozenset[str], what: str) -> None:
    missing = sorted(keys - row.keys())
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")


def _catalog_id(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise ValueError(f"{what} id {value!r} is not an integer from 1 to {MAX_ID}")
    return value


@dataclass
class _Window:
    limit: int
    seconds: float
    count: int = 0
    ends: float = 0.0

    def headers(self, now: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.limit - self.count),
            "x-ratelimit-used": str(self.count),
            "x-ratelimit-reset": str(math.ceil(self.ends - now)),
        }


class RateLimiter:
    """Fixed windows per API key, as OpenAQ counts: a window opens with a key's first request
    and lasts its length; a request over the limit of any window is refused and not counted."""

    def __init__(self, limits: Sequence[tuple[int, float]], clock: Callable[[], float] = time.monotonic) -> None:
        """``limits``: (requests, window seconds) pairs, e.g. [(60, 60.0), (2000, 3600.0)]."""
        self._limits = list(limits)
        self._clock = clock
        self._windows: dict[str, list[_Window]] = {}

    def take(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request of ``key`` if every window has room; returns (allowed, headers)."""
        now = self._clock()
        windows = self._windows.setdefault(key, [_Window(limit, seconds) for limit, seconds in self._limits])
        for window in windows:
            if window.ends <= now:  # over: the next window opens with this request
                window.count, window.ends = 0, now + window.seconds
        full = [window for window in windows if window.count >= window.limit]
        if full:
            # The key may ask again once every full window is over.
            headers = max(full, key=lambda window: window.ends).headers(now)
            return False, {**headers, "Retry-After": headers["x-ratelimit-reset"]}
        for window in windows:
            window.count += 1
        # The headers tell the window with the least room (the first, the minute, on a tie).
        return True, min(windows, key=lambda window: window.limit - window.count).headers(now)


class _Invalid(Exception):
    """A 422, in FastAPI's shape as OpenAQ sends it."""

    def __init__(self, where: str, name: str, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.detail = {"type": "value_error", "loc": [where, name], "msg": message, "input": value}


class _Query:
    """The query string of one request, read the way OpenAQ validates it."""

    def __init__(self, params: dict[str, list[str]]) -> None:
        self._params = params

    def __contains__(self, name: str) -> bool:
        return name in self._params

    def text(self, name: str) -> str | None:
        values = self._params.get(name)
        return values[-1] if values else None

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _Invalid("query", name, "Input should be a valid integer", raw) from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise _Invalid("query", name, f"Input should be {bounds}", raw)
        return value

    def integers(self, name: str) -> set[int] | None:
        """A comma-separated list, or the parameter repeated."""
        if name not in self._params:
            return None
        raw = ",".join(self._params[name])
        try:
            return {int(part) for part in raw.split(",")}
        except ValueError:
            raise _Invalid("query", name, "Input should be a comma-separated list of integers", raw) from None

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise _Invalid("query", name, "Input should be a valid boolean", raw)

    def bbox(self) -> tuple[float, float, float, float] | None:
        raw = self.text("bbox")
        if raw is None:
            return None
        try:
            min_x, min_y, max_x, max_y = (float(part) for part in raw.split(","))
        except ValueError:
            raise _Invalid("query", "bbox", "Input should be min X, min Y, max X, max Y", raw) from None
        inside = -180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90
        if not inside:
            raise _Invalid("query", "bbox", "Invalid bounding box: out of range or min above max", raw)
        return min_x, min_y, max_x, max_y

    def paging(self) -> tuple[int, int]:
        return self.integer("page", 1, 1), self.integer("limit", 100, 1, MAX_LIMIT)

    def datetime_min(self) -> Callable[[_Latest], bool] | None:
        """A test for ``datetime_min``: strictly after it. A date, or a datetime without an
        offset, is read in each location's own time zone, as OpenAQ does."""
        raw = self.text("datetime_min")
        if raw is None:
            return None
        try:
            moment = datetime.datetime.fromisoformat(raw)
        except ValueError:
            raise _Invalid("query", "datetime_min", "Input should be a date or a datetime", raw) from None
        if moment.tzinfo is not None:
            return lambda entry: entry.utc > moment
        return lambda entry: entry.utc > moment.replace(tzinfo=entry.location.zone)


def _datetime_json(utc: datetime.datetime, zone: ZoneInfo) -> dict[str, str]:
    return {"utc": utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "local": utc.astimezone(zone).isoformat(timespec="seconds")}


def _page(matches: list[T], page: int, limit: int, to_json: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    shown = matches[(page - 1) * limit : page * limit]
    # OpenAQ counts the matches alongside the rows of the page, so a page past the end says 0.
    found = len(matches) if shown else 0
    return {
        "meta": {"name": "openaq-api", "website": "/", "page": page, "limit": limit, "found": found},
        "results": [to_json(match) for match in shown],
    }


def _latest_json(entry: _Latest) -> dict[str, Any]:
    return {
        "datetime": _datetime_json(entry.utc, entry.location.zone),
        "value": entry.value,
        "coordinates": {"latitude": entry.latitude, "longitude": entry.longitude},
        "sensorsId": entry.sensor_id,
        "locationsId": entry.location.id,
    }


class _Route(NamedTuple):
    pattern: re.Pattern[str]
    endpoint: Callable[[int | None, _Query], Any]  # (the id in the path, the query) -> JSON body
    accepted: frozenset[str]  # the query parameters served
    id_name: str  # the name of the id in the path, if any


# fmt: off
LOCATIONS_PARAMS = frozenset({"page", "limit", "parameters_id", "bbox", "iso", "countries_id", "providers_id",
                              "monitor", "mobile", "order_by", "sort_order"})
# fmt: on
LATEST_PARAMS = frozenset({"page", "limit", "datetime_min"})


class OpenAQApiServer:
    """The API on a loopback port (a free one by default), answering from the catalog and latest
    values it holds.

    ``start()`` (or ``with``) serves and returns the base URL; ``stop()`` ends it. The catalog
    and latest values may be replaced at any time, requests see the new ones. ``minute_seconds``
    and ``hour_seconds`` shorten the rate windows for tests; ``port`` fixes the port (the demo's
    live feed).
    """

    def __init__(
        self,
        locations: Iterable[Mapping[str, Any]] = (),
        latest: Iterable[Mapping[str, Any]] | None = None,
        *,
        keys: Iterable[str] = (TEST_API_KEY,),
        per_minute: int = 60,
        per_hour: int = 2000,
        minute_seconds: float = 60.0,
        hour_seconds: float = 3600.0,
        port: int = 0,
    ) -> None:
        self._port = port  # 0: a free one, chosen when serving
        self._lock = threading.Lock()
        self._keys = frozenset(keys)
        self._limiter = RateLimiter([(per_minute, minute_seconds), (per_hour, hour_seconds)])
        self._requests: list[RecordedRequest] = []
        self._catalog = _Catalog(())
        self._latest: dict[int, _Latest] = {}
        self._last_reading: dict[int, datetime.datetime] = {}  # location id -> its newest latest value
        self.set_locations(locations)
        if latest is not None:
            self.set_latest(latest)
        self._routes = [
            _Route(re.compile(r"/v3/locations"), self._list_locations, LOCATIONS_PARAMS, ""),
            _Route(re.compile(r"/v3/locations/(\d+)"), self._one_location, frozenset(), "locations_id"),
            _Route(re.compile(r"/v3/locations/(\d+)/latest"), self._location_latest, LATEST_PARAMS, "locations_id"),
            _Route(re.compile(r"/v3/parameters/(\d+)/latest"), self._parameter_latest, LATEST_PARAMS, "parameters_id"),
        ]
        self._stack = contextlib.ExitStack()
        self.base_url = ""  # https://127.0.0.1:PORT/v3/ once started; the SDK needs the final slash
        self.certificate: Path | None = None  # its own, self-signed: a client may trust just this
        self.ca_file: Path | None = None  # the bundle SSL_CERT_FILE names while serving

    # The data served

    def set_locations(self, locations: Iterable[Mapping[str, Any]]) -> None:
        """Replace the catalog. Its latest values go with it: ``set_latest`` gives new ones."""
        catalog = _Catalog(locations)
        with self._lock:
            self._catalog, self._latest, self._last_reading = catalog, {}, {}

    def set_latest(self, latest: Iterable[Mapping[str, Any]]) -> None:
        """Replace the latest values, one per sensor of the catalog."""
        with self._lock:
            self._latest = self._catalog.read_latest(latest)
            self._last_reading = {}
            for entry in self._latest.values():
                known = self._last_reading.get(entry.location.id)
                self._last_reading[entry.location.id] = max(entry.utc, known) if known else entry.utc

    def country_id(self, code: str) -> int:
        return self._catalog.country_ids[code]

    def provider_id(self, name: str) -> int:
        return self._catalog.provider_ids[name]

    # What was asked

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def request_counts(self) -> collections.Counter[str]:
        """Requests per path (``/v3/locations/7``), refused ones included."""
        return collections.Counter(request.path for request in self.requests())

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # Serving

    def start(self) -> str:
        try:
            folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="openaq-api-")))
            certificate, key = write_self_signed_certificate(folder)
            self.certificate = certificate
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate, key)
            self.ca_file = self._stack.enter_context(trusting(certificate))
            server = _TLSServer(("127.0.0.1", self._port), context, self)
            # A short poll: stopping waits for it, and tests start and stop many servers.
            thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="openaq-api", daemon=True)
            thread.start()
            self._stack.callback(_stop_serving, server, thread)
        except BaseException:
            self._stack.close()
            raise
        self.base_url = f"https://127.0.0.1:{server.server_address[1]}/v3/"
        return self.base_url

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> OpenAQApiServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, target: str, api_key: str | None) -> tuple[int, dict[str, str], Any]:
        """Answer a GET of ``target`` (path and query): (status, headers, JSON body)."""
        url = urllib.parse.urlsplit(target)
        params = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        status, headers, body = self._answer(url.path, params, api_key)
        with self._lock:
            self._requests.append(RecordedRequest(url.path, params, status))
        return status, headers, body

    def _answer(self, path: str, params: dict[str, list[str]], api_key: str | None) -> tuple[int, dict[str, str], Any]:
        for route in self._routes:
            if match := route.pattern.fullmatch(path):
                break
        else:
            return 404, {}, {"detail": "Not Found"}
        if api_key not in self._keys:
            return 401, {}, {"detail": "Invalid credentials"}
        with self._lock:
            allowed, headers = self._limiter.take(api_key)
        if not allowed:
            return 429, headers, {"detail": "Too many requests"}
        try:
            unknown = sorted(params.keys() - route.accepted)
            if unknown:
                raise _Invalid("query", unknown[0], "Not served by this stand-in of the OpenAQ API", params[unknown[0]])
            path_id = None
            if route.id_name:
                path_id = int(match.group(1))
                if not 1 <= path_id <= MAX_ID:
                    raise _Invalid("path", route.id_name, f"Input should be from 1 to {MAX_ID}", match.group(1))
            with self._lock:
                body = route.endpoint(path_id, _Query(params))
        except _Invalid as error:
            return 422, headers, {"detail": [error.detail]}
        return 200, headers, body

    # The endpoints: called with the lock held

    def _list_locations(self, _: int | None, query: _Query) -> dict[str, Any]:
        page, limit = query.paging()
        if "iso" in query and "countries_id" in query:
            raise _Invalid("query", "iso", "Cannot pass both countries_id and iso code", query.text("iso"))
        tests: list[Callable[[_Location], bool]] = []
        if (parameter_ids := query.integers("parameters_id")) is not None:
            tests.append(lambda location: not location.parameter_ids.isdisjoint(parameter_ids))
        if (box := query.bbox()) is not None:
            min_x, min_y, max_x, max_y = box
            tests.append(lambda location: min_x <= location.longitude <= max_x and min_y <= location.latitude <= max_y)
        if (iso := query.text("iso")) is not None:
            tests.append(lambda location: location.country_code == iso)
        if (country_ids := query.integers("countries_id")) is not None:
            tests.append(lambda location: location.country_id in country_ids)
        if (provider_ids := query.integers("providers_id")) is not None:
            tests.append(lambda location: location.provider_id in provider_ids)
        if (monitor := query.boolean("monitor")) is not None:
            tests.append(lambda location: location.is_monitor == monitor)
        if (mobile := query.boolean("mobile")) is not None:
            tests.append(lambda location: location.is_mobile == mobile)
        if query.text("order_by") not in (None, "id"):
            raise _Invalid("query", "order_by", "Input should be 'id'", query.text("order_by"))
        sort_order = (query.text("sort_order") or "asc").lower()
        if sort_order not in ("asc", "desc"):
            raise _Invalid("query", "sort_order", "Input should be 'asc' or 'desc'", query.text("sort_order"))
        ids = sorted(self._catalog.locations, reverse=sort_order == "desc")
        chosen = [self._catalog.locations[i] for i in ids]
        chosen = [location for location in chosen if all(test(location) for test in tests)]
        return _page(chosen, page, limit, self._location_json)

    def _one_location(self, location_id: int | None, _: _Query) -> dict[str, Any]:
        location = self._catalog.locations.get(cast(int, location_id))
        # OpenAQ answers an unknown id with no results, not a 404.
        return _page([location] if location else [], 1, 100, self._location_json)

    def _location_latest(self, location_id: int | None, query: _Query) -> dict[str, Any]:
        return self._latest_page(lambda entry: entry.location.id == location_id, query)

    def _parameter_latest(self, parameter_id: int | None, query: _Query) -> dict[str, Any]:
        return self._latest_page(lambda entry: entry.parameter_id == parameter_id, query)

    def _latest_page(self, chosen: Callable[[_Latest], bool], query: _Query) -> dict[str, Any]:
        page, limit = query.paging()
        after = query.datetime_min() or (lambda entry: True)
        entries = [self._latest[sensor_id] for sensor_id in sorted(self._latest)]
        return _page([entry for entry in entries if chosen(entry) and after(entry)], page, limit, _latest_json)

    def _location_json(self, location: _Location) -> dict[str, Any]:
        last = self._last_reading.get(location.id)
        return {**location.body, "datetimeLast": _datetime_json(last, location.zone) if last else None}


class _Handler(http.server.BaseHTTPRequestHandler):
    # One request per connection: no idle keep-alive threads are left when the server stops,
    # and the SDK opens a new connection by itself.
    protocol_version = "HTTP/1.0"
    timeout = 30  # a client that connects and says nothing does not hold a thread for ever

    def do_GET(self) -> None:
        api = cast(_TLSServer, self.server).api
        status, headers, body = api.handle(self.path, self.headers.get("X-API-Key"))
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the server's own request log


class _TLSServer(http.server.ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, api: OpenAQApiServer) -> None:
        super().__init__(address, _Handler)
        self.context = context
        self.api = api

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the connection's own thread, so a slow client never holds up
        # the accept loop.
        request.settimeout(_Handler.timeout)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust the certificate hangs up
        with connection:
            _Handler(connection, client_address, self)


def _stop_serving(server: _TLSServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


@contextlib.contextmanager
def openaq_api_server(
    locations: Iterable[Mapping[str, Any]],
    latest: Iterable[Mapping[str, Any]] | None = None,
    keys: Iterable[str] = (TEST_API_KEY,),
    per_minute: int = 60,
    per_hour: int = 2000,
) -> Iterator[str]:
    """The API on a loopback port; yields its base URL for ``OpenAQ(base_url=...)``. While open,
    ``SSL_CERT_FILE`` names a bundle that trusts its certificate. ``OpenAQApiServer`` gives the
    request log and replaces the data while serving."""
    with OpenAQApiServer(locations, latest, keys=keys, per_minute=per_minute, per_hour=per_hour) as server:
        yield server.base_url
