"""Data-logistics assets: OpenAQ v1 objects -> raw Parquet partitions; every source's raw
partitions -> TOAR database (the v3 archive's raw asset is in ``archive.py``, the v3 API's
latest values' in ``latest.py``)."""

from collections.abc import Callable, Iterator, Mapping

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
)
from pydantic import Field

import checks.harmonized
import checks.raw
from asset_base.partition_step import TRANSIENT_RETRIES, PartitionStep, materialize_partitions
from asset_base.partitions import daily_asset, raw_daily_asset
from asset_base.run_guard import ensure_run_alive
from asset_base.table_metadata import HARMONIZED_METADATA, RAW_METADATA
from domain.fingerprint import combined_fingerprint, objects_fingerprint
from domain.keys import OPENAQ_BUCKET, OWNERS_BY_GROUP, RAW_ARCHIVE, RAW_LATEST, RAW_MEASUREMENTS
from domain.quality import REASONS
from domain.raw_schema import RAW_SCHEMA
from domain.vocabulary import CONVERSION_CONVENTION
from resources.openaq_bucket import ObjectReadError, OpenAQBucket
from resources.parquet_io_manager import EncodedTable, ParquetIOManager
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
from sources.day_reader import DayReport
from sources.openaq_v1.reader import read_objects
from toar.harmonize import HARMONIZATION_VERSION, RAW_INPUT_COLUMNS, Harmonized, harmonize_in_parts
from toar.writer import write_while_harmonizing

RAW_CODE_VERSION = "1"
RAW_SOURCES = (RAW_MEASUREMENTS, RAW_ARCHIVE, RAW_LATEST)  # the raw assets harmonization reads, one per source


class RawReadConfig(Config):
    full_refresh: bool = Field(
        default=False,
        description="re-read every object of the day instead of reusing the stored rows of unchanged ones",
    )


openaq_realtime_bucket = AssetSpec(
    OPENAQ_BUCKET,
    group_name="openaq",
    owners=OWNERS_BY_GROUP["openaq"],
    kinds={"s3"},
    description="OpenAQ v1 real-time objects (s3://openaq-fetches/realtime-gzipped/YYYY-MM-DD/, 2013-2023; private "
    "since November 2023, for whoever holds a copy; or the local mirror in OPENAQ_BUCKET_URL). Maintained by OpenAQ: "
    "observed, never materialized here.",
)


@raw_daily_asset(
    openaq_realtime_bucket, metadata=RAW_METADATA, check_specs=checks.raw.SPECS, code_version=RAW_CODE_VERSION
)
def raw_openaq_measurements(
    context: AssetExecutionContext,
    config: RawReadConfig,
    openaq_bucket: OpenAQBucket,
    lake_io_manager: ResourceParam[ParquetIOManager],  # the IO manager itself, to reuse stored rows
    qoa: QoAMonitor,
    quality_gates: QualityGates,
):  # returns MaterializeResult(value={partition key: EncodedTable}); an annotation would be type-checked
    """Every line of every OpenAQ object published on the fetch day, as one row.

    Columns are the OpenAQ fields flattened, plus the source object key, its ETag, its publish
    time and the line number. Lines that are not valid records keep their text and the parse
    error, so harmonization can quarantine them; nothing read is dropped. Re-materializing a day
    fetches only objects that are new or changed (by ETag) since the day's stored partition.
    """

    def read_day(day: str) -> PartitionStep:
        previous = None if config.full_refresh else lake_io_manager.existing_partition(context.asset_key, day)
        try:
            listed, unlisted = openaq_bucket.list_day_with_skipped(day)
            table, report = read_objects(listed, openaq_bucket.read, previous)
        except ObjectReadError as exc:
            raise Failure(f"{day}: {exc}", metadata={"partition": day, "failed_object": exc.location}) from exc
        return raw_day_step(
            table,
            report,
            asset=RAW_MEASUREMENTS,
            gates=quality_gates,
            bucket=openaq_bucket,
            metadata={
                "objects_read": len(report.objects) - report.objects_reused,
                "skipped_keys": len(report.skipped) + len(unlisted),
            },
            skipped=sorted(report.skipped + unlisted, key=lambda s: s["key"]),
            log=f"{day}: {len(report.objects)} objects ({report.objects_reused} reused), {report.records} records",
        )

    return materialize_partitions(context, checks.raw.SPECS, qoa, quality_gates, read_day)


