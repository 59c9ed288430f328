"""Data-logistics assets: OpenAQ objects -> raw Parquet partitions -> TOAR database."""

import pyarrow as pa
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from resources.openaq_bucket import OpenAQBucket
from resources.toar_database import ToarDatabase
from toar_assets.fingerprint import combined_fingerprint, objects_fingerprint
from toar_assets.harmonize import CONVERSION_CONVENTION, HARMONIZATION_VERSION, REASONS, harmonize
from toar_assets.openaq_objects import read_objects
from toar_assets.partitions import daily_backfill_policy, daily_partitions
from toar_assets.toar_db import write_partition

RAW_CODE_VERSION = "1"


@asset(
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    group_name="openaq",
    code_version=RAW_CODE_VERSION,
    io_manager_key="lake_io_manager",
    kinds={"s3", "parquet"},
)
def raw_openaq_measurements(context: AssetExecutionContext, openaq_bucket: OpenAQBucket) -> dict[str, pa.Table]:
    """Every line of every OpenAQ object published on the fetch day, as one row.

    Columns are the OpenAQ fields flattened, plus the source object key, its ETag, its publish
    time and the line number. Lines that are not valid records keep their text and the parse
    error, so harmonization can quarantine them; nothing read is dropped.
    """
    tables = {}
    for day in context.partition_keys:
        objects = openaq_bucket.list_day(day)
        table, report = read_objects(objects, openaq_bucket.read)
        context.log.info(f"{day}: {len(report.objects)} objects, {report.records} records")
        context.add_asset_metadata(
            {
                "dagster/row_count": report.records,
                "objects": len(report.objects),
                "bytes": report.bytes,
                "records": report.records,
                "unparseable_lines": report.unparseable_lines,
                "skipped_keys": len(report.skipped),
                "broken_objects": len(report.broken_objects),
                "bucket": openaq_bucket.url,
                "data_fingerprint": objects_fingerprint((o["key"], o["etag"]) for o in report.objects),
                "source_objects": MetadataValue.json(report.objects),
                "skipped": MetadataValue.json(report.skipped),
                "broken": MetadataValue.json(report.broken_objects),
            },
            partition_key=day,
        )
        tables[day] = table
    return tables


@asset(
    partitions_def=daily_partitions,
    backfill_policy=daily_backfill_policy,
    group_name="toar",
    code_version=HARMONIZATION_VERSION,
    kinds={"sql", "table"},
)
def harmonized_toar_series(
    context: AssetExecutionContext,
    toar_database: ToarDatabase,
    raw_openaq_measurements,  # {fetch day: table}, read lazily (no annotation: Dagster would type-check a dict)
) -> MaterializeResult:
    """TOAR stations, series, values and quarantine for the fetch day, upserted in one transaction.

    Stations are identified by coordinates, variables renamed to TOAR names, gases converted to
    nmol/mol, values flagged preliminary, duplicates resolved (latest publication wins) and
    every record that cannot be harmonized quarantined with its reason.
    """
    engine = toar_database.engine()
    for day in context.partition_keys:
        harmonized = harmonize(raw_openaq_measurements[day])
        if not harmonized.conserved:
            raise RuntimeError(f"{day}: harmonization lost or invented records; nothing was written")
        stats = write_partition(engine, day, harmonized)
        by_reason = harmonized.quarantined_by_reason()
        obs = harmonized.observations
        context.log.info(
            f"{day}: {harmonized.rows_in} rows in, {stats.values_written} values, "
            f"{harmonized.duplicates} duplicates, {stats.quarantined} quarantined"
        )
        context.add_asset_metadata(
            {
                "dagster/row_count": stats.values_written,
                "rows_in": harmonized.rows_in,
                "rows_out": stats.values_written,
                "duplicates": harmonized.duplicates,
                "duplicates_with_other_value": harmonized.duplicates_with_other_value,
                "quarantined": stats.quarantined,
                **{f"quarantined/{reason}": by_reason.get(reason, 0) for reason in REASONS},
                "stations_seen": len(harmonized.stations),
                "stations_created": stats.stations_created,
                "series_seen": len(harmonized.series),
                "series_created": stats.series_created,
                "measurement_start": str(obs["datetime"].min()) if len(obs) else "",
                "measurement_end": str(obs["datetime"].max()) if len(obs) else "",
                "conservation": (
                    f"{harmonized.rows_in} rows in = {stats.values_written} values + "
                    f"{harmonized.duplicates} duplicates + {stats.quarantined} quarantined"
                ),
                "unit_convention": CONVERSION_CONVENTION,
                "data_fingerprint": combined_fingerprint(
                    objects_fingerprint(zip(harmonized.objects["source_key"], harmonized.objects["source_etag"])),
                    HARMONIZATION_VERSION,
                ),
                "database": toar_database.display_url(),
            },
            partition_key=day,
        )
    return MaterializeResult()
