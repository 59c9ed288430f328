"""The catalog of followed OpenAQ v3 locations: one Arrow row per location.

Built from the SDK's location objects (``OpenAQ(...).locations.list(...).results``), from the
catalog file the sample generator writes (``locations.json``), from a CSV a user gives (column
``location_id``, the other columns optional), or from bare ids (a user's list, or the ids a
keyless listing of the archive finds): there only ``location_id`` is known and every other
column is null. ``sensors`` is null when unknown and an empty list when the location has none,
so comparing catalogs tells "sensors changed" only where both sides know them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

SENSOR_TYPE = pa.struct([("sensor_id", pa.int64()), ("parameter", pa.string()), ("units", pa.string())])
CATALOG_SCHEMA = pa.schema(
    [
        pa.field("location_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("locality", pa.string()),
        pa.field("timezone", pa.string()),
        pa.field("country", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("is_monitor", pa.bool_()),
        pa.field("is_mobile", pa.bool_()),
        pa.field("sensors", pa.list_(SENSOR_TYPE)),
    ]
)
COLUMNS = tuple(CATALOG_SCHEMA.names)
# What a user's CSV may hold: every column but sensors, which a CSV cannot say simply.
CSV_COLUMNS = frozenset(COLUMNS) - {"sensors"}
_TEXT = ("name", "locality", "timezone", "country", "provider")
_FLOAT = ("latitude", "longitude")
_BOOL = ("is_monitor", "is_mobile")
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
MAX_ID = 2**31 - 1  # OpenAQ's ids are int32
# OpenAQ v3's parameter ids (GET /v3/parameters): one id per pollutant and unit. ppb is kept
# with ppm and µg/m³ as harmonization converts all three, and some networks report in it.
PARAMETER_IDS: dict[str, tuple[int, ...]] = {"o3": (10, 3, 32), "no2": (7, 5, 15)}


class CatalogError(ValueError):
    """Input that cannot be a catalog: a bad id, a duplicate, a CSV without location_id."""


def catalog_from_rows(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The catalog from rows keyed by ``COLUMNS`` (missing keys are null), sorted by id.
    ``sensors``: dicts of sensor_id, parameter, units. A location id twice is an error."""
    checked: dict[int, dict[str, Any]] = {}
    for row in rows:
        location_id = _location_id(row.get("location_id"))
        if location_id in checked:
            raise CatalogError(f"location {location_id} is in the catalog twice")
        checked[location_id] = {**{column: row.get(column) for column in COLUMNS}, "location_id": location_id}
    return pa.Table.from_pylist([checked[i] for i in sorted(checked)], schema=CATALOG_SCHEMA)


def catalog_from_sdk(locations: Iterable[Any]) -> pa.Table:
    """The catalog from the SDK's ``Location`` objects (``locations.list(...).results``)."""
    return catalog_from_rows(
        {
            "location_id": location.id,
            "name": location.name,
            "locality": location.locality,
            "timezone": location.timezone,
            "country": location.country.code,
            "provider": location.provider.name,
            "latitude": location.coordinates.latitude,
            "longitude": location.coordinates.longitude,
            "is_monitor": location.is_monitor,
            "is_mobile": location.is_mobile,
            "sensors": [
                {"sensor_id": s.id, "parameter": s.parameter.name, "units": s.parameter.units} for s in location.sensors
            ],
        }
        for location in locations
    )


