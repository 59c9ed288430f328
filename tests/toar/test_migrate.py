"""`python -m migrate` creates the schemas with the owner's credentials; runs then need only data
privileges, and without it a run fails naming the command. On PostgreSQL, with a role that
cannot create tables."""

import contextlib
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

import migrate
from forecasting.tables import ozone_forecast
from local_services.postgres import throwaway_postgres
from resources.toar_database import ToarDatabase, ToarDatabaseError
from sensors.failures import pipeline_failure
from tests.conftest import project_resources
from tests.helpers import materialize_days, project_locations
from toar.database import MIGRATION_COMMAND
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.postgres


@contextlib.contextmanager
def data_role(url: str):
    """A login role on the database at ``url`` that may read and write the tables there now, and
    create none; yields the database's URL as that role."""
    role = f"toar_writer_{uuid.uuid4().hex[:8]}"
    owner = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sa.text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    try:
        yield sa.engine.make_url(url).set(username=role).render_as_string(hide_password=False)
    finally:
        with owner.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"))
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        owner.dispose()


@pytest.fixture
def databases(tmp_path, monkeypatch):
    """Throwaway TOAR and MLflow databases, and every location variable set under ``tmp_path``."""
    with throwaway_postgres() as toar_url, throwaway_postgres("mlflow") as mlflow_url:
        env = {**project_locations(tmp_path), "TOAR_DATABASE_URL": toar_url, "MLFLOW_TRACKING_URI": mlflow_url}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield toar_url, mlflow_url


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migration_lets_a_role_with_data_privileges_run_a_day(databases, two_day_mirror, tmp_path, capsys):
    toar_url, mlflow_url = databases
    assert migrate.main([]) == 0
    assert "dagster instance migrate" in capsys.readouterr().out
    assert {"data", "ozone_forecast", "pipeline_failure"} <= _tables(toar_url)
    assert {"experiments", "runs", "alembic_version"} <= _tables(mlflow_url)  # MLflow's own migrations
    assert migrate.main([]) == 0  # a current schema is left as it is

    with data_role(toar_url) as writer_url:
        # A harmonized day, through the code location's resources, as the role.
        with project_resources(tmp_path, two_day_mirror, writer_url) as resources:
            materialize_days(
                [raw_openaq_measurements, harmonized_toar_series],
                resources,
                "2014-01-01",
                instance=DagsterInstance.ephemeral(),
            )
        # The forecast table and the run-failure sensor's statements, as the role.
        engine = ToarDatabase(url=writer_url).engine()
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM data")).scalar() > 0
            station = conn.execute(sa.text("SELECT min(id) FROM stationmeta_core")).scalar()
            conn.execute(
                ozone_forecast.insert(),
                [
                    {
                        "station_id": station,
                        "target_time": datetime(2014, 1, 1, 12),
                        "model_name": "m",
                        "model_version": "1",
                        "issue_time": datetime(2014, 1, 1, 11),
                        "horizon_hours": 1,
                        "value": 30.0,
                        "mlflow_run_id": "r",
                        "dagster_run_id": "d",
                    }
                ],
            )
            pipeline_failure.create(conn, checkfirst=True)
            conn.execute(pipeline_failure.delete().where(pipeline_failure.c.run_id == "d"))
            fields = ("job_name", "assets", "partitions", "failed_steps", "error")
            conn.execute(
                pipeline_failure.insert(),
                [{"run_id": "d", "failed_at": datetime(2014, 1, 2), **dict.fromkeys(fields, "x")}],
            )
        engine.dispose()


def test_without_the_migration_a_run_fails_naming_the_command(databases):
    toar_url, _ = databases
    with data_role(toar_url) as writer_url, pytest.raises(ToarDatabaseError) as raised:
        ToarDatabase(url=writer_url).engine()
    message = str(raised.value)
    assert f"run `{MIGRATION_COMMAND}` with the schema owner's credentials" in message
    assert "create table data" in message and "create table ozone_forecast" in message
