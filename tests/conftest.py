import contextlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

# Admin connection to the local PostgreSQL server; tests create and drop their own databases.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def throwaway_postgres(label: str = "toar"):
    """A new PostgreSQL database on the local server, dropped afterwards; yields its URL."""
    name = f"{label}_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url():
    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'toar.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request):
    """Each database the product supports: a SQLite file and a throwaway PostgreSQL database."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@contextlib.contextmanager
def project_resources(root: Path, bucket: Path, database_url: str | None = None, **overrides):
    """The code location's own resources (``build_resources``), every location under ``root``.

    The environment stays set while the block runs, because resources read it through EnvVar
    when a run starts.
    """
    from resources import build_resources

    env = {
        "OPENAQ_BUCKET_URL": str(bucket),
        "TOAR_DATABASE_URL": database_url or f"sqlite:///{root / 'toar.sqlite'}",
        "DATA_LAKE_URL": str(root / "lake"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.sqlite'}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("MLFLOW_ARTIFACT_LOCATION", raising=False)
        yield {**build_resources(), **overrides}


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on a loopback port, with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    from tests.servers import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
