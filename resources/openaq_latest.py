"""The latest values of the followed parameters from OpenAQ's v3 API, through the official SDK.

Requests: one listing per followed parameter id (o3 and no2, one id per unit: 6 by default),
``GET /v3/parameters/{id}/latest`` in pages of ``page_size`` (1,000, OpenAQ's largest) with
``datetime_min`` (the last ``lookback_hours``), filtered here to the followed locations. That
is one request per id and page: 6 to about 20 a poll, at most about 80 an hour at 4 polls an
hour, well within OpenAQ's 60 a minute and 2,000 an hour. Asking each location instead
(``/v3/locations/{id}/latest``) costs one request per followed location a poll: 1,000
locations at 4 polls an hour are 4,000 an hour, twice the hourly limit.

The key is read from ``OPENAQ_API_KEY`` (``EnvVar``), left out of the repr and masked in every
error (``resources.openaq_api``, shared with the locations catalog: the session, its 429 retries).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openaq import OpenAQ
from openaq.core.models import build_query_params
from openaq.core.responses import LatestResponse
from pydantic import Field

from resources.openaq_api import MAX_PAGE_SIZE, ApiSession, OpenAQApiError, OpenAQApiSettings, RequestCounts
from sources.openaq_v3.catalog import PARAMETER_IDS
from sources.openaq_v3.latest import LatestPage, LatestValue, followed_parameter_ids

NO_KEY = "no OPENAQ_API_KEY: the v3 API's latest values need an OpenAQ API key (set OPENAQ_API_KEY)"


class LatestFetchError(OpenAQApiError):
    """The API did not give the latest values (no key, or an error after the 429 retries); the key is masked."""


@dataclass(frozen=True)
class Poll:
    """What one poll read: its pages, in request order, and what the requests cost."""

    polled_at: datetime
    since: datetime
    parameter_ids: list[int]
    pages: list[LatestPage]
    counts: RequestCounts


class OpenAQLatest(OpenAQApiSettings):
    """Polls the latest values of the followed parameters (``poll``)."""

    parameters: list[str] = Field(
        default=["o3", "no2"], description=f"pollutants polled, any of {sorted(PARAMETER_IDS)}; every unit's id"
    )
    page_size: int = Field(default=MAX_PAGE_SIZE, description=f"values per request, 1 to {MAX_PAGE_SIZE}")
    lookback_hours: float = Field(
        default=3.0,
        description="values newer than this many hours before the poll (datetime_min): monitors publish an "
        "hour's mean up to about two hours late, and a sensor that stopped keeps its last value for ever",
    )

    def describe(self) -> dict[str, Any]:
        """The settings for metadata: only whether the key is set."""
        return {
            **self.shown_settings(),
            "parameters": list(self.parameters),
            "parameter_ids": followed_parameter_ids(self.parameters),
            "page_size": self.page_size,
            "lookback_hours": self.lookback_hours,
        }

    def poll(self, now: datetime) -> Poll:
        """Every page of every followed parameter id's latest values since ``now - lookback_hours``."""
        if not self.api_key:
            raise LatestFetchError(NO_KEY)
        unknown = sorted(set(self.parameters) - PARAMETER_IDS.keys())
        if unknown or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise LatestFetchError(
                f"parameters {unknown} (choose from {sorted(PARAMETER_IDS)}) or page_size {self.page_size} "
                f"(1 to {MAX_PAGE_SIZE})"
            )
        since = now - timedelta(hours=self.lookback_hours)
        parameter_ids = followed_parameter_ids(self.parameters)
        pages: list[LatestPage] = []
        session = self.session("latest values", LatestFetchError)
        with session:
            for parameter_id in parameter_ids:
                pages += self._pages(session, parameter_id, since)
        return Poll(now, since, parameter_ids, pages, session.counts)

    def _pages(self, session: ApiSession, parameter_id: int, since: datetime) -> list[LatestPage]:
        pages, page, seen = [], 1, 0
        while True:
            request = functools.partial(
                parameter_latest_page, parameters_id=parameter_id, page=page, limit=self.page_size, datetime_min=since
            )
            response = session.request(request)
            pages.append(LatestPage(parameter_id, page, [_value(result) for result in response.results]))
            seen += len(response.results)
            found = response.meta.found
            # A short page ends the listing too, should the API give found as text (">1000").
            if len(response.results) < self.page_size or (isinstance(found, int) and seen >= found):
                return pages
            page += 1


def parameter_latest_page(
    client: OpenAQ, *, parameters_id: int, page: int, limit: int, datetime_min: datetime
) -> LatestResponse:
    """One page of ``GET /v3/parameters/{id}/latest``, read by the SDK's own ``LatestResponse``.

    Why not ``client.parameters.latest(id)``: the SDK (1.2.0) sends that request with no query,
    so it gets the first 100 values only, of every sensor however long ago it last measured,
    while OpenAQ documents ``page``, ``limit`` and ``datetime_min`` for this path. The same
    request is made here through the same client, which adds the key header, keeps the rate
    budget and maps error statuses, with those documented parameters added. ``_get`` is the
    SDK's private request method (the one ``parameters.latest`` calls): the pinned version is
    what makes relying on it safe, and tests run it against the local server.
    """
    params = build_query_params(page=page, limit=limit, datetime_min=datetime_min)
    return LatestResponse.read_response(client._get(f"/parameters/{parameters_id}/latest", params=params))


def _value(result: Any) -> LatestValue:
    coordinates = result.coordinates
    return LatestValue(
        date_utc=result.datetime.utc,
        date_local=result.datetime.local,
        value=result.value,
        latitude=coordinates.latitude if coordinates is not None else None,
        longitude=coordinates.longitude if coordinates is not None else None,
        location_id=result.locations_id,
        sensor_id=result.sensors_id,
    )