@daily_asset(
    group_name="toar",
    code_version=HARMONIZATION_VERSION,
    kinds={"sqlalchemy", "postgres", "sqlite"},
    pool="toar_database",  # a database writer: the instance caps how many run at once
    retry_policy=TRANSIENT_RETRIES,
    # Every source's raw partitions of the day, those that exist (a day may come from one source
    # only), and only the raw columns harmonization reads (not the attribution lists, kept for provenance).
    ins={
        name: AssetIn(metadata={"columns": RAW_INPUT_COLUMNS, "allow_missing_partitions": True}) for name in RAW_SOURCES
    },
    metadata=HARMONIZED_METADATA,
    check_specs=checks.harmonized.SPECS,
)
def harmonized_toar_series(
    context: AssetExecutionContext,
    toar_database: ToarDatabase,
    qoa: QoAMonitor,
    quality_gates: QualityGates,
    # {day: table} of each source, read lazily (no annotation: Dagster would type-check a dict)
    raw_openaq_measurements,
    raw_openaq_archive,
    raw_openaq_latest,
) -> MaterializeResult:
    """TOAR stations, series, values and quarantine for the day, upserted in one transaction.

    The day's rows of every source are harmonized together by the same rules: the v1 objects
    fetched that day, the v3 archive files of that local day and the v3 API's latest values
    polled that UTC day (any may be absent). Stations
    are identified by coordinates (a station in several sources is one TOAR station; OpenAQ
    location ids are kept as its codes), variables renamed to TOAR names, gases converted to
    nmol/mol, values flagged preliminary, duplicates resolved (latest publication wins, across
    sources and patched files) and every record that cannot be harmonized quarantined with its
    reason. A partition whose values fail the blocking data checks is not written (the database
    is what downstream reads).
    """
    # Read before each step's measurement starts: loading is the IO manager's work, not the asset's.
    days = DayOfSources(
        {RAW_MEASUREMENTS: raw_openaq_measurements, RAW_ARCHIVE: raw_openaq_archive, RAW_LATEST: raw_openaq_latest}
    )

    def harmonize_day(day: str, sources: tuple[pa.Table, dict[str, int]]) -> PartitionStep:
        raw, rows_by_source = sources
        harmonized, valid, share, stats = _harmonize_while_writing(
            toar_database,
            day,
            raw,
            quality_gates,
            lambda: ensure_run_alive(context, f"{day} of harmonized_toar_series"),
        )
        withheld = stats is None
        written = 0 if withheld else stats.values_written
        by_reason = harmonized.quarantined_by_reason()
        obs = harmonized.observations
        return PartitionStep(
            outcomes={"values_valid": valid, "quarantine_share_within_limit": share},
            metadata={
                "dagster/row_count": written,
                "written": not withheld,
                "rows_in": harmonized.rows_in,
                **{f"rows_in/{source}": rows for source, rows in rows_by_source.items()},
                "rows_out": len(obs),
                "duplicates": harmonized.duplicates,
                "duplicates_with_other_value": harmonized.duplicates_with_other_value,
                "quarantined": len(harmonized.quarantine),
                **{f"quarantined/{reason}": by_reason.get(reason, 0) for reason in REASONS},
                "stations_seen": len(harmonized.stations),
                "stations_created": 0 if withheld else stats.stations_created,
                "station_codes_seen": len(harmonized.codes),
                "series_seen": len(harmonized.series),
                "series_created": 0 if withheld else stats.series_created,
                "measurement_start": str(obs["datetime"].min()) if len(obs) else "",
                "measurement_end": str(obs["datetime"].max()) if len(obs) else "",
                "conservation": (
                    f"{harmonized.rows_in} rows in = {len(obs)} values + "
                    f"{harmonized.duplicates} duplicates + {len(harmonized.quarantine)} quarantined"
                    + ("" if withheld else " (values and quarantine read back from the database before commit)")
                ),
                "values_read_back": 0 if withheld else stats.values_read_back,
                "quarantine_read_back": 0 if withheld else stats.quarantine_read_back,
                "strings_altered": harmonized.strings_altered,
                "objects_vanished": 0 if withheld else len(stats.objects_vanished),
                "vanished_objects": MetadataValue.json([] if withheld else list(stats.objects_vanished)),
                "unit_convention": CONVERSION_CONVENTION,
                "database": toar_database.display_url(),
                "data_fingerprint": combined_fingerprint(
                    objects_fingerprint(
                        zip(harmonized.objects["source_key"], harmonized.objects["source_etag"], strict=True)
                    ),
                    HARMONIZATION_VERSION,
                ),
            },
            qoa={
                "rows_in": harmonized.rows_in,
                "bytes_in": raw.nbytes,
                "rows_out": written,
                "rows_quarantined": len(harmonized.quarantine),
                "duplicates": harmonized.duplicates,
            },
            log=(
                f"{day}: {harmonized.rows_in} rows in, {written} values written, "
                f"{harmonized.duplicates} duplicates, {len(harmonized.quarantine)} quarantined"
                + (" - WITHHELD: blocking data checks failed" if withheld else "")
            ),
        )

    return materialize_partitions(context, checks.harmonized.SPECS, qoa, quality_gates, harmonize_day, upstream=days)


