"""Sensors evaluated with build_sensor_context against a local bucket the tests drop objects into."""

from datetime import date

import pytest
import sqlalchemy as sa
from dagster import (
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

import sensors.failures
from asset_base.partitions import partition_range_tags
from resources.openaq_bucket import OpenAQBucket
from resources.openaq_sources import OpenAQSources
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
from sensors.failures import record_run_failures
from sensors.new_objects import new_openaq_objects, watched_days
from sensors.retraining import Champion, RecentError, RetrainingPolicy, retraining_reasons
from tests.conftest import project_resources
from tests.helpers import with_stored_upstreams
from tests.openaq_fixtures import record, write_object
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

TODAY, YESTERDAY = "2014-01-05", "2014-01-04"


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAQ_SENSOR_NOW", f"{TODAY}T12:30:00")
    root = tmp_path / "bucket"
    write_object(root, YESTERDAY, "1388836800.ndjson.gz", [record()])
    write_object(root, YESTERDAY, "1388837400_a.ndjson", [record()], gz=False)
    write_object(root, TODAY, "1388923200.ndjson.gz", [record()])
    write_object(root, "2014-01-01", "1388577600.ndjson.gz", [record()])  # outside the window
    (root / TODAY / "README.txt").write_text("not an object")
    return root


def tick(bucket, cursor=None, sources=None):
    context = build_sensor_context(
        cursor=cursor,
        resources={"openaq_bucket": OpenAQBucket(url=str(bucket)), "openaq_sources": sources or OpenAQSources()},
    )
    result = new_openaq_objects(context)
    requests = result if isinstance(result, list) else []
    return requests, context.cursor, result


def test_watched_days_are_today_and_yesterday():
    from datetime import datetime

    assert watched_days(datetime(2014, 1, 5, 0, 10)) == [TODAY, YESTERDAY]


def test_first_tick_requests_each_day_with_objects_then_nothing_until_a_new_object(bucket):
    requests, cursor, _ = tick(bucket)
    assert sorted(r.partition_key for r in requests) == [YESTERDAY, TODAY]
    assert all(isinstance(r, RunRequest) and r.run_key.startswith(r.partition_key) for r in requests)
    by_day = {r.partition_key: r for r in requests}
    assert by_day[YESTERDAY].tags["openaq/objects"] == "2"  # the odd README.txt is not an object
    assert {r.tags["openaq/source"] for r in requests} == {"realtime"}  # the instance limits runs per source

    again, cursor2, skipped = tick(bucket, cursor)
    assert again == [] and isinstance(skipped, SkipReason) and cursor2 == cursor
    # The skip says which days were watched, and how to replay past ones.
    assert skipped.skip_message.startswith(f"no new or changed objects in {TODAY}, {YESTERDAY}")
    assert "OPENAQ_SENSOR_NOW=" in skipped.skip_message

    write_object(bucket, TODAY, "1388925000_b.ndjson", [record(value=0.05)], gz=False)
    new, cursor3, _ = tick(bucket, cursor2)
    assert [r.partition_key for r in new] == [TODAY]
    assert new[0].tags["openaq/objects_since_last_tick"] == "1"
    assert new[0].run_key != by_day[TODAY].run_key  # new objects, new run key
    assert tick(bucket, cursor3)[0] == []


def test_nothing_is_listed_or_requested_while_realtime_is_not_live(bucket):
    requests, cursor, result = tick(bucket, cursor='{"kept": {}}', sources=OpenAQSources(live=["archive"]))
    assert requests == [] and cursor == '{"kept": {}}'
    assert isinstance(result, SkipReason)
    assert result.skip_message == OpenAQSources(live=["archive"]).not_live("realtime")
    assert "'realtime' is not live (OPENAQ_SOURCES=archive)" in result.skip_message


def test_a_changed_object_counts_as_new(bucket):
    _, cursor, _ = tick(bucket)
    write_object(bucket, YESTERDAY, "1388836800.ndjson.gz", [record(value=0.09)])  # republished, new ETag
    assert [r.partition_key for r in tick(bucket, cursor)[0]] == [YESTERDAY]


def test_run_keys_repeat_for_the_same_objects(bucket):
    first, _, _ = tick(bucket)
    fresh_cursor_again, _, _ = tick(bucket)  # e.g. a reset cursor: Dagster drops runs with known keys
    assert sorted(r.run_key for r in first) == sorted(r.run_key for r in fresh_cursor_again)


def test_tick_then_run_materializes_what_it_requested(bucket, tmp_path):
    """The daemon-free equivalent of a sensor tick: evaluate, then execute each request."""
    from definitions import defs

    requests, _, _ = tick(bucket)
    instance = DagsterInstance.ephemeral()
    with project_resources(tmp_path, bucket):
        job = defs().resolve_job_def("data_logistics")
        for request in requests:
            result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
            assert result.success
    for asset in ("raw_openaq_measurements", "harmonized_toar_series"):
        from dagster import AssetKey

        assert instance.get_materialized_partitions(AssetKey(asset)) == {YESTERDAY, TODAY}


POLICY = RetrainingPolicy(min_new_partitions=3, drift_factor=1.5, min_scored_forecasts=20, max_age_days=7)
CHAMPION = Champion(version="4", trained_day=date(2014, 1, 10), holdout_rmse=2.0)


def days(first: int, last: int) -> list[date]:
    return [date(2014, 1, d) for d in range(first, last + 1)]


@pytest.mark.parametrize(
    ("champion", "harmonized", "recent", "expected"),
    [
        (CHAMPION, days(1, 12), RecentError(2.1, 50), []),  # two new days, no drift, young
        (CHAMPION, days(1, 13), RecentError(2.1, 50), ["new_data"]),
        (CHAMPION, days(1, 11), RecentError(3.5, 50), ["drift"]),
        (CHAMPION, days(1, 11), RecentError(3.5, 5), []),  # too few scored forecasts to judge
        (CHAMPION, [date(2014, 1, 17)], None, ["age"]),  # one new day, but a week newer
        (CHAMPION, days(1, 17), RecentError(9.0, 50), ["new_data", "drift", "age"]),
        (None, days(1, 7), None, ["no_champion"]),
        (None, days(1, 6), None, []),
        (CHAMPION, [], None, []),
    ],
)
def test_retraining_fires_for_each_reason_and_not_otherwise(champion, harmonized, recent, expected):
    assert [name for name, _ in retraining_reasons(champion, harmonized, recent, POLICY)] == expected


def test_failed_run_is_recorded_with_assets_and_partitions(tmp_path):
    write_object(tmp_path / "bucket", "2014-01-01", "1388577600.ndjson.gz", [record()])
    instance = DagsterInstance.ephemeral()
    with project_resources(
        tmp_path, tmp_path / "bucket", quality_gates=QualityGates(max_cost_usd_per_partition=0.0)
    ) as resources:
        tags = partition_range_tags("2014-01-01", "2014-01-01")
        result = materialize(
            with_stored_upstreams([raw_openaq_measurements, harmonized_toar_series]),
            resources=resources,
            instance=instance,
            tags=tags,
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
        context = build_run_status_sensor_context(
            sensor_name="record_run_failures",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
        ).for_run_failure()
        database = ToarDatabase(url=f"sqlite:///{tmp_path / 'toar.sqlite'}")
        record_run_failures(context, toar_database=database)
    with database.engine().connect() as conn:
        rows = conn.execute(sa.select(sensors.failures.pipeline_failure)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["run_id"] == result.run_id and row["partitions"] == "2014-01-01..2014-01-01"
    assert "raw_openaq_measurements" in row["failed_steps"], dict(row)
    assert "raw_openaq_measurements" in row["assets"] and row["error"]
