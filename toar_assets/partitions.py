"""Daily partitions by fetch day (the S3 prefix date), shared by every daily asset."""

import warnings

from dagster import BackfillPolicy, BetaWarning, DailyPartitionsDefinition

# backfill_policy is beta in Dagster 1.13; we rely on it knowingly (README, "Backfills").
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)

# OpenAQ's first real-time fetches predate 2014; the current (incomplete) day is a partition
# too, so near-real-time data lands the day it is published.
daily_partitions = DailyPartitionsDefinition(start_date="2013-11-01", end_offset=1)

# Bounded batches: one run per up to a week of days. A run costs a few seconds of start-up,
# so batching amortizes it, while a failure costs at most one batch, batches of a long backfill
# run in parallel, and memory holds at most one batch of raw tables.
DAYS_PER_RUN = 7
daily_backfill_policy = BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN)