def raw_day_step(
    table: pa.Table,
    report: DayReport,
    *,
    asset: str,
    gates: QualityGates,
    bucket: OpenAQBucket,
    metadata: dict,
    skipped: list[dict],
    log: str,
) -> PartitionStep:
    """A raw partition's step from the day a source's reader read: its Parquet encoding started
    (it overlaps the checks), the raw checks, and what every bucket source reports (the day
    report, the provenance list of keys and ETags), with the source's own ``metadata``."""
    encoded = EncodedTable(table)
    valid = checks.raw.validate(table, gates.min_data_quality_score, gates.max_bad_record_share, asset=asset)
    return PartitionStep(
        outcomes={checks.raw.RECORDS_VALID: valid},
        metadata={
            "dagster/row_count": report.records,
            **metadata,
            "objects": len(report.objects),
            "objects_reused": report.objects_reused,
            "bytes_read": report.bytes,
            "records": report.records,
            "unparseable_lines": report.unparseable_lines,
            "broken_objects": len(report.broken_objects),
            "bucket": bucket.display_url(),
            "data_fingerprint": objects_fingerprint((o["key"], o["etag"]) for o in report.objects),
            "source_objects": MetadataValue.json(report.objects),
            "skipped": MetadataValue.json(skipped),
            "broken": MetadataValue.json(report.broken_objects),
        },
        qoa={
            "rows_in": report.records,
            "bytes_in": report.bytes,
            "rows_out": table.num_rows,
            "bytes_out": table.nbytes,
        },
        value=encoded,
        log=log,
    )


class MissingRawPartition(LookupError):
    """No source has a raw partition for the day: nothing to harmonize (never an empty write)."""


class DayOfSources(Mapping):
    """``{day: (raw table, rows per source)}`` over the raw partitions of several sources: a
    day's table joins the partitions of that day that exist (one raw schema). A day no source
    has raises MissingRawPartition."""

    def __init__(self, partitions_by_source: Mapping[str, Mapping[str, pa.Table]]):
        self._sources = partitions_by_source

    def __getitem__(self, day: str) -> tuple[pa.Table, dict[str, int]]:
        tables = {source: parts[day] for source, parts in self._sources.items() if day in parts}
        if not tables:
            raise MissingRawPartition(
                f"{day}: no raw partition of {' or '.join(self._sources)}: materialize one of them for the day first"
            )
        # Parquet keeps second timestamps as milliseconds: one schema before joining the sources.
        schema = pa.schema([RAW_SCHEMA.field(name) for name in next(iter(tables.values())).column_names])
        joined = pa.concat_tables([table.cast(schema) for table in tables.values()])
        return joined, {source: tables[source].num_rows if source in tables else 0 for source in self._sources}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({day for parts in self._sources.values() for day in parts}))

    def __len__(self) -> int:
        return len(set(self))


# Raw rows per harmonized part of a day: a realistic day (about 500k records) goes in four.
ROWS_PER_PART = 125_000


def _harmonize_while_writing(
    database: ToarDatabase, day: str, raw, gates: QualityGates, before_commit: Callable[[], None] | None = None
):
    """Harmonize the day in parts (by station) while the database writer loads them; the
    blocking checks judge the whole day before the writer commits (toar.writer), and
    ``before_commit`` (the run-alive guard) may still refuse the commit by raising.
    Returns the harmonized day, the two outcomes and the write's figures (None if withheld)."""
    outcomes = {}

    def accept(harmonized: Harmonized) -> bool:
        outcomes["valid"] = valid = checks.harmonized.validate(harmonized, gates.min_data_quality_score)
        outcomes["share"] = share = checks.harmonized.quarantine_share(harmonized, gates.max_quarantined_share)
        return share.passed and (valid.passed or not valid.severe)

    parts = harmonize_in_parts(raw, ROWS_PER_PART)
    harmonized, stats = write_while_harmonizing(database.engine(), day, parts, accept, before_commit)
    return harmonized, outcomes["valid"], outcomes["share"], stats
