"""The README's main job and the code location, as a user runs them."""

import os
import subprocess
import sys
from dataclasses import replace
from datetime import date

import pytest
from dagster import DagsterInstance

import main_job
import resources.environment as environment

pytestmark = pytest.mark.slow


@pytest.fixture
def project_env(tmp_path, monkeypatch):
    """Every location of DESIGN.md's configuration table pointed into tmp_path."""
    env = {
        "OPENAQ_BUCKET_URL": str(tmp_path / "mirror"),
        "TOAR_DATABASE_URL": f"sqlite:///{tmp_path / 'toar.sqlite'}",
        "DATA_LAKE_URL": str(tmp_path / "lake"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.sqlite'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    os.makedirs(env["DAGSTER_HOME"])
    # The embedded sample mirror, made small and moved into tmp_path.
    mirror = replace(environment.SAMPLE_MIRROR, path=tmp_path / "mirror", days=3, stations=8)
    monkeypatch.setattr(environment, "SAMPLE_MIRROR", mirror)
    monkeypatch.setattr(main_job, "SAMPLE_MIRROR", mirror)
    return env


def test_main_job_generates_the_mirror_backfills_and_summarizes(project_env, capsys):
    assert main_job.main(["--start", "2014-01-01", "--end", "2014-01-03"]) == 0
    out = capsys.readouterr().out
    assert "Generating the sample OpenAQ mirror" in out
    lines = [line for line in out.splitlines() if line.startswith("2014-01-0")]
    assert [line.split()[0] for line in lines] == ["2014-01-01", "2014-01-02", "2014-01-03"]
    assert all(line.split()[-1] == "yes" for line in lines)  # conservation column
    assert "stations" in out and "quarantine by reason: " in out
    with DagsterInstance.from_config(project_env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success  # three days fit one batch of the policy
        assert runs[0].job_name == "data_logistics"


def test_main_job_rejects_a_reversed_window(project_env):
    with pytest.raises(SystemExit):
        main_job.main(["--start", "2014-01-05", "--end", "2014-01-01"])


def test_batches_follow_the_backfill_policy(project_env):
    from toar_assets.partitions import DAYS_PER_RUN

    main_job.ensure_sample_mirror()
    results = main_job.run_backfill(date(2014, 1, 1), date(2014, 1, 3))
    assert len(results) == -(-3 // DAYS_PER_RUN)


def test_dagster_validates_the_code_location(project_env):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "definitions"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_environment_defaults_fill_only_unset_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("TOAR_DATABASE_URL", "postgresql+psycopg2://u@h/db")
    monkeypatch.delenv("DATA_LAKE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    environment.apply_defaults()
    assert os.environ["TOAR_DATABASE_URL"] == "postgresql+psycopg2://u@h/db"
    assert os.environ["DATA_LAKE_URL"] == environment.DEFAULTS["DATA_LAKE_URL"]
    assert (tmp_path / "home").is_dir()
