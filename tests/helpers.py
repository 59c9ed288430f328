"""Helpers the test modules share: project locations, materializing days, reading results back."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance, materialize

import toar.schema
from asset_base.partitions import partition_range_tags
from resources.environment import DEFAULTS

LOCATION_VARIABLES = tuple(DEFAULTS)  # every location the code location reads


def project_locations(
    root: Path, bucket: Path | str | None = None, database_url: str | None = None, archive: Path | str | None = None
) -> dict[str, str]:
    """Every location variable of the README's configuration table, pointed under ``root``."""
    return {
        "OPENAQ_BUCKET_URL": str(bucket if bucket is not None else root / "mirror"),
        "OPENAQ_ARCHIVE_URL": str(archive if archive is not None else root / "archive"),
        "TOAR_DATABASE_URL": database_url or f"sqlite:///{root / 'toar.sqlite'}",
        "DATA_LAKE_URL": str(root / "lake"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.sqlite'}",
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def with_stored_upstreams(assets: list) -> list:
    """``assets`` plus, for each raw asset they read but do not hold, that asset as a source: its
    partitions are read from the lake (none there: the input has none), as a run of the code
    location reads the assets it does not materialize."""
    from toar_assets.archive import openaq_locations, raw_openaq_archive
    from toar_assets.assets import raw_openaq_measurements
    from toar_assets.latest import raw_openaq_latest

    held = {key for a in assets for key in getattr(a, "keys", {getattr(a, "key", None)})}
    read = {key for a in assets for key in getattr(a, "dependency_keys", ())}
    sources = [
        source
        for upstream in (raw_openaq_measurements, raw_openaq_archive, raw_openaq_latest, openaq_locations)
        if upstream.key in read - held
        for source in upstream.to_source_assets()
    ]
    return [*assets, *sources]


ARCHIVE_BUCKET = "openaq-data-archive"


def upload_archive(endpoint: str, root: Path, keys: list[str]) -> None:
    """Put each file at its path below ``root`` (``records/csv.gz/...``) in the archive bucket of
    the S3 server at ``endpoint``, public as the real archive is (read with unsigned requests)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    if ARCHIVE_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    for key in keys:
        s3.put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=(root / key).read_bytes(), ACL="public-read")


def materialize_days(
    assets,
    resources,
    first: str,
    last: str | None = None,
    *,
    instance=None,
    selection=None,
    run_config=None,
    raise_on_error: bool = True,
):
    """One run over the days ``first``..``last`` (one day if ``last`` is None), as a backfill
    batch runs them; with ``raise_on_error`` the run must succeed."""
    result = materialize(
        with_stored_upstreams(assets),
        selection=selection,
        resources=resources,
        instance=instance if instance is not None else DagsterInstance.ephemeral(),
        tags=partition_range_tags(first, last),
        run_config=run_config,
        raise_on_error=raise_on_error,
    )
    if raise_on_error:
        assert result.success
    return result


def metadata_by_partition(result) -> dict[tuple[str, str], dict]:
    """Metadata values of every materialization of a run, by (asset name, partition)."""
    return {
        (e.materialization.asset_key.path[-1], e.materialization.partition): {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


def metadata_of(result, asset: str) -> dict:
    """Metadata values of the (first) materialization of ``asset`` in a run."""
    for (name, _), metadata in metadata_by_partition(result).items():
        if name == asset:
            return metadata
    raise AssertionError(f"{asset} was not materialized")


def materialized(result) -> set[str]:
    return {e.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def check_evaluations(result, check_name: str) -> dict:
    """A check's evaluations in a run, by partition (one per partition the run checked)."""
    found = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == check_name
    }
    assert found, f"{check_name} was not evaluated"
    return found


def check_evaluation(result, check_name: str):
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == check_name:
            return e.event_specific_data
    raise AssertionError(f"{check_name} was not evaluated")


TOAR_TABLES = ["stationmeta_core", "stationmeta_alias", "timeseries", "raw_object", "data", "quarantine", "data_flag"]


def snapshot(engine) -> dict:
    """Every row of every TOAR table, in a stable order: equal snapshots mean an unchanged database."""
    with engine.connect() as conn:
        return {
            name: sorted(tuple(map(str, row)) for row in conn.execute(sa.select(toar.schema.metadata.tables[name])))
            for name in TOAR_TABLES
        }


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(toar.schema.metadata.tables[table])).scalar_one()


def catalog_location(
    id, country, provider, latitude, longitude, sensors, *, timezone="UTC", monitor=True, mobile=False
):
    """A locations-catalog entry (the format the local OpenAQ API serves) for tests."""
    return {
        "id": id,
        "name": f"Station {id}",
        "locality": f"City {id}",
        "timezone": timezone,
        "country": country,
        "provider": provider,
        "latitude": latitude,
        "longitude": longitude,
        "sensors": [{"id": s, "parameter": p, "units": u} for s, p, u in sensors],
        "is_monitor": monitor,
        "is_mobile": mobile,
    }


def served_predictions(model_uri: str, tracking_uri: str, payload: dict):
    """Start ``mlflow models serve`` for a registry URI on a free loopback port, post one
    /invocations request and return its predictions; the server is stopped afterwards."""
    import json
    import os
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from local_services.loopback import free_port, wait_until_serving

    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    command = [f"{bin_dir}/mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    server = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ping", server, timeout=90)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        return json.loads(urllib.request.urlopen(request, timeout=30).read())["predictions"]
    finally:
        server.terminate()
        server.wait(timeout=30)
