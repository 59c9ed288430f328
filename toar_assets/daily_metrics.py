"""TOAR daily metrics per station and local day: dma8eu, daily mean and maximum (toar.daily_metrics)."""

from datetime import UTC, date, datetime

import pyarrow as pa
from dagster import AssetDep, AssetExecutionContext, MaterializeResult, MetadataValue, TimeWindowPartitionMapping

import checks.daily_metrics
from asset_base.partition_step import TRANSIENT_RETRIES, PartitionStep, materialize_partitions
from asset_base.partitions import FRESH, daily_asset
from asset_base.run_guard import ensure_run_alive
from asset_base.table_metadata import DAILY_METRICS_METADATA
from domain.fingerprint import table_fingerprint
from domain.keys import HARMONIZED_SERIES
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
from toar.daily_metrics import metrics_for_days, write_daily_metrics

DAILY_METRICS_VERSION = "1"


@daily_asset(
    group_name="toar",
    code_version=DAILY_METRICS_VERSION,
    kinds={"sqlalchemy", "postgres", "sqlite"},
    pool="toar_database",  # a database writer: the instance caps how many run at once
    retry_policy=TRANSIENT_RETRIES,
    # A local day spans parts of three UTC days: from 17:00 local the day before (the first
    # 8-hour window) to midnight local, for stations from UTC-12 to UTC+14.
    deps=[AssetDep(HARMONIZED_SERIES, partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=1))],
    metadata={**DAILY_METRICS_METADATA, "dagster/table_name": "daily_metric", "docs": "docs/DAILY_METRICS.md"},
    check_specs=checks.daily_metrics.SPECS,
    automation_condition=FRESH,
)
def toar_daily_metrics(
    context: AssetExecutionContext, toar_database: ToarDatabase, qoa: QoAMonitor, quality_gates: QualityGates
) -> MaterializeResult:
    """Per station and local standard-time day: ozone's dma8eu (EU directive: the highest 8-hour
    running mean, valid with 18 of 24 valid means), with its count of valid windows and hours;
    daily mean and maximum of ozone, NO2 and temperature (valid with 18 of 24 hours). Stored in
    the TOAR database's table daily_metric; the dma8eu model trains on it."""
    engine = toar_database.engine()

    def compute_day(day: str) -> PartitionStep:
        metrics, read = metrics_for_days(engine, [date.fromisoformat(day)], datetime.now(UTC).replace(tzinfo=None))
        with engine.begin() as conn:
            write_daily_metrics(conn, metrics)
            ensure_run_alive(context, f"{day}'s daily metrics")
        valid = checks.daily_metrics.validate(metrics, quality_gates.min_data_quality_score)
        capture = checks.daily_metrics.dma8eu_capture(metrics, quality_gates.min_dma8eu_capture)
        dma8 = metrics["o3_dma8eu"].dropna()
        return PartitionStep(
            outcomes={"metrics_valid": valid, "dma8eu_capture": capture},
            metadata={
                "dagster/row_count": len(metrics),
                "stations_with_dma8eu": len(dma8),
                "dma8eu_capture": capture.details["dma8eu_capture"],
                "dma8eu_mean": float(dma8.mean()) if len(dma8) else 0.0,
                "dma8eu_max": float(dma8.max()) if len(dma8) else 0.0,
                "rows_selected": read["rows_selected"],
                # Provenance: the series and hours read, as the feature tables record them.
                "measurement_window": f"{read['read_start']} .. {read['read_end']}",
                "timeseries_ids": MetadataValue.json(read["timeseries_ids"]),
                "data_fingerprint": table_fingerprint(
                    pa.Table.from_pandas(metrics.drop(columns=["computed_at"]), preserve_index=False)
                ),
            },
            qoa={"rows_in": read["rows_selected"], "rows_out": len(metrics)},
            log=f"{day}: {len(dma8)} of {len(metrics)} stations with a valid dma8eu",
        )

    return materialize_partitions(context, checks.daily_metrics.SPECS, qoa, quality_gates, compute_day)
