"""OpenAQ v3's latest values (``GET /v3/parameters/{id}/latest``) as rows of the raw schema.

A poll asks, for each followed parameter id, the newest value of every sensor measuring it, in
pages. A result says when (``datetime``: ``utc`` and ``local``, the end of the averaging period),
what (``value``), where (``coordinates``) and whose (``sensorsId``, ``locationsId``), but not the
parameter or its unit: those are the parameter id's, which names one pollutant in one unit
(``PARAMETER_UNITS``, OpenAQ's ``GET /v3/parameters``). Only the followed locations' values are
kept (the catalog); provider, locality, country and whether the location is mobile come from
the catalog as for the archive (``with_catalog_fields``), and so does the station name.

Origin columns, so that harmonization's rule "the latest publication wins" lets the archive
replace a preliminary value when its file arrives (written days after the poll):

- ``source_key``: the request and the poll, ``api/v3/parameters/{id}/latest?page={n}@{poll UTC}``
  (the API keeps no object; this names what was read, once per poll: to the microsecond, so two
  polls never share a key);
- ``source_etag``: a fingerprint of the page's content;
- ``published_at``: the poll's time (to the second, as the raw schema keeps it);
  ``line_number``: the result's position in the page, from 1.

The averaging period: neither the result nor the catalog says it, yet it is part of a TOAR
series (station, variable, provider, sampling frequency), and a preliminary value is replaced
by the archive's only in the same series. The archive takes a sensor's period as the spacing of
its times within a file; here it is the shortest spacing of the sensor's distinct times seen in
the day's polls (a poll every 15 minutes sees every value of an hourly or 10-minute sensor), at
most 60 minutes; a sensor seen at one time only is taken as hourly (``ASSUMED_PERIOD_MINUTES``):
reference monitors, the ones followed by default, publish hourly means. So the first value of
the day of a sensor with a shorter period lands in an hourly series the archive does not
replace; its next values land in the right one.

A poll adds only values new to the day's stored rows (a sensor, time and value not stored yet):
``/latest`` repeats a sensor's value until the next one arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from domain.fingerprint import combined_fingerprint
from domain.raw_schema import RAW_SCHEMA
from domain.times import parse_utc_times
from domain.vocabulary import UNIT_UG_M3
from sources.openaq_v3.catalog import PARAMETER_IDS, with_catalog_fields

# OpenAQ v3's parameter ids of the followed pollutants (``catalog.PARAMETER_IDS``): id ->
# (parameter, unit), as ``GET /v3/parameters`` lists them (the local API server's table too).
PARAMETER_UNITS: dict[int, tuple[str, str]] = {
    10: ("o3", "ppm"),
    3: ("o3", UNIT_UG_M3),
    32: ("o3", "ppb"),
    7: ("no2", "ppm"),
    5: ("no2", UNIT_UG_M3),
    15: ("no2", "ppb"),
}
ASSUMED_PERIOD_MINUTES = 60.0  # a sensor seen at one time only: hourly, as reference monitors publish
LONGEST_SEEN_PERIOD_MINUTES = 60.0  # a longer spacing between polls' values is taken as missed hours


@dataclass(frozen=True)
class LatestValue:
    """One result of ``/latest``, as the SDK's ``Latest`` gives it."""

    date_utc: str
    date_local: str
    value: float
    latitude: float | None
    longitude: float | None
    location_id: int
    sensor_id: int


@dataclass(frozen=True)
class LatestPage:
    """One page of ``/v3/parameters/{parameter_id}/latest``."""

    parameter_id: int
    page: int
    results: Sequence[LatestValue]


@dataclass(frozen=True)
class PollReport:
    """What a poll read and kept."""

    pages: int
    values: int  # results read, every location's
    followed: int  # results of followed locations
    new: int  # followed values not already stored for the day
    objects: list[dict]  # the pages with new values: key, etag, rows (as source_objects)


def source_key(parameter_id: int, page: int, polled_at: datetime) -> str:
    """The pseudo object key of one page of one poll."""
    return f"api/v3/parameters/{parameter_id}/latest?page={page}@{polled_at:%Y-%m-%dT%H:%M:%S.%fZ}"


def is_poll_key(key: str) -> bool:
    """Whether a source key names a page of an API poll (``source_key``), not a bucket object."""
    return key.startswith("api/v3/parameters/") and "/latest?page=" in key and "@" in key


def poll_of(key: str) -> str:
    """The poll a source key names (its time)."""
    return key.rpartition("@")[2]


