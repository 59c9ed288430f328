"""Column schemas and column lineage of the table assets, for the Dagster UI.

``dagster/column_schema`` says what each column is; ``dagster/column_lineage`` says which
upstream columns it is computed from, so a user can follow a TOAR value or a feature back to
the OpenAQ fields it came from.
"""

from __future__ import annotations

from dagster import AssetKey, TableColumn, TableColumnDep, TableColumnLineage, TableSchema

from domain.keys import HARMONIZED_SERIES as HARMONIZED
from domain.keys import LOCATIONS, OPENAQ_API_LATEST, OPENAQ_ARCHIVE, RAW_ARCHIVE, RAW_LATEST
from domain.keys import OPENAQ_BUCKET as SOURCE
from domain.keys import RAW_MEASUREMENTS as RAW
from domain.raw_schema import ERROR_COLUMNS, ORIGIN_COLUMNS, RAW_COLUMNS, SOURCE_IDS, type_label
from sources.openaq_v1.fields import RECORD_FIELDS
from sources.openaq_v3.catalog import RAW_FIELDS_FROM_CATALOG


def column_schema(columns: list[tuple[str, str, str]]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, kind, description) for name, kind, description in columns])


def column_lineage(sources: dict[str, list[tuple[str, str]]]) -> TableColumnLineage:
    return TableColumnLineage(
        deps_by_column={
            column: [TableColumnDep(asset_key=AssetKey(asset), column_name=upstream) for asset, upstream in deps]
            for column, deps in sources.items()
        }
    )


def table_metadata(
    columns: list[tuple[str, str, str]], sources: dict[str, list[tuple[str, str]]], every_raw: bool = False
) -> dict:
    """Schema and lineage; with ``every_raw``, a dependency on a raw column is on that column of
    every raw asset (v1 objects, v3 archive, v3 latest values: one raw schema)."""
    if every_raw:
        sources = {
            column: [
                (asset, name)
                for upstream, name in deps
                for asset in ((RAW, RAW_ARCHIVE, RAW_LATEST) if upstream == RAW else (upstream,))
            ]
            for column, deps in sources.items()
        }
    return {"dagster/column_schema": column_schema(columns), "dagster/column_lineage": column_lineage(sources)}


_RAW_SCHEMA = [(name, type_label(kind), description) for name, kind, description in RAW_COLUMNS]
_V1_FIELDS = {column: ".".join(path) for column, path in RECORD_FIELDS.items()}  # as the bucket's JSON spells them
RAW_METADATA = table_metadata(
    _RAW_SCHEMA,
    {
        name: [(SOURCE, _V1_FIELDS.get(name, name))]
        for name, _, _ in RAW_COLUMNS
        if name not in (*ORIGIN_COLUMNS, *ERROR_COLUMNS, *SOURCE_IDS)
    }
    | {"source_key": [(SOURCE, "key")], "source_etag": [(SOURCE, "etag")], "published_at": [(SOURCE, "key")]},
)
# Raw column <- the archive CSV's field (sources.openaq_v3.parse); the period is the spacing of times.
_ARCHIVE_FIELDS = {
    "date_utc": "datetime",
    "date_local": "datetime",
    "parameter": "parameter",
    "value": "value",
    "unit": "units",
    "averaging_period_value": "datetime",
    "averaging_period_unit": "datetime",
    "location": "location",
    "latitude": "lat",
    "longitude": "lon",
    "location_id": "location_id",
    "sensor_id": "sensors_id",
}


def _v3_raw_metadata(source: str, fields: dict[str, str], origin: dict[str, str], from_catalog: dict[str, str]) -> dict:
    """Schema and lineage of a v3 source's raw asset: its columns from the source's ``fields``
    and ``origin`` (key, ETag, publication), the rest from the locations catalog."""
    return table_metadata(
        _RAW_SCHEMA,
        {column: [(source, field)] for column, field in fields.items()}
        | {column: [(LOCATIONS, field)] for column, field in from_catalog.items()}
        | {column: [(source, field)] for column, field in origin.items()},
    )


# The archive's CSV fields, and the catalog's for what the files do not carry.
ARCHIVE_RAW_METADATA = _v3_raw_metadata(
    OPENAQ_ARCHIVE,
    _ARCHIVE_FIELDS,
    {"source_key": "key", "source_etag": "etag", "published_at": "last_modified"},
    RAW_FIELDS_FROM_CATALOG,
)
# Raw column <- the field of a /v3/parameters/{id}/latest result (sources.openaq_v3.latest); the
# parameter and unit are the requested parameter id's, the period the spacing of a sensor's times.
_LATEST_FIELDS = {
    "date_utc": "datetime.utc",
    "date_local": "datetime.local",
    "parameter": "parametersId",
    "unit": "parametersId",
    "value": "value",
    "averaging_period_value": "datetime.utc",
    "averaging_period_unit": "datetime.utc",
    "latitude": "coordinates.latitude",
    "longitude": "coordinates.longitude",
    "location_id": "locationsId",
    "sensor_id": "sensorsId",
}
# The latest results' fields, and the catalog's for the name and what the results do not carry.
LATEST_RAW_METADATA = _v3_raw_metadata(
    OPENAQ_API_LATEST,
    _LATEST_FIELDS,
    {"source_key": "request", "source_etag": "results", "published_at": "polled_at"},
    {**RAW_FIELDS_FROM_CATALOG, "location": "name"},
)

