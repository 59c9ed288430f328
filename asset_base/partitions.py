"""Daily partitions by fetch day (the S3 prefix date), shared by every daily asset."""

import warnings
from collections.abc import Callable
from datetime import timedelta

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    BetaWarning,
    DailyPartitionsDefinition,
    asset,
)

from asset_base.partition_step import TRANSIENT_RETRIES
from domain.keys import OWNERS_BY_GROUP
from resources.openaq_sources import DEFAULT_ARCHIVE_WATCH_DAYS

# OpenAQ's first real-time fetches predate 2014; the current (incomplete) day is a partition
# too, so near-real-time data lands the day it is published.
daily_partitions = DailyPartitionsDefinition(start_date="2013-11-01", end_offset=1)

# Bounded batches: one run per up to a week of days. A run costs a few seconds of start-up,
# so batching amortizes it, while a failure costs at most one batch, batches of a long backfill
# run in parallel, and memory holds at most one batch of raw tables.
DAYS_PER_RUN = 7
daily_backfill_policy = BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)

# Materialize as soon as upstream data changed, for the days live sources still change: today's
# (API polls, v1 objects), and back to the oldest day the archive sensor watches (the archive
# publishes a day about three days late, and patches files later); older days are backfilled on
# purpose, not automatically. With only the last two days, as before, a day the archive brought
# in never refreshed its features, metrics or forecasts on its own.
FRESH_DAYS = DEFAULT_ARCHIVE_WATCH_DAYS + 1


def fresh(ignoring: str | None = None) -> AutomationCondition:
    """Eager over the FRESH_DAYS newest days; with ``ignoring``, that dependency's updates and
    absence make nothing due (for a dependency on another asset's newest partition)."""
    eager = AutomationCondition.eager()
    if ignoring is not None:
        eager = eager.ignore(AssetSelection.assets(ignoring))
    return eager.replace(
        AutomationCondition.in_latest_time_window(),
        AutomationCondition.in_latest_time_window(timedelta(days=FRESH_DAYS)),
    )


FRESH = fresh()

# The run tags that make one run materialize a range of partitions. Dagster sets and reads them
# but exports no public name for them (they live in dagster._core.storage.tags).
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str | None = None) -> dict[str, str]:
    """Tags of a run over the partitions ``first``..``last`` (one partition if ``last`` is None)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last or first}


def daily_asset(**kwargs) -> Callable[..., AssetsDefinition]:
    """``@asset`` on the daily partitions, backfilled in runs of up to DAYS_PER_RUN days, owned by
    its group's team (``domain.keys.OWNERS_BY_GROUP``)."""
    if "group_name" in kwargs:
        kwargs.setdefault("owners", OWNERS_BY_GROUP[kwargs["group_name"]])

    def decorate(fn) -> AssetsDefinition:
        # backfill_policy is beta in Dagster 1.13; we rely on it knowingly (README, "Backfills"),
        # and say so here rather than in a process-wide warning filter.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
            return asset(partitions_def=daily_partitions, backfill_policy=daily_backfill_policy, **kwargs)(fn)

    return decorate


def raw_daily_asset(source, *, metadata: dict, check_specs: list, code_version: str, kind: str = "s3"):
    """``daily_asset`` for a source's raw partitions: group openaq, Parquet in the lake (the IO
    manager ``lake_io_manager``), the raw checks, transient errors retried. ``source`` is the
    external asset it reads, ``kind`` what that is (s3, api)."""
    return daily_asset(
        group_name="openaq",
        code_version=code_version,
        io_manager_key="lake_io_manager",
        kinds={kind, "parquet"},
        deps=[source],
        metadata=metadata,
        check_specs=check_specs,
        retry_policy=TRANSIENT_RETRIES,
    )