def poll_rows(
    pages: Iterable[LatestPage], catalog: pa.Table, polled_at: datetime, stored: pa.Table | None
) -> tuple[pa.Table, PollReport]:
    """The day's rows after a poll (RAW_SCHEMA): ``stored`` (the day's rows of earlier polls,
    kept as they are) then the poll's followed values not stored yet."""
    stored = RAW_SCHEMA.empty_table() if stored is None else stored.cast(RAW_SCHEMA)
    names = dict(zip(catalog.column("location_id").to_pylist(), catalog.column("name").to_pylist(), strict=True))
    known = set(_identities(stored))
    rows: list[dict] = []
    objects, read, followed, page_count = [], 0, 0, 0
    for page in pages:
        page_count += 1
        read += len(page.results)
        parameter, unit = PARAMETER_UNITS[page.parameter_id]
        key = source_key(page.parameter_id, page.page, polled_at)
        etag = _page_fingerprint(page)
        new_rows = 0
        for line, result in enumerate(page.results, start=1):
            if result.location_id not in names:
                continue
            followed += 1
            identity = (result.sensor_id, result.date_utc, result.value)
            if identity in known:
                continue
            known.add(identity)
            new_rows += 1
            rows.append(
                {
                    "source_key": key,
                    "source_etag": etag,
                    "published_at": polled_at.replace(microsecond=0),
                    "line_number": line,
                    "date_utc": result.date_utc,
                    "date_local": result.date_local,
                    "parameter": parameter,
                    "value": result.value,
                    "unit": unit,
                    "location": names[result.location_id],
                    "latitude": result.latitude,
                    "longitude": result.longitude,
                    "mobile": False,
                    "location_id": result.location_id,
                    "sensor_id": result.sensor_id,
                }
            )
        if new_rows:
            objects.append({"key": key, "etag": etag, "rows": new_rows})
    new = pa.Table.from_pylist(rows, schema=RAW_SCHEMA)
    new = with_catalog_fields(_with_periods(new, stored), catalog)
    report = PollReport(pages=page_count, values=read, followed=followed, new=new.num_rows, objects=objects)
    return pa.concat_tables([stored, new]), report


def followed_parameter_ids(parameters: Iterable[str]) -> list[int]:
    """The parameter ids polled for the followed pollutants (o3, no2): one per unit."""
    return [parameter_id for name in parameters for parameter_id in PARAMETER_IDS[name]]


def _identities(table: pa.Table) -> Iterable[tuple]:
    return zip(
        table.column("sensor_id").to_pylist(),
        table.column("date_utc").to_pylist(),
        table.column("value").to_pylist(),
        strict=True,
    )


def _page_fingerprint(page: LatestPage) -> str:
    return combined_fingerprint(
        str(page.parameter_id),
        *(
            f"{r.sensor_id}\t{r.location_id}\t{r.date_utc}\t{r.date_local}\t{r.value!r}\t{r.latitude!r}\t{r.longitude!r}"
            for r in page.results
        ),
    )


def _with_periods(new: pa.Table, stored: pa.Table) -> pa.Table:
    """``new`` with each sensor's averaging period (minutes): the shortest spacing of its distinct
    times in ``stored`` and ``new``, at most an hour; a sensor seen at one time: an hour."""
    if new.num_rows == 0:
        return new
    sensors = np.concatenate([_int_ids(stored), _int_ids(new)])
    times = np.concatenate([parse_utc_times(stored.column("date_utc")), parse_utc_times(new.column("date_utc"))])
    shortest: dict[int, float] = {}
    for sensor in np.unique(_int_ids(new)):
        seen = np.unique(times[(sensors == sensor) & ~np.isnat(times)])
        steps = np.diff(seen) / np.timedelta64(1, "m")
        shortest[int(sensor)] = float(min(steps.min(), LONGEST_SEEN_PERIOD_MINUTES)) if len(steps) else np.nan
    minutes = [shortest[sensor] for sensor in new.column("sensor_id").to_pylist()]
    periods = pc.fill_null(pa.array(minutes, pa.float64(), from_pandas=True), ASSUMED_PERIOD_MINUTES)
    new = new.set_column(new.schema.get_field_index("averaging_period_value"), "averaging_period_value", periods)
    unit = pa.array(["minutes"] * new.num_rows, pa.string())
    return new.set_column(new.schema.get_field_index("averaging_period_unit"), "averaging_period_unit", unit)


def _int_ids(table: pa.Table) -> np.ndarray:
    return table.column("sensor_id").to_numpy(zero_copy_only=False).astype(np.int64)