def catalog_from_records(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The catalog from entries of ``locations.json`` (the sample generator's and the local API
    server's format: ``id``, ..., ``sensors`` of ``{id, parameter, units}``)."""
    return catalog_from_rows(
        {
            **{column: record.get(column) for column in COLUMNS if column not in ("location_id", "sensors")},
            "location_id": record.get("id"),
            "sensors": [
                {"sensor_id": s["id"], "parameter": s["parameter"], "units": s["units"]} for s in record["sensors"]
            ]
            if record.get("sensors") is not None
            else None,
        }
        for record in records
    )


def catalog_from_ids(location_ids: Iterable[int]) -> pa.Table:
    """Rows with only the id known: a user's list, or the ids a keyless archive listing found.
    Repeated ids are kept once (a listing sees one id under many days)."""
    checked = [_location_id(location_id) for location_id in location_ids]  # first: True == 1 for a dict
    return catalog_from_rows({"location_id": location_id} for location_id in dict.fromkeys(checked))


def catalog_from_csv(text: str) -> pa.Table:
    """The catalog from the text of a user's CSV: a ``location_id`` column, optionally any other
    catalog column but sensors. An unknown column is an error, so a misspelled one is not
    silently dropped; empty cells are null."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    if "location_id" not in header:
        raise CatalogError(f"the locations CSV has no location_id column (columns: {', '.join(header) or 'none'})")
    unknown = sorted(set(header) - CSV_COLUMNS)
    if unknown:
        raise CatalogError(f"the locations CSV has unknown columns {', '.join(unknown)}; known: {sorted(CSV_COLUMNS)}")
    reader.fieldnames = header
    rows = []
    for line, raw in enumerate(reader, start=2):
        try:
            rows.append(_csv_row(raw))
        except (CatalogError, ValueError) as exc:
            raise CatalogError(f"the locations CSV, line {line}: {exc}") from None
    return catalog_from_rows(rows)


def catalog_from_file(path: Path) -> pa.Table:
    """The catalog from a user's file: a JSON list of v3 location records (``.json``, as the API
    lists them and the sample generator writes them) or else a CSV (``catalog_from_csv``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path.name} is not JSON: {exc}") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise CatalogError(f"{path.name} is not a JSON list of location records")
        return catalog_from_records(records)
    return catalog_from_csv(text)


# What a raw archive row takes from its location's catalog entry, raw column <- catalog column.
RAW_FIELDS_FROM_CATALOG = {"source_name": "provider", "city": "locality", "country": "country", "mobile": "is_mobile"}


def with_catalog_fields(raw: pa.Table, catalog: pa.Table) -> pa.Table:
    """Raw archive rows with their location's provider, locality, country and whether it is mobile
    (``RAW_FIELDS_FROM_CATALOG``) from the catalog, by ``location_id``: the archive files carry
    none of them. Where the catalog does not say (a location it lacks, or ids only), the row
    keeps what the parser gave: nulls, and not mobile."""
    at = pc.index_in(raw.column("location_id"), value_set=catalog.column("location_id"))
    for raw_column, catalog_column in RAW_FIELDS_FROM_CATALOG.items():
        index = raw.schema.get_field_index(raw_column)
        known = pc.take(catalog.column(catalog_column), at).cast(raw.schema.field(index).type)
        raw = raw.set_column(index, raw_column, pc.coalesce(known, raw.column(index)))
    return raw


def _csv_row(raw: Mapping[str, str | None]) -> dict[str, Any]:
    cells = {name: (value or "").strip() or None for name, value in raw.items() if name is not None}
    row: dict[str, Any] = {"location_id": _location_id(cells.get("location_id"))}
    for column in _TEXT:
        row[column] = cells.get(column)
    for column in _FLOAT:
        value = cells.get(column)
        row[column] = float(value) if value is not None else None
        if row[column] is not None and not math.isfinite(row[column]):
            raise CatalogError(f"{column} {value!r} is not a finite number")
    for column in _BOOL:
        value = cells.get(column)
        if value is None:
            row[column] = None
        elif value.lower() in _TRUE | _FALSE:
            row[column] = value.lower() in _TRUE
        else:
            raise CatalogError(f"{column} {value!r} is not true or false")
    return row


def _location_id(value: Any) -> int:
    """A location id as an int from 1 to MAX_ID; "17" (a CSV cell) is read as 17."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise CatalogError(f"location id {value!r} is not an integer from 1 to {MAX_ID}")
    return value


@dataclass(frozen=True)
class CatalogDiff:
    """What changed from one catalog to the next, each sorted by location id."""

    added: tuple[int, ...]
    dropped: tuple[int, ...]
    sensors_changed: tuple[int, ...]  # in both, sensors known in both, and not the same set

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.dropped or self.sensors_changed)


def diff_catalogs(old: pa.Table, new: pa.Table) -> CatalogDiff:
    """Added and dropped location ids, and those whose sensors changed (ignoring their order)."""
    old_sensors, new_sensors = _sensors_by_location(old), _sensors_by_location(new)
    both = old_sensors.keys() & new_sensors.keys()
    changed = [
        location_id
        for location_id in both
        if old_sensors[location_id] is not None
        and new_sensors[location_id] is not None
        and old_sensors[location_id] != new_sensors[location_id]
    ]
    return CatalogDiff(
        added=tuple(sorted(new_sensors.keys() - old_sensors.keys())),
        dropped=tuple(sorted(old_sensors.keys() - new_sensors.keys())),
        sensors_changed=tuple(sorted(changed)),
    )


def _sensors_by_location(catalog: pa.Table) -> dict[int, frozenset[tuple[int, str, str]] | None]:
    ids = catalog.column("location_id").to_pylist()
    sensors = catalog.column("sensors").to_pylist()
    return {
        location_id: None if found is None else frozenset((s["sensor_id"], s["parameter"], s["units"]) for s in found)
        for location_id, found in zip(ids, sensors, strict=True)
    }
