"""No orphan writer, on PostgreSQL with the daemon running: kill -9 the run worker of a run whose
writing step runs in a process of its own (the multiprocess executor) and holds the only
``toar_database`` pool slot. The run is marked failed, its slot freed within the configured
bound, the orphaned step does not commit and exits, and the daemon's retry writes the day once.

The instance is deploy/dagster.yaml's (PostgreSQL storage, run monitoring, slot freeing, run
retries) with shorter bounds and a pool of one slot, so the retry can only write once the dead
run's slot is freed.
"""

import os
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterEventType, DagsterRunStatus

from local_services.loopback import wait_until
from local_services.postgres import throwaway_postgres
from resources.environment import PROJECT_ROOT
from tests.orphan_writer_job import DAY, STATIONS
from tests.test_run_monitoring import launch, messages, running_daemon, worker_pid

JOB_MODULE = PROJECT_ROOT / "tests" / "orphan_writer_job.py"
TEST_MONITORING = {"poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 3}
SLOTS_FREED_WITHIN = TEST_MONITORING["poll_interval_seconds"] + TEST_MONITORING["free_slots_after_run_end_seconds"] + 5
POOL = "toar_database"


def rows_of_the_day(toar_url: str) -> tuple[int, int]:
    """The day's raw objects and values in the TOAR database (none before its schema exists)."""
    engine = sa.create_engine(toar_url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("raw_object"):
                return 0, 0
            objects = conn.execute(sa.text("SELECT count(*) FROM raw_object WHERE partition_date = :d"), {"d": DAY})
            values = conn.execute(
                sa.text(
                    "SELECT count(*) FROM data d JOIN raw_object o ON o.id = d.source_object_id WHERE o.partition_date = :d"
                ),
                {"d": DAY},
            )
            return objects.scalar_one(), values.scalar_one()
    finally:
        engine.dispose()


def step_error(instance, run_id: str):
    """The error the run's step failed with (stored by the step's own process)."""
    (failure,) = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    return failure.dagster_event.step_failure_data.error


def gone(pid: int) -> bool:
    """The process has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.slow
def test_a_killed_run_worker_leaves_no_orphan_writer_frees_its_slot_and_is_retried(tmp_path):
    with throwaway_postgres("dagster") as dagster_url, throwaway_postgres("toar") as toar_url:
        home = tmp_path / "home"
        home.mkdir()
        settings = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
        settings["run_monitoring"].update(TEST_MONITORING)
        settings["concurrency"]["pools"]["default_limit"] = 1
        (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
        workspace = tmp_path / "workspace.yaml"
        location = {"relative_path": str(JOB_MODULE), "working_directory": str(PROJECT_ROOT)}
        workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": location}]}))
        ready, hold = tmp_path / "ready", tmp_path / "hold"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "ORPHAN_TOAR_URL": toar_url,
            "ORPHAN_READY_FILE": str(ready),
            "ORPHAN_HOLD_FILE": str(hold),
        }
        os.environ["DAGSTER_POSTGRES_URL"] = dagster_url  # for this process's instance
        hold.touch()
        try:
            with running_daemon(tmp_path, workspace, env) as instance:
                run_id = launch(workspace, env, "orphan_writer")
                wait_until(ready.exists, 60, "the step at its commit")
                step_pid = int(ready.read_text())
                assert instance.event_log_storage.get_concurrency_info(POOL).active_run_ids == {run_id}
                run_worker = worker_pid(instance, run_id)
                assert run_worker is not None and run_worker != step_pid  # the step runs in a process of its own

                os.kill(run_worker, signal.SIGKILL)
                killed = time.monotonic()
                wait_until(
                    lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE,
                    5,
                    "the run marked failed",
                )
                failed = time.monotonic() - killed
                assert not gone(step_pid)  # the orphan: its run worker is dead and it goes on
                hold.unlink()  # ... to its commit, after the run was marked failed
                wait_until(lambda: gone(step_pid), 30, "the orphaned step exited")
                assert rows_of_the_day(toar_url) == (0, 0)  # it committed nothing
                assert "RunNotAlive: 2014-01-01 of orphan_day not committed" in step_error(instance, run_id).to_string()

                wait_until(
                    lambda: run_id not in instance.event_log_storage.get_concurrency_info(POOL).active_run_ids,
                    SLOTS_FREED_WITHIN,
                    "the dead run's pool slot freed",
                )
                freed = time.monotonic() - killed

                retry_id = wait_until(
                    lambda: instance.get_run_by_id(run_id).tags.get("dagster/auto_retry_run_id"), 30, "a retry"
                )
                wait_until(
                    lambda: (
                        instance.get_run_by_id(retry_id).status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
                    ),
                    60,
                    "the retry finished",
                )
                retried = time.monotonic() - killed
                assert instance.get_run_by_id(retry_id).status == DagsterRunStatus.SUCCESS, messages(instance, retry_id)
                assert rows_of_the_day(toar_url) == (1, STATIONS)  # written once, by the retry
                assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE  # status and data agree
                print(
                    f"after the kill: FAILURE {failed:.1f} s, slot freed {freed:.1f} s, retry succeeded {retried:.1f} s"
                )
        finally:
            os.environ.pop("DAGSTER_POSTGRES_URL", None)
