"""The production path: PostgreSQL instance storage, S3 intermediates, PostgreSQL TOAR and MLflow stores.

Everything runs on this machine: throwaway databases on the local PostgreSQL server and moto's
S3 server on a loopback port.
"""

import os
import shutil
import subprocess
import sys
from datetime import date

import boto3
import pytest
import sqlalchemy as sa

import toar.database
from local_services.postgres import throwaway_postgres
from resources.environment import PROJECT_ROOT
from sample_data.generator import generate_bucket
from tests.helpers import project_locations

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def upload_sample_bucket(endpoint, tmp_path, days):
    generate_bucket(tmp_path / "mirror", date(2014, 1, 1), days=days, stations=30, seed=2014, objects_per_day=24)
    client = s3(endpoint)
    for bucket in ("openaq-fetches", "lake", "mlflow-artifacts"):
        client.create_bucket(Bucket=bucket)
    for path in sorted((tmp_path / "mirror").rglob("*")):
        if path.is_file():
            key = f"realtime-gzipped/{path.relative_to(tmp_path / 'mirror').as_posix()}"
            client.put_object(Bucket="openaq-fetches", Key=key, Body=path.read_bytes())


def production_home(tmp_path, dagster_url) -> str:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return str(home)


def keys(endpoint, bucket, prefix=""):
    return sorted(o["Key"] for o in s3(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_backfill_and_training_on_postgres_and_s3(s3_endpoint, tmp_path):
    upload_sample_bucket(s3_endpoint, tmp_path, days=6)
    with (
        throwaway_postgres("dagster") as dagster_url,
        throwaway_postgres("toar") as toar_url,
        throwaway_postgres("mlflow") as mlflow_url,
    ):
        env = {
            **os.environ,
            "DAGSTER_HOME": production_home(tmp_path, dagster_url),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "OPENAQ_BUCKET_URL": "s3://openaq-fetches/realtime-gzipped",
            "OPENAQ_S3_ENDPOINT_URL": s3_endpoint,
            "OPENAQ_S3_UNSIGNED": "false",  # a private mirror: signed requests
            "DATA_LAKE_URL": "s3://lake/intermediates",
            "DATA_LAKE_S3_ENDPOINT_URL": s3_endpoint,
            "TOAR_DATABASE_URL": toar_url,
            "MLFLOW_TRACKING_URI": mlflow_url,
            "MLFLOW_ARTIFACT_LOCATION": "s3://mlflow-artifacts/ozone-forecast",
            "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        }
        result = subprocess.run(
            [sys.executable, "-m", "main_job", "--source", "realtime", "--start", "2014-01-01", "--end", "2014-01-06"],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Model ozone-forecast version 1" in result.stdout

        # The event log is in PostgreSQL.
        with sa.create_engine(dagster_url).connect() as conn:
            materialized = conn.execute(
                sa.text(
                    "SELECT asset_key, count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                    "GROUP BY asset_key"
                )
            ).all()
            runs = conn.execute(sa.text("SELECT status FROM runs")).scalars().all()
        counts = {key.strip('["]'): n for key, n in materialized}
        assert counts == {
            "raw_openaq_measurements": 6,
            "harmonized_toar_series": 6,
            "ozone_features": 5,
            "ozone_forecast_model": 1,
            "ozone_forecasts": 1,
            "toar_daily_metrics": 5,  # on PostgreSQL too; too few days for the dma8eu model
        }
        assert runs and set(runs) == {"SUCCESS"}

        # Intermediates are Parquet objects in the bucket.
        assert keys(s3_endpoint, "lake", "intermediates/raw_openaq_measurements/") == [
            f"intermediates/raw_openaq_measurements/2014-01-0{d}.parquet" for d in range(1, 7)
        ]
        assert len(keys(s3_endpoint, "lake", "intermediates/ozone_features/")) == 5

        # The TOAR tables are in PostgreSQL.
        engine = toar.database.create_engine(toar_url)
        with engine.connect() as conn:
            count = {
                t: conn.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar_one()
                for t in ("stationmeta_core", "timeseries", "data", "quarantine", "ozone_forecast")
            }
        engine.dispose()
        assert all(n > 0 for n in count.values()), count

        # The model is registered in the PostgreSQL-backed registry, its artifacts in S3.
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
        champion = client.get_model_version_by_alias("ozone-forecast", "champion")
        assert str(champion.version) == "1"
        assert any(k.endswith("MLmodel") for k in keys(s3_endpoint, "mlflow-artifacts"))


def test_parallel_partitions_share_the_database_safely(tmp_path, monkeypatch):
    """Four partitions in four concurrent runs (one process each, multiprocess executor), with the
    database writers in a pool of one."""
    import pandas as pd
    from dagster import DagsterInstance

    from resources.openaq_bucket import OpenAQBucket
    from sources.openaq_v1.reader import read_objects
    from toar.harmonize import SERIES_KEY, harmonize

    generate_bucket(tmp_path / "mirror", date(2014, 1, 1), days=4, stations=15, seed=9, objects_per_day=24)
    days = [f"2014-01-0{d}" for d in range(1, 5)]
    with throwaway_postgres("dagster") as dagster_url, throwaway_postgres("toar") as toar_url:
        locations = project_locations(tmp_path, database_url=toar_url)
        for name, value in {
            **locations,
            "DAGSTER_HOME": production_home(tmp_path, dagster_url),
            "DAGSTER_POSTGRES_URL": dagster_url,
        }.items():
            monkeypatch.setenv(name, value)
        with DagsterInstance.get() as instance:
            instance.event_log_storage.set_concurrency_slots("toar_database", 1)
            logs = [(tmp_path / f"{day}.log").open("wb") for day in days]
            runs = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.parallel_jobs", day],
                    cwd=PROJECT_ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
                for day, log in zip(days, logs, strict=True)
            ]
            for run, log in zip(runs, logs, strict=True):
                run.wait(timeout=600)
                log.close()
            # A failed run's reason is in the event log, not in the tail of its stderr.
            failures = [
                (e.step_key, e.dagster_event.event_specific_data.error.to_string())
                for record in instance.get_run_records()
                for e in instance.all_logs(record.dagster_run.run_id)
                if e.dagster_event
                and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")
                and getattr(e.dagster_event.event_specific_data, "error", None)
            ]
            print(*(f"{step}: {error}" for step, error in failures), sep="\n")  # whole, where pytest shortens
            assert [run.returncode for run in runs] == [0] * len(days), failures

            # The pool held the database writers to one at a time.
            spans = []
            for record in instance.get_run_records():
                events = {
                    e.dagster_event.event_type_value: e.timestamp
                    for e in instance.all_logs(record.dagster_run.run_id)
                    if e.dagster_event and e.step_key == "harmonized_toar_series"
                }
                spans.append((events["STEP_START"], events["STEP_SUCCESS"]))
            spans.sort()
            assert len(spans) == len(days)
            assert all(earlier[1] <= later[0] + 0.5 for earlier, later in zip(spans, spans[1:], strict=False)), spans

        # No duplicate stations or series, no lost rows: the database holds exactly what the days make.
        bucket = OpenAQBucket(url=str(tmp_path / "mirror"))
        harmonized = [harmonize(read_objects(bucket.list_day(day), bucket.read)[0]) for day in days]
        observations = pd.concat([h.observations for h in harmonized])
        expected = {
            "stationmeta_core": len(
                pd.concat([h.stations for h in harmonized])[["lat_key", "lon_key"]].drop_duplicates()
            ),
            "timeseries": len(observations[SERIES_KEY].drop_duplicates()),
            "data": len(observations[SERIES_KEY + ["datetime"]].drop_duplicates()),
            "quarantine": sum(len(h.quarantine) for h in harmonized),
        }
        engine = toar.database.create_engine(toar_url)
        with engine.connect() as conn:
            found = {
                t: conn.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar_one() for t in expected
            }
        engine.dispose()
        assert found == expected
