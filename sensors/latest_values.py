"""Sensor: every 15 minutes, a poll of OpenAQ's v3 API for the followed parameters' latest values.

Each tick requests a ``latest_logistics`` run of today's (UTC) partition: raw_openaq_latest
polls the API and appends what is new, harmonized_toar_series writes the day to the TOAR
database, flagged preliminary, until the archive's files replace the values. The run key is
the 15-minute slot, so a slot is polled once however often the sensor is evaluated.

Request budget: one request per followed parameter id and page of 1,000 values (6 ids by
default: 6 to about 20 requests a poll), so at most about 80 an hour against OpenAQ's 60 a
minute and 2,000 an hour (see ``resources.openaq_latest``). The sensor itself asks the API
nothing.

Skips, with the reason: ``latest`` not in OPENAQ_SOURCES; no OPENAQ_API_KEY (the API needs one;
the archive does not); no followed locations stored yet.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
from resources.openaq_latest import NO_KEY, OpenAQLatest
from resources.openaq_sources import OpenAQSources
from resources.parquet_io_manager import ParquetIOManager
from sensors.new_objects import SOURCE_TAG
from toar_assets.latest import POLL_MINUTES


def poll_slot(now: datetime) -> datetime:
    """The start of the 15-minute slot ``now`` is in."""
    return now.replace(minute=now.minute - now.minute % POLL_MINUTES, second=0, microsecond=0)


@sensor(
    job_name="latest_logistics",
    minimum_interval_seconds=POLL_MINUTES * 60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 15 minutes, a run of today's latest_logistics: polls OpenAQ's v3 API for the followed "
    "parameters' latest values (one request per parameter id and page of 1,000), appends the new ones and "
    "writes them to the TOAR database, preliminary until the archive replaces them. The run key is the slot. "
    "Only while OPENAQ_SOURCES lists latest and OPENAQ_API_KEY is set.",
)
def latest_openaq_values(
    context: SensorEvaluationContext,
    openaq_sources: OpenAQSources,
    openaq_latest: OpenAQLatest,
    lake_io_manager: ResourceParam[ParquetIOManager],  # the IO manager itself, to read the stored catalog
) -> RunRequest | SkipReason:
    if not openaq_sources.is_live("latest"):
        return SkipReason(openaq_sources.not_live("latest"))
    if not openaq_latest.api_key:
        return SkipReason(f"{NO_KEY}; the archive's values still arrive without one")
    catalog = lake_io_manager.existing_partition(AssetKey(LOCATIONS), None)
    if catalog is None or catalog.num_rows == 0:
        return SkipReason(
            f"no followed locations stored: materialize {LOCATIONS} (the locations job) for their latest values"
        )
    slot = poll_slot(datetime.now(UTC))  # not OPENAQ_SENSOR_NOW: the API has only the present to give
    return RunRequest(
        run_key=f"latest:{slot:%Y-%m-%dT%H:%MZ}",
        partition_key=slot.date().isoformat(),
        tags={SOURCE_TAG: "latest", "openaq/poll_slot": slot.isoformat()},
    )
