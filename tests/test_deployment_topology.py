"""The production topology on loopback: a code server, a webserver and a daemon, three processes.

The code server (``dagster code-server start``) alone has the location variables, with
``DEPLOYMENT=production``; the webserver and the daemon have only the instance (``DAGSTER_HOME``
with deploy/dagster.yaml, on a throwaway PostgreSQL database) and the code server's address,
through deploy/workspace.yaml. A two-day backfill launched through the webserver's GraphQL runs
to success (its run executes under the code server) and writes the TOAR database. The liveness
probe (``python -m liveness``) passes against that code server and fails once its code process is
killed, and fails naming the variable against one started without ``TOAR_DATABASE_URL``; Dagster's
health check calls both healthy.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from liveness import load_error
from local_services.dagster_graphql import launch_backfill, loaded_sensors, stop_running_sensors
from local_services.loopback import free_port, wait_until, wait_until_serving
from local_services.postgres import throwaway_postgres
from resources.environment import DEFAULTS, PROJECT_ROOT
from sample_data.generator import generate_bucket
from tests.helpers import project_locations

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent
DAYS = ["2014-01-01", "2014-01-02"]
ASSETS = ("raw_openaq_measurements", "harmonized_toar_series")
# Variables only the code server may hold: the locations, and what configures the sources.
LOCATION_PREFIXES = ("OPENAQ_", "TOAR_", "DATA_LAKE_", "MLFLOW_")


def without_locations(env: dict) -> dict:
    return {
        name: value
        for name, value in env.items()
        if name not in DEFAULTS and name != "DEPLOYMENT" and not name.startswith(LOCATION_PREFIXES)
    }


@contextlib.contextmanager
def started(command: list, env: dict, log: Path):
    """A process in a session of its own (with its children: the code process, run workers),
    stopped with them afterwards, whatever happened."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(part) for part in command],
            env=env,
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def code_server(port: int) -> list:
    return [BIN / "dagster", "code-server", "start", "-m", "definitions", "-h", "127.0.0.1", "-p", port]


def probe(port: int, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "liveness", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def health_check(port: int, env: dict) -> int:
    """Dagster's own check of a code server: 0 when it answers."""
    command = [BIN / "dagster", "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.run(command, capture_output=True, env=env, timeout=60).returncode


def values_by_day(toar_url: str) -> dict[str, int]:
    engine = sa.create_engine(toar_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT o.partition_date, count(*) FROM data d JOIN raw_object o ON o.id = d.source_object_id "
                    "GROUP BY o.partition_date"
                )
            )
            return {str(day): count for day, count in rows}
    finally:
        engine.dispose()


def test_code_server_webserver_and_daemon_run_a_backfill_and_the_probe_tells_a_failed_load(tmp_path, monkeypatch):
    with throwaway_postgres("dagster") as dagster_url, throwaway_postgres("toar") as toar_url:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        mirror = tmp_path / "mirror"
        generate_bucket(mirror, date.fromisoformat(DAYS[0]), days=len(DAYS), stations=4, seed=7, objects_per_day=12)
        code_port, web_port = free_port(), free_port()
        # What the webserver and the daemon get: the instance and the code server's address.
        instance_env = {
            **without_locations(os.environ),
            "DEPLOYMENT": "production",  # they load no code, so production mode asks nothing of them
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(code_port),
        }
        locations = {
            **project_locations(tmp_path, bucket=mirror, database_url=toar_url),
            "DAGSTER_HOME": str(home),
            "OPENAQ_SOURCES": "none",  # no sensor of a live source
        }
        code_env = {**instance_env, **locations}
        migrated = subprocess.run(
            [sys.executable, "-m", "migrate"], env=code_env, cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_url)  # for this process's instance
        instance = DagsterInstance.from_config(str(home))
        workspace = PROJECT_ROOT / "deploy" / "workspace.yaml"
        try:
            with started(code_server(code_port), code_env, tmp_path / "code-server.log") as server:
                wait_until(
                    lambda: load_error("127.0.0.1", code_port) is None,
                    90,
                    "the code location",
                    tmp_path / "code-server.log",
                )
                passed = probe(code_port, instance_env)  # the probe needs no location variable either
                assert passed.returncode == 0, passed.stderr
                webserver = [BIN / "dagster-webserver", "-w", workspace, "-h", "127.0.0.1", "-p", web_port]
                with started(webserver, instance_env, tmp_path / "webserver.log") as web:
                    url = f"http://127.0.0.1:{web_port}/graphql"
                    wait_until_serving(f"http://127.0.0.1:{web_port}/server_info", web, timeout=60)
                    # Only the backfill's runs: the sensors stopped.
                    stop_running_sensors(
                        url, wait_until(lambda: loaded_sensors(url), 60, "the location in the webserver")
                    )
                    backfill_id = launch_backfill(url, DAYS, ASSETS)
                    # Started after the launch: the backfill daemon's first pass (then one every 30 s) takes it.
                    daemon_log = tmp_path / "daemon.log"
                    with started([BIN / "dagster-daemon", "run", "-w", workspace], instance_env, daemon_log):
                        backfill = wait_until(
                            lambda: (b := instance.get_backfill(backfill_id)).status.value != "REQUESTED" and b,
                            120,
                            "the backfill's end",
                            daemon_log,
                        )
                assert backfill.status.value == "COMPLETED_SUCCESS", (tmp_path / "daemon.log").read_text()[-3000:]
                runs = instance.get_runs(RunsFilter.for_backfill(backfill_id))
                assert runs and all(run.status == DagsterRunStatus.SUCCESS for run in runs)
                for asset in ASSETS:
                    assert instance.get_materialized_partitions(AssetKey(asset)) == set(DAYS), asset
                counts = values_by_day(toar_url)
                assert set(counts) == set(DAYS) and all(counts.values()), counts

                # Its code process killed: the proxy answers the health check, the probe fails.
                (code_process,) = psutil.Process(server.pid).children()
                code_process.kill()
                code_process.wait(timeout=10)
                assert health_check(code_port, instance_env) == 0
                dead = probe(code_port, instance_env)
                assert dead.returncode == 1 and "Could not reach user code server" in dead.stderr, dead.stderr

            # A code server whose location cannot load: healthy to Dagster's check, not to the probe.
            broken_port = free_port()
            broken_env = {name: value for name, value in code_env.items() if name != "TOAR_DATABASE_URL"}
            with started(code_server(broken_port), broken_env, tmp_path / "broken-code-server.log"):
                wait_until(
                    lambda: health_check(broken_port, instance_env) == 0,
                    60,
                    "the broken code server's health check",
                    tmp_path / "broken-code-server.log",
                )
                failed = probe(broken_port, instance_env)
                assert failed.returncode == 1
                assert "TOAR_DATABASE_URL unset" in failed.stderr, failed.stderr
        finally:
            instance.dispose()
