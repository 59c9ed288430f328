"""Sensor: new or patched files of the OpenAQ v3 archive in the last days -> re-materialize those days.

Each tick lists the followed locations' files (the stored ``openaq_locations`` catalog) of the
last ``archive_watch_days`` local days ending today (resource ``openaq_sources``; env
OPENAQ_ARCHIVE_WATCH_DAYS, default 10), fingerprints each day's (key, ETag) pairs and requests an
``archive_logistics`` run for exactly the days whose fingerprint changed since the last tick. A
file is written about 72 hours after its day ends and re-written with a new ETag when late data
arrive, days or weeks later: the window is how long such patches are followed; older days are
backfilled by hand. Only while OPENAQ_SOURCES lists ``archive``.

Today is the newest day watched, in UTC. A location far east (up to UTC+14) is already in the
next day, but that local day has not ended, so it has no file yet (nor is it a partition: the
daily partitions end with today).

Listing cost per tick: one LIST per followed location and month the window touches (a month
prefix holds every day's key and ETag, up to 1000 keys a page; ``OpenAQBucket.archive_day``
lists each location-month once per tick). With 1,000 locations and 10 days that is 1,000 LISTs,
or 2,000 while the window spans two months: at S3's LIST price in us-east-1 ($0.005 per 1,000
requests) $0.005-0.01 a tick, paid by the bucket's owner, as the archive is a public bucket read
with anonymous requests (S3 refuses anonymous requests to a Requester Pays bucket). The LISTs
run one after another: 2,000 of them (1,000 locations, 10 days over two months) took 20-26 s
against moto's S3 server on loopback, 8-9 ms a LIST (median), 10-13 ms with the client's own
work. Real S3's round trips are longer than loopback's, and Dagster gives a sensor evaluation
60 s (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS): beyond about 1,000 locations, raise it.
"""

from __future__ import annotations

from datetime import date, timedelta

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    ResourceParam,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from domain.keys import LOCATIONS
from resources.openaq_bucket import OpenAQBucket
from resources.openaq_sources import OpenAQSources
from resources.parquet_io_manager import ParquetIOManager
from sensors.new_objects import request_changed_days, sensor_now

# Files arrive once a day, 3 days late, and patches days later: an hour's delay adds little to
# that, and keeps the listing at 24 ticks a day (24,000-48,000 LISTs for 1,000 locations).
TICK_SECONDS = 60 * 60


def archive_watched_days(today: date, days: int) -> list[date]:
    """The ``days`` local days ending with ``today``, newest first."""
    return [today - timedelta(days=back) for back in range(days)]


@sensor(
    job_name="archive_logistics",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists the followed locations' archive files of the last OPENAQ_ARCHIVE_WATCH_DAYS local days "
    "(one LIST per location and month); a day whose set of files (keys and ETags) changed since the last tick, "
    "new files or patched ones, is re-materialized (raw + harmonized). The run key is the day and its files' "
    "fingerprint. Only while OPENAQ_SOURCES lists archive.",
)
def new_archive_objects(
    context: SensorEvaluationContext,
    openaq_sources: OpenAQSources,
    openaq_archive: OpenAQBucket,
    lake_io_manager: ResourceParam[ParquetIOManager],  # the IO manager itself, to read the stored catalog
) -> list[RunRequest] | SkipReason:
    if not openaq_sources.is_live("archive"):
        return SkipReason(openaq_sources.not_live("archive"))
    catalog = lake_io_manager.existing_partition(AssetKey(LOCATIONS), None)
    if catalog is None or catalog.num_rows == 0:
        return SkipReason(
            f"no followed locations stored: materialize {LOCATIONS} (the locations job) for the archive to be watched"
        )
    location_ids = catalog.column("location_id").to_pylist()
    days = archive_watched_days(sensor_now().date(), openaq_sources.archive_watch_days)
    listings = {day.isoformat(): openaq_archive.archive_day(location_ids, day)[0] for day in days}
    return request_changed_days(context, listings, source="archive")