HARMONIZED_COLUMNS = [
    ("station_id", "int", "stationmeta_core.id: one station per rounded coordinate pair"),
    ("latitude", "float", "station latitude, rounded to 1e-4 degree"),
    ("longitude", "float", "station longitude, rounded to 1e-4 degree"),
    ("station_name", "text", "name first seen; all names in stationmeta_alias"),
    ("timeseries_id", "int", "timeseries.id: (station, variable, provider, sampling frequency)"),
    ("variable", "text", "TOAR variable name (o3, no2, pm2p5, ...)"),
    ("unit", "text", "nmol/mol for gases, µg/m³ for particulate matter"),
    ("sampling_frequency", "text", "15min, hourly, daily, ... from the averaging period"),
    ("provider", "text", "OpenAQ sourceName (v1), the location's provider in the catalog (v3)"),
    ("datetime", "timestamp", "end of the averaging period (UTC)"),
    ("value", "float", "value in `unit`"),
    ("flags", "text", "TOAR-style preliminary flag (table data_flag)"),
    ("version", "text", "harmonization rules version"),
    ("source_object_id", "int", "raw_object.id: the S3 object (key, ETag) the value came from"),
    ("station_codes", "text", "stationmeta_code: the station's OpenAQ v3 location ids"),
]
HARMONIZED_METADATA = table_metadata(
    HARMONIZED_COLUMNS,
    {  # every raw column below is read from every raw asset (one raw schema)
        "station_id": [(RAW, "latitude"), (RAW, "longitude")],
        "latitude": [(RAW, "latitude")],
        "longitude": [(RAW, "longitude")],
        "station_name": [(RAW, "location"), (RAW, "city")],
        "timeseries_id": [
            (RAW, "latitude"),
            (RAW, "longitude"),
            (RAW, "parameter"),
            (RAW, "source_name"),
            (RAW, "averaging_period_value"),
            (RAW, "averaging_period_unit"),
        ],
        "variable": [(RAW, "parameter")],
        "unit": [(RAW, "parameter")],
        "sampling_frequency": [(RAW, "averaging_period_value"), (RAW, "averaging_period_unit")],
        "provider": [(RAW, "source_name")],
        "datetime": [(RAW, "date_utc")],
        "value": [(RAW, "value"), (RAW, "unit"), (RAW, "parameter")],
        "flags": [(RAW, "value"), (RAW, "unit"), (RAW, "parameter")],
        "source_object_id": [(RAW, "source_key"), (RAW, "source_etag")],
        "station_codes": [(RAW, "location_id")],
    },
    every_raw=True,
)


def _daily_metrics_metadata() -> dict:
    """Schema of toar_daily_metrics from its table's own column comments (toar.schema), and
    lineage: each variable's figures from the harmonized values of that variable and hours."""
    from toar.schema import daily_metric

    columns = [(c.name, str(c.type).lower(), c.comment or "") for c in daily_metric.columns]
    per_value = [(HARMONIZED, "value"), (HARMONIZED, "variable"), (HARMONIZED, "datetime")]
    sources = {c.name: per_value for c in daily_metric.columns if c.name.split("_")[0] in ("o3", "no2", "temp")}
    sources |= {
        "station_id": [(HARMONIZED, "station_id")],
        "date": [(HARMONIZED, "datetime"), (HARMONIZED, "latitude"), (HARMONIZED, "longitude")],
        "timezone": [(HARMONIZED, "latitude"), (HARMONIZED, "longitude")],
        "utc_offset_minutes": [(HARMONIZED, "latitude"), (HARMONIZED, "longitude")],
    }
    return table_metadata(columns, sources)


DAILY_METRICS_METADATA = _daily_metrics_metadata()


def features_metadata(feature_columns: list[str], target: str) -> dict:
    """Schema and lineage of ozone_features (its columns come from the feature module)."""
    described = {
        "station_id": ("int", "TOAR station"),
        "issue_time": ("timestamp", "latest hour whose measurements the row uses (UTC, hour ending)"),
        "target_time": ("timestamp", "issue time + horizon"),
        target: ("float", "observed hourly ozone at the target time, nmol/mol (empty until observed)"),
    }
    columns = [
        ("station_id", *described["station_id"]),
        ("issue_time", *described["issue_time"]),
        ("target_time", *described["target_time"]),
    ]
    columns += [(c, "float", _feature_description(c)) for c in feature_columns]
    columns.append((target, *described[target]))
    ozone = [(HARMONIZED, "value"), (HARMONIZED, "variable"), (HARMONIZED, "datetime"), (HARMONIZED, "station_id")]
    sources = {c: ozone for c in feature_columns if c.startswith(("o3_", "no2_", "has_no2"))}
    sources |= {c: [(HARMONIZED, "datetime")] for c in feature_columns if c.startswith(("hour_", "dow_"))}
    sources |= {
        "latitude": [(HARMONIZED, "latitude")],
        "longitude": [(HARMONIZED, "longitude")],
        "station_id": [(HARMONIZED, "station_id")],
        "issue_time": [(HARMONIZED, "datetime")],
        "target_time": [(HARMONIZED, "datetime")],
        target: ozone,
    }
    return table_metadata(columns, sources)


def _feature_description(column: str) -> str:
    if column.startswith("o3_lag_"):
        return f"hourly ozone {column.removeprefix('o3_lag_')} before the issue time, nmol/mol"
    if column.startswith("o3_mean_"):
        return f"mean hourly ozone over the {column.removeprefix('o3_mean_')} ending at the issue time"
    if column.startswith("no2"):
        return "co-located NO2, nmol/mol (0 where the station has none)"
    if column == "has_no2":
        return "1 if the station measures NO2 at the issue time"
    if column.startswith(("hour_", "dow_")):
        return "hour of day / day of week of the target time, on the unit circle"
    return "station coordinate"
