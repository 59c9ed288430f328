"""Near-real-time values: OpenAQ's v3 API latest values -> raw Parquet partitions by poll day.

The values are preliminary: harmonization flags every value so, and the archive's value of the
same series and hour, published days later, replaces it (the latest publication wins).
"""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from dagster import AssetExecutionContext, AssetSpec, Failure, MetadataValue, ResourceParam

import checks.raw
from asset_base.partition_step import PartitionStep, materialize_partitions
from asset_base.partitions import raw_daily_asset
from asset_base.table_metadata import LATEST_RAW_METADATA
from domain.fingerprint import objects_fingerprint
from domain.keys import OPENAQ_API_LATEST, OWNERS_BY_GROUP, RAW_LATEST
from resources.openaq_latest import OpenAQLatest
from resources.parquet_io_manager import EncodedTable, ParquetIOManager
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from sources.openaq_v3.latest import poll_of, poll_rows

LATEST_CODE_VERSION = "1"
# The poll's slot: a run requested in the last slot of a day may start after midnight.
POLL_MINUTES = 15

openaq_api_latest = AssetSpec(
    OPENAQ_API_LATEST,
    group_name="openaq",
    owners=OWNERS_BY_GROUP["openaq"],
    kinds={"api"},
    description="OpenAQ v3 API, GET /v3/parameters/{id}/latest: the newest value of each sensor measuring a "
    "parameter (or the local API server in OPENAQ_API_URL). It keeps no history. Maintained by OpenAQ: "
    "observed, never materialized here.",
)


def poll_day_allowed(day: str, polled_at: datetime) -> bool:
    """A poll lands in its UTC day's partition, or the day before if its slot began then."""
    return day in {polled_at.date().isoformat(), (polled_at - timedelta(minutes=POLL_MINUTES)).date().isoformat()}


@raw_daily_asset(
    openaq_api_latest,
    metadata=LATEST_RAW_METADATA,
    check_specs=checks.raw.LATEST_SPECS,
    code_version=LATEST_CODE_VERSION,
    kind="api",
)
def raw_openaq_latest(
    context: AssetExecutionContext,
    openaq_latest: OpenAQLatest,
    lake_io_manager: ResourceParam[ParquetIOManager],  # the IO manager itself, to append to the stored rows
    qoa: QoAMonitor,
    quality_gates: QualityGates,
    openaq_locations: pa.Table,
):  # returns MaterializeResult(value={partition key: EncodedTable}); an annotation would be type-checked
    """The followed locations' latest values of the followed parameters, every poll of the UTC day.

    A materialization polls the API once (one request per parameter id and page; see the
    openaq_latest resource) and appends the values new since the day's earlier polls to the
    day's stored partition: the API keeps no history, so the rows of earlier polls are kept, as
    the raw archive keeps its objects, and a poll that returns nothing new adds nothing. Only
    the day of the poll can be materialized (or the day before, for a run of its last slot).
    Each page of a poll is a source object (``api/v3/parameters/{id}/latest?page=N@poll time``),
    published at the poll's time, so an archive file written later replaces its values.
    """
    catalog = openaq_locations

    def poll_day(day: str) -> PartitionStep:
        polled_at = datetime.now(UTC)
        if not poll_day_allowed(day, polled_at):
            raise Failure(
                f"{day}: the API keeps no history; only the poll's day ({polled_at.date()}) can be materialized",
                metadata={"partition": day},
                allow_retries=False,
            )
        stored = lake_io_manager.existing_partition(context.asset_key, day)
        poll = openaq_latest.poll(polled_at)
        table, report = poll_rows(poll.pages, catalog, polled_at, stored)
        encoded = EncodedTable(table)  # the Parquet encoding overlaps the checks
        valid = checks.raw.validate(
            table, quality_gates.min_data_quality_score, quality_gates.max_bad_record_share, asset=RAW_LATEST
        )
        objects = _source_objects(table)
        return PartitionStep(
            outcomes={checks.raw.RECORDS_VALID: valid},
            metadata={
                "dagster/row_count": table.num_rows,
                "poll_time": polled_at.isoformat(),
                "datetime_min": poll.since.isoformat(),
                "parameters_polled": MetadataValue.json(poll.parameter_ids),
                "requests": poll.counts.requests,
                "pages": report.pages,
                "rate_limited": poll.counts.rate_limited,
                "rate_limit_wait_seconds": poll.counts.waited_seconds,
                "values": report.values,
                "followed_values": report.followed,
                "values_new": report.new,
                "polls_in_partition": len({poll_of(o["key"]) for o in objects}),
                "records": table.num_rows,
                "locations_followed": catalog.num_rows,
                "settings": MetadataValue.json(openaq_latest.describe()),
                "data_fingerprint": objects_fingerprint((o["key"], o["etag"]) for o in objects),
                "source_objects": MetadataValue.json(objects),
                "new_objects": MetadataValue.json(report.objects),
            },
            qoa={"rows_in": report.values, "rows_out": report.new, "bytes_out": table.nbytes},
            value=encoded,
            log=(
                f"{day}: {poll.counts.requests} requests ({poll.counts.rate_limited} refused with 429), "
                f"{report.values} values, {report.followed} of followed locations, {report.new} new; "
                f"{table.num_rows} records in the partition"
            ),
        )

    return materialize_partitions(context, checks.raw.LATEST_SPECS, qoa, quality_gates, poll_day)


def _source_objects(table: pa.Table) -> list[dict]:
    """Every page of every poll in the partition: key, etag and its rows, in key order."""
    counted = table.group_by(["source_key", "source_etag"]).aggregate([("line_number", "count")])
    return sorted(
        (
            {"key": key, "etag": etag, "rows": rows}
            for key, etag, rows in zip(
                counted.column("source_key").to_pylist(),
                counted.column("source_etag").to_pylist(),
                counted.column("line_number_count").to_pylist(),
                strict=True,
            )
        ),
        key=lambda o: o["key"],
    )
