"""Run-failure sensor: every failed run is recorded with its assets, partitions and error."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from dagster import DagsterEventType, DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

import toar.database
from asset_base.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from resources.toar_database import ToarDatabase

# Owned by this sensor, the only writer; created on its first failure (the TOAR schema does
# not depend on the sensors).
failure_metadata = sa.MetaData()
pipeline_failure = sa.Table(
    "pipeline_failure",
    failure_metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("job_name", sa.Text, nullable=False),
    sa.Column("assets", sa.Text, nullable=False),
    sa.Column("partitions", sa.Text, nullable=False),
    sa.Column("failed_steps", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime, nullable=False),
    comment="Failed Dagster runs, recorded by the run-failure sensor.",
)


def failed_partitions(tags: Mapping[str, str]) -> str:
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if PARTITION_RANGE_START_TAG in tags:
        return f"{tags[PARTITION_RANGE_START_TAG]}..{tags[PARTITION_RANGE_END_TAG]}"
    return ""


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Records every failed run (job, assets, partitions, failed steps, error) in the "
    "pipeline_failure table of the TOAR database and in the sensor's log.",
)
def record_run_failures(context: RunFailureSensorContext, toar_database: ToarDatabase):
    run = context.dagster_run
    steps = context.get_step_failure_events()
    planned = context.instance.get_records_for_run(
        run_id=run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit=1000
    ).records
    events = [r.event_log_entry.dagster_event for r in planned]
    assets = sorted({e.asset_key.to_user_string() for e in events if e is not None and e.asset_key is not None})
    row = {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "assets": ",".join(assets),
        "partitions": failed_partitions(run.tags),
        "failed_steps": ",".join(sorted({e.step_key for e in steps if e.step_key})),
        "error": (context.failure_event.message or "")[:4000],
        "failed_at": datetime.now(UTC).replace(tzinfo=None),
    }
    engine = toar_database.engine()
    # As every writer: created by the migration; a role with data privileges only gets the
    # message naming it rather than the server's permission error.
    toar.database.ensure_schema(engine, extra_tables=[pipeline_failure])
    with engine.begin() as conn:
        conn.execute(pipeline_failure.delete().where(pipeline_failure.c.run_id == run.run_id))
        conn.execute(pipeline_failure.insert(), [row])
    context.log.warning(f"run {run.run_id} of {run.job_name} failed: {row['failed_steps']} {row['partitions']}")
