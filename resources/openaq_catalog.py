"""The locations the product follows: from OpenAQ's v3 API (with a key), or a user's ids or file.

The API key is read from ``OPENAQ_API_KEY`` (``EnvVar``), so Dagster's UI shows only the
variable's name; it is left out of the resource's repr and masked in every error raised here
(the session with the API, its 429 retries and masking: ``resources.openaq_api``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from openaq import OpenAQ
from pydantic import Field

from resources.openaq_api import MAX_PAGE_SIZE, ApiSession, OpenAQApiError, OpenAQApiSettings
from sources.openaq_v3.catalog import PARAMETER_IDS, catalog_from_file, catalog_from_ids, catalog_from_sdk

_ISO_CODE = re.compile(r"[A-Z]{2}")
Source = Literal["location_ids", "locations_file", "api", "keyless"]


class CatalogConfigError(ValueError):
    """The resource's configuration cannot select locations (names the setting)."""


class KeylessCatalog(RuntimeError):
    """Neither an API key nor ids nor a CSV: the locations must be discovered without the API."""


class CatalogFetchError(OpenAQApiError):
    """The API did not give the catalog (after the rate-limit retries); the key is masked."""


class OpenAQCatalog(OpenAQApiSettings):
    """Which OpenAQ v3 locations to follow, and fetching them.

    ``location_ids`` or ``locations_file`` name the locations directly (no request is made);
    otherwise, with an API key, ``GET /v3/locations`` filtered here in one place, paged
    (``page_size`` per request, until ``meta.found``), one listing per country when countries
    are given (the API takes one ISO code per request). The SDK keeps to the rate limit from the
    response headers (``auto_wait``); a 429 (the budget spent by another client of the key)
    waits its ``Retry-After`` and retries, at most ``max_retries`` times.
    """

    parameters: list[str] = Field(
        default=["o3", "no2"], description=f"pollutants measured at a location, any of {sorted(PARAMETER_IDS)}"
    )
    countries: list[str] = Field(default=[], description="ISO 3166 alpha-2 codes; empty: every country")
    bbox: list[float] | None = Field(default=None, description="min lon, min lat, max lon, max lat (WGS 84)")
    providers: list[int] = Field(default=[], description="OpenAQ provider ids; empty: every provider")
    monitor_only: bool = Field(default=True, description="only reference monitors, not low-cost sensors")
    location_ids: list[int] = Field(default=[], description="follow these location ids instead of a listing")
    locations_file: str | None = Field(
        default=None,
        description="a file of locations to follow instead of a listing: a CSV (column location_id) or a JSON "
        "list of v3 location records (as the sample generator's locations.json)",
    )
    page_size: int = Field(default=MAX_PAGE_SIZE, description=f"locations per request, 1 to {MAX_PAGE_SIZE}")

    def source(self) -> Source:
        """Where the catalog comes from: ids, a CSV, the API, or (none of them) keyless discovery."""
        self._check()
        if self.location_ids:
            return "location_ids"
        if self.locations_file:
            return "locations_file"
        return "api" if self.api_key else "keyless"

    def queries(self) -> list[dict[str, Any]]:
        """The SDK's ``locations.list`` filters, one dict per listing (per country, if any)."""
        self._check()
        base: dict[str, Any] = {"parameters_id": [i for p in self.parameters for i in PARAMETER_IDS[p]]}
        if self.bbox is not None:
            base["bbox"] = tuple(self.bbox)
        if self.providers:
            base["providers_id"] = list(self.providers)
        if self.monitor_only:
            base["monitor"] = True
        return [{**base, "iso": code} for code in self.countries] if self.countries else [base]

    def describe(self) -> dict[str, Any]:
        """The settings for metadata: the filters, and only whether the key is set."""
        return {
            "source": self.source(),
            **self.shown_settings(),
            "parameters": list(self.parameters),
            "countries": list(self.countries),
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "providers": list(self.providers),
            "monitor_only": self.monitor_only,
            "location_ids": len(self.location_ids),
            "locations_file": self.locations_file,
        }

    def fetch_catalog(self) -> pa.Table:
        """The followed locations (``sources.openaq_v3.catalog.CATALOG_SCHEMA``), sorted by id.
        Raises ``KeylessCatalog`` without a key, ids or CSV, ``CatalogFetchError`` when the API
        fails."""
        source = self.source()
        if source == "location_ids":
            return catalog_from_ids(self.location_ids)
        if source == "locations_file":
            return catalog_from_file(Path(str(self.locations_file)))
        if source == "keyless":
            raise KeylessCatalog(
                "no OPENAQ_API_KEY, location_ids or locations_file: the locations must be discovered keyless"
            )
        found: dict[int, Any] = {}
        with self._session() as session:
            for query in self.queries():
                for location in self._pages(session, query):
                    # A location that moves between pages while they are read is listed twice.
                    found.setdefault(location.id, location)
        return catalog_from_sdk(found.values())

    def _session(self) -> ApiSession:
        return self.session("locations", CatalogFetchError)

    def _pages(self, session: ApiSession, query: dict[str, Any]) -> Iterator[Any]:
        page, seen = 1, 0
        while True:
            response = session.request(functools.partial(_list_locations, page=page, limit=self.page_size, query=query))
            yield from response.results
            seen += len(response.results)
            found = response.meta.found
            # found is the count of all matches; a short page also ends the listing, should the
            # API give found as text (">1000"), as OpenAQ has for large counts.
            if len(response.results) < self.page_size or (isinstance(found, int) and seen >= found):
                return
            page += 1

    def _check(self) -> None:
        unknown = sorted(set(self.parameters) - PARAMETER_IDS.keys())
        if unknown or not self.parameters:
            raise CatalogConfigError(f"parameters {unknown or '[]'}: choose from {sorted(PARAMETER_IDS)}")
        bad_codes = [code for code in self.countries if not _ISO_CODE.fullmatch(code)]
        if bad_codes:
            raise CatalogConfigError(f"countries {bad_codes}: ISO 3166 alpha-2 codes in capitals, e.g. DE")
        if self.bbox is not None:
            if len(self.bbox) != 4:
                raise CatalogConfigError("bbox: four numbers, min lon, min lat, max lon, max lat")
            min_lon, min_lat, max_lon, max_lat = self.bbox
            if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
                raise CatalogConfigError(f"bbox {self.bbox}: out of range, or a minimum above its maximum")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise CatalogConfigError(f"page_size {self.page_size}: from 1 to {MAX_PAGE_SIZE}")
        if self.location_ids and self.locations_file:
            raise CatalogConfigError("location_ids and locations_file: give one of them")


def _list_locations(client: OpenAQ, *, page: int, limit: int, query: dict[str, Any]) -> Any:
    return client.locations.list(page=page, limit=limit, **query)
