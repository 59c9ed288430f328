"""The README's main job and the code location, as a user runs them."""

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from dagster import DagsterInstance

import main_job
import resources.environment as environment
from tests.helpers import project_locations

pytestmark = pytest.mark.slow


@pytest.fixture
def project_env(tmp_path, monkeypatch):
    """Every location of the README's configuration table pointed into tmp_path."""
    env = project_locations(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    os.makedirs(env["DAGSTER_HOME"])
    # The embedded sample mirror, made small and moved into tmp_path.
    mirror = replace(environment.SAMPLE_MIRROR, path=tmp_path / "mirror", days=4, stations=10)
    monkeypatch.setattr(environment, "SAMPLE_MIRROR", mirror)
    monkeypatch.setattr(main_job, "SAMPLE_MIRROR", mirror)
    return env


def test_main_job_generates_the_mirror_backfills_trains_and_summarizes(project_env, capsys):
    assert main_job.main(["--start", "2014-01-01", "--end", "2014-01-04"]) == 0
    out = capsys.readouterr().out
    assert "Generating the sample OpenAQ mirror" in out
    lines = [line for line in out.splitlines() if line.startswith("2014-01-0")]
    assert [line.split()[0] for line in lines] == ["2014-01-01", "2014-01-02", "2014-01-03", "2014-01-04"]
    assert all(line.split()[-2] == "yes" for line in lines)  # conservation column
    assert "stations" in out and "quarantine by reason: " in out
    assert "Model ozone-forecast version 1" in out
    metrics = {
        line.split()[0]: float(line.split()[1])
        for line in out.splitlines()
        if line.startswith(("  candidate", "  persistence"))
    }
    assert set(metrics) == {"candidate", "persistence"} and all(v > 0 for v in metrics.values())
    assert "Forecasts for 2014-01-04" in out
    with DagsterInstance.from_config(project_env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert all(run.is_success for run in runs)  # four days fit one batch of the policy per job
        assert sorted(run.job_name for run in runs) == ["data_logistics", "features", "train_and_forecast"]


def test_main_job_rejects_a_reversed_window(project_env):
    with pytest.raises(SystemExit):
        main_job.main(["--start", "2014-01-05", "--end", "2014-01-01"])


def test_runs_are_batched(project_env):
    main_job.ensure_sample_mirror()
    results = main_job.run_job("data_logistics", ["2014-01-01", "2014-01-02", "2014-01-03"], batch=2)
    assert [len(r.get_asset_materialization_events()) for r in results] == [4, 2]  # 2 assets x days


def test_dagster_validates_the_code_location(project_env):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "definitions"],
        capture_output=True,
        text=True,
        timeout=120,
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
