"""The live source: OpenAQ's v3 archive -> the followed locations and raw Parquet partitions.

``openaq_locations`` is the catalog of followed locations (the v3 API with a key, a user's ids
or file, or keyless discovery from the archive); ``raw_openaq_archive`` holds, per local day,
every line of that day's file of each followed location.
"""

from datetime import date

import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MetadataValue,
    Output,
    ResourceParam,
    asset,
)

import checks.raw
from asset_base.partition_step import PartitionStep, materialize_partitions
from asset_base.partitions import raw_daily_asset
from asset_base.table_metadata import ARCHIVE_RAW_METADATA
from domain.keys import LOCATIONS, OPENAQ_ARCHIVE, OWNERS_BY_GROUP, RAW_ARCHIVE
from resources.openaq_bucket import ObjectReadError, OpenAQBucket
from resources.openaq_catalog import OpenAQCatalog
from resources.parquet_io_manager import ParquetIOManager
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from sources.openaq_v3.catalog import catalog_from_ids, diff_catalogs, with_catalog_fields
from sources.openaq_v3.reader import read_archive_day
from toar_assets.assets import RAW_CODE_VERSION, RawReadConfig, raw_day_step

openaq_data_archive = AssetSpec(
    OPENAQ_ARCHIVE,
    group_name="openaq",
    owners=OWNERS_BY_GROUP["openaq"],
    kinds={"s3"},
    description="OpenAQ v3 archive files (s3://openaq-data-archive/records/csv.gz/locationid=.../, one gzipped CSV "
    "per location and local day, written about 72 hours after the day and patched when late data arrive; or the "
    "local mirror in OPENAQ_ARCHIVE_URL). Maintained by OpenAQ: observed, never materialized here.",
)

LOCATIONS_FOLLOWED = AssetCheckSpec(
    "locations_followed",
    asset=LOCATIONS,
    description="At least one location is followed (an empty catalog would read nothing, silently). Blocks "
    "the archive's raw partitions.",
    blocking=True,
)


CATALOG_CODE_VERSION = "1"


@asset(
    group_name="openaq",
    owners=OWNERS_BY_GROUP["openaq"],
    code_version=CATALOG_CODE_VERSION,
    io_manager_key="lake_io_manager",
    kinds={"parquet"},
    check_specs=[LOCATIONS_FOLLOWED],
)
def openaq_locations(
    context: AssetExecutionContext,
    openaq_catalog: OpenAQCatalog,
    openaq_archive: OpenAQBucket,
    lake_io_manager: ResourceParam[ParquetIOManager],
    qoa: QoAMonitor,
):
    """The OpenAQ v3 locations the product follows: id, name, coordinates, timezone, provider, sensors.

    From the v3 API when OPENAQ_API_KEY is set (filters in the openaq_catalog resource: parameters,
    countries, bounding box), from OPENAQ_LOCATIONS (ids, or a CSV or JSON file) when given, else
    discovered keyless from the archive's ``locationid=`` folders (ids only). Metadata says which
    locations were added or dropped, and whose sensors changed, since the last materialization.
    """
    source = openaq_catalog.source()
    with qoa.measure() as measured:
        if source == "keyless":
            catalog = catalog_from_ids(openaq_archive.archive_location_ids())
        else:
            catalog = openaq_catalog.fetch_catalog()
    previous = lake_io_manager.existing_partition(context.asset_key, None)
    diff = diff_catalogs(previous if previous is not None else catalog.slice(0, 0), catalog)
    located = catalog.column("latitude").null_count == 0 if catalog.num_rows else False
    context.log.info(
        f"{catalog.num_rows} locations from {source}: {len(diff.added)} added, {len(diff.dropped)} dropped"
    )
    yield Output(
        catalog,
        metadata={
            "dagster/row_count": catalog.num_rows,
            "source": source,
            "settings": MetadataValue.json(openaq_catalog.describe()),
            "locations": catalog.num_rows,
            "added": len(diff.added),
            "dropped": len(diff.dropped),
            "sensors_changed": len(diff.sensors_changed),
            "added_ids": MetadataValue.json(list(diff.added)),
            "dropped_ids": MetadataValue.json(list(diff.dropped)),
            "sensors_changed_ids": MetadataValue.json(list(diff.sensors_changed)),
            "first_materialization": previous is None,
            "all_located": located,
            **measured.metadata(rows_out=catalog.num_rows, bytes_out=catalog.nbytes),
        },
    )
    yield AssetCheckResult(
        check_name=LOCATIONS_FOLLOWED.name,
        passed=catalog.num_rows > 0,
        metadata={"locations": catalog.num_rows, "source": source},
    )


@raw_daily_asset(
    openaq_data_archive,
    metadata=ARCHIVE_RAW_METADATA,
    check_specs=checks.raw.ARCHIVE_SPECS,
    code_version=RAW_CODE_VERSION,
)
def raw_openaq_archive(
    context: AssetExecutionContext,
    config: RawReadConfig,
    openaq_archive: OpenAQBucket,
    lake_io_manager: ResourceParam[ParquetIOManager],  # the IO manager itself, to reuse stored rows
    qoa: QoAMonitor,
    quality_gates: QualityGates,
    openaq_locations: pa.Table,
):  # returns MaterializeResult(value={partition key: EncodedTable}); an annotation would be type-checked
    """Every line of the day's archive file of each followed location, as one row (the raw schema
    of the v1 objects). The partition is the file's day: the location's local day.

    Each location-month is listed once per run (one LIST holds a month's keys and ETags); files
    unchanged since the stored partition (same ETag) are not fetched again, patched ones are (a
    new ETag) and published at their LastModified, so their values replace the earlier ones.
    Provider, locality and country come from the catalog, which the files do not carry.
    """
    catalog = openaq_locations
    location_ids = catalog.column("location_id").to_pylist()

    def read_day(day: str) -> PartitionStep:
        previous = None if config.full_refresh else lake_io_manager.existing_partition(context.asset_key, day)
        missing: list[int] = []  # filled as the listing goes: fetching starts with the first months listed
        try:
            listing = openaq_archive.archive_day_listing(location_ids, date.fromisoformat(day), missing)
            table, report = read_archive_day(listing, openaq_archive.read, previous)
        except ObjectReadError as exc:
            raise Failure(f"{day}: {exc}", metadata={"partition": day, "failed_object": exc.location}) from exc
        table = with_catalog_fields(table, catalog)
        return raw_day_step(
            table,
            report,
            asset=RAW_ARCHIVE,
            gates=quality_gates,
            bucket=openaq_archive,
            metadata={
                "locations_followed": len(location_ids),
                "objects_missing": len(missing),
                "objects_new": report.objects_new,
                "objects_changed": report.objects_changed,
                "missing_locations": MetadataValue.json(missing),
            },
            skipped=report.skipped,
            log=(
                f"{day}: {len(report.objects)} files of {len(location_ids)} locations ({len(missing)} missing; "
                f"{report.objects_new} new, {report.objects_changed} changed, {report.objects_reused} reused), "
                f"{report.records} records"
            ),
        )

    return materialize_partitions(context, checks.raw.ARCHIVE_SPECS, qoa, quality_gates, read_day)
