import os

# The transient-error retries wait 1 s and 2 s here instead of 10 s and 20 s: the tests that
# exercise them check that and how often a step is retried, not the wait (about 100 s of the suite).
os.environ.setdefault("TRANSIENT_RETRY_DELAY_SECONDS", "1")

import contextlib
from datetime import date
from pathlib import Path

import pytest

from local_services.loopback import moto_s3_server
from local_services.postgres import throwaway_postgres
from tests.helpers import project_locations


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
def project_resources(
    root: Path, bucket: Path, database_url: str | None = None, archive: Path | str | None = None, **overrides
):
    """The code location's own resources (``build_resources``), every location under ``root``.

    The environment stays set while the block runs, because resources read it through EnvVar
    when a run starts.
    """
    from resources import build_resources

    env = project_locations(root, bucket, database_url, archive)
    env.pop("DAGSTER_HOME")  # the caller's instance is used
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("MLFLOW_ARTIFACT_LOCATION", raising=False)
        yield {**build_resources(), **overrides}


@pytest.fixture(scope="session")
def two_day_mirror(tmp_path_factory) -> Path:
    """A generated mirror of the bucket, 2014-01-01..02 with 12 stations, shared by the tests
    that only read it."""
    from sample_data.generator import generate_bucket

    root = tmp_path_factory.mktemp("mirror") / "openaq"
    generate_bucket(root, date(2014, 1, 1), days=2, stations=12, seed=7, objects_per_day=24)
    return root


@pytest.fixture
def s3_endpoint(monkeypatch):
    """moto's S3 server on a loopback port, with dummy credentials in the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto_s3_server() as endpoint:
        yield endpoint
