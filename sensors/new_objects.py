"""Sensor: new OpenAQ objects in today's or yesterday's prefix -> re-materialize that day.

Also what both object sensors share (this one and ``new_archive_objects``): which listed days
changed since the last tick (``changed_days``, pure), the cursor, and the run requests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from domain.fingerprint import objects_fingerprint
from resources.openaq_bucket import OpenAQBucket
from resources.openaq_sources import OpenAQSources
from sources.objects import ObjectInfo
from sources.openaq_v1.names import object_name_error

WATCHED_DAYS = 2  # today and yesterday: late objects still land in yesterday's prefix
# The live source (realtime, archive, latest) of a sensor's runs: the instance caps the runs in
# flight per value (deploy/dagster.yaml), so a burst of days queues instead of taking every slot.
SOURCE_TAG = "openaq/source"
# What a skipped tick tells the user who expected runs from past data (e.g. the 2014 sample mirror).
REPLAY_HINT = (
    "the watched days end today (UTC); to replay past days, start the daemon with "
    "OPENAQ_SENSOR_NOW set to a time in them, e.g. OPENAQ_SENSOR_NOW=2014-01-05T12:00"
)


def sensor_now() -> datetime:
    """Now, or the time in ``OPENAQ_SENSOR_NOW`` to replay a past day (e.g. of the sample mirror)."""
    replay = os.environ.get("OPENAQ_SENSOR_NOW")
    if replay:
        return datetime.fromisoformat(replay).replace(tzinfo=UTC)
    return datetime.now(UTC)


def watched_days(now: datetime) -> list[str]:
    return [(now - timedelta(days=back)).date().isoformat() for back in range(WATCHED_DAYS)]


@dataclass(frozen=True)
class ChangedDay:
    """A listed day whose set of objects (keys and ETags) differs from the last tick's."""

    day: str
    fingerprint: str
    objects: int
    since_last_tick: int  # objects now minus objects then (negative if some disappeared)
    new: int  # objects not there at the last tick
    changed: int  # objects re-written (a new ETag) since the last tick


def changed_days(
    listings: Mapping[str, Sequence[ObjectInfo]], cursor: Mapping[str, dict]
) -> tuple[list[ChangedDay], dict[str, dict]]:
    """The days of ``listings`` whose objects differ from the cursor's, and the next cursor.

    The cursor keeps, for each listed day with objects and nothing else, the fingerprint of its
    (key, ETag) pairs, the number of objects and the newest LastModified: a few dozen bytes a
    day however many objects the day has, so it stays bounded by the number of watched days.
    New and changed are counted from those alone, assuming no object disappears (the buckets
    only add and re-write): objects modified after the newest one seen at the last tick are
    either new (the count grew by that many) or re-written. The counts are for the run's tags;
    what is requested depends on the fingerprint only.
    """
    changes, next_cursor = [], {}
    for day, objects in listings.items():
        if not objects:
            continue
        fingerprint = objects_fingerprint((o.key, o.etag) for o in objects)
        times = [o.last_modified for o in objects if o.last_modified is not None]
        next_cursor[day] = {"fingerprint": fingerprint, "objects": len(objects)}
        if times:
            next_cursor[day]["newest"] = max(times).isoformat()
        before = cursor.get(day, {})
        if before.get("fingerprint") == fingerprint:
            continue
        since_last_tick = len(objects) - before.get("objects", 0)
        if "newest" in before:
            newest_before = datetime.fromisoformat(before["newest"])
            modified = sum(1 for time in times if time > newest_before)
        else:
            modified = len(objects)  # a day not seen before (or a cursor without times)
        new = max(since_last_tick, 0)
        changes.append(ChangedDay(day, fingerprint, len(objects), since_last_tick, new, max(modified - new, 0)))
    return changes, next_cursor


def day_run_request(change: ChangedDay, source: str) -> RunRequest:
    """A run of the day's partition; the run key is the day and its objects' fingerprint, so the
    same objects never run twice, even after a cursor reset."""
    return RunRequest(
        run_key=f"{change.day}:{change.fingerprint}",
        partition_key=change.day,
        tags={
            SOURCE_TAG: source,
            "openaq/objects": str(change.objects),
            "openaq/objects_since_last_tick": str(change.since_last_tick),
            "openaq/objects_new": str(change.new),
            "openaq/objects_changed": str(change.changed),
            "openaq/fingerprint": change.fingerprint,
        },
    )


def request_changed_days(
    context: SensorEvaluationContext,
    listings: Mapping[str, Sequence[ObjectInfo]],
    source: str,
) -> list[RunRequest] | SkipReason:
    """A run for each listed day whose objects changed since the last tick; the cursor moves on."""
    seen = json.loads(context.cursor) if context.cursor else {}
    changes, cursor = changed_days(listings, seen)
    context.update_cursor(json.dumps(cursor, sort_keys=True))  # only the listed days: stays small
    return [day_run_request(change, source) for change in changes] or SkipReason(
        f"no new or changed objects in {', '.join(listings)}; {REPLAY_HINT}"
    )


@sensor(
    job_name="data_logistics",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Lists today's and yesterday's prefixes of the OpenAQ bucket; a day whose set of objects "
    "(keys and ETags) changed since the last tick is re-materialized (raw + harmonized). The run key is the "
    "day and its objects' fingerprint, so the same objects never run twice. Only while OPENAQ_SOURCES "
    "lists realtime.",
)
def new_openaq_objects(context: SensorEvaluationContext, openaq_bucket: OpenAQBucket, openaq_sources: OpenAQSources):
    if not openaq_sources.is_live("realtime"):
        return SkipReason(openaq_sources.not_live("realtime"))
    listings = {
        day: [o for o in openaq_bucket.list_day(day) if object_name_error(o.key) is None]
        for day in watched_days(sensor_now())
    }
    return request_changed_days(context, listings, source="realtime")
