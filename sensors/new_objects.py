"""Sensor: new OpenAQ objects in today's or yesterday's prefix -> re-materialize that day."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from domain.fingerprint import objects_fingerprint
from resources.openaq_bucket import OpenAQBucket
from sources.openaq_v1.names import object_name_error

WATCHED_DAYS = 2  # today and yesterday: late objects still land in yesterday's prefix


def sensor_now() -> datetime:
    """Now, or the time in ``OPENAQ_SENSOR_NOW`` to replay a past day (e.g. of the sample mirror)."""
    replay = os.environ.get("OPENAQ_SENSOR_NOW")
    if replay:
        return datetime.fromisoformat(replay).replace(tzinfo=UTC)
    return datetime.now(UTC)


def watched_days(now: datetime) -> list[str]:
    return [(now - timedelta(days=back)).date().isoformat() for back in range(WATCHED_DAYS)]


@sensor(
    job_name="data_logistics",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists today's and yesterday's prefixes of the OpenAQ bucket; a day whose set of objects "
    "(keys and ETags) changed since the last tick is re-materialized (raw + harmonized). The run key is the "
    "day and its objects' fingerprint, so the same objects never run twice.",
)
def new_openaq_objects(context: SensorEvaluationContext, openaq_bucket: OpenAQBucket):
    seen = json.loads(context.cursor) if context.cursor else {}
    cursor, requests = {}, []
    days = watched_days(sensor_now())
    for day in days:
        objects = [o for o in openaq_bucket.list_day(day) if object_name_error(o.key) is None]
        if not objects:
            continue
        fingerprint = objects_fingerprint((o.key, o.etag) for o in objects)
        cursor[day] = {"fingerprint": fingerprint, "objects": len(objects)}
        before = seen.get(day, {})
        if before.get("fingerprint") != fingerprint:
            requests.append(
                RunRequest(
                    run_key=f"{day}:{fingerprint}",
                    partition_key=day,
                    tags={
                        "openaq/objects": str(len(objects)),
                        "openaq/objects_since_last_tick": str(len(objects) - before.get("objects", 0)),
                        "openaq/fingerprint": fingerprint,
                    },
                )
            )
    context.update_cursor(json.dumps(cursor, sort_keys=True))  # only the watched days: stays small
    return requests or SkipReason(f"no new objects in {', '.join(days)}")
