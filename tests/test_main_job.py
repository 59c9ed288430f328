"""The README's main job and the code location, as a user runs them."""

import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta

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
    # The embedded sample archive likewise: 7 recent days, 10 locations (the first 4 and most
    # others measure ozone). Its 6 feature days let the model beat persistence (by 12-25 % over
    # windows of 2026): with 5 days it may not, and then no champion forecasts.
    archive = replace(environment.SAMPLE_ARCHIVE, path=tmp_path / "archive", days=7, locations=10)
    monkeypatch.setattr(environment, "SAMPLE_ARCHIVE", archive)
    monkeypatch.setattr(main_job, "SAMPLE_ARCHIVE", archive)
    return env


def summary_rows(out: str) -> list[list[str]]:
    """The summary table's rows (their cells), one per day."""
    return [line.split() for line in out.splitlines() if re.match(r"\d{4}-\d\d-\d\d +\d", line)]


def test_the_demo_reads_the_recent_days_of_the_archive_mirror(project_env, capsys):
    first, last = environment.SAMPLE_ARCHIVE.window(date.today())
    assert main_job.main([]) == 0
    out = capsys.readouterr().out
    assert (
        f"Generating the sample OpenAQ archive mirror in {environment.SAMPLE_ARCHIVE.path} for {first}..{last}" in out
    )
    assert "Locations catalog (openaq_locations): 10 locations from locations_file, 10 added" in out
    assert "local day    objects" in out
    rows = summary_rows(out)
    assert [row[0] for row in rows] == [(first + timedelta(n)).isoformat() for n in range(7)]
    assert all(int(row[1]) > 0 for row in rows)  # objects: the day's archive files
    assert all(row[-2] == "yes" for row in rows)  # conservation column
    assert f"Model ozone-forecast version 1 (trained on days up to {last}" in out
    assert f"Forecasts for {last}: " in out
    quality = {cells[0]: cells[1] for cells in map(str.split, out.splitlines()) if len(cells) > 1}
    assert quality["openaq_locations"] == "1" and quality["raw_openaq_archive"] == "7"
    assert "raw_openaq_measurements" not in quality
    with DagsterInstance.from_config(project_env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        assert all(run.is_success for run in runs)
        assert sorted(run.job_name for run in runs) == [
            "archive_logistics",
            "daily_metrics",
            "features",
            "locations",
            "train_and_forecast",
        ]
    # Six days of daily metrics are too few for the dma8eu model, and the summary says so.
    assert (
        f"dma8eu model: not trained, the window has 6 days of daily metrics, it needs {main_job.DMA8EU_MIN_DAYS}" in out
    )
    assert f"Daily metrics (toar_daily_metrics), {last}: " in out


def test_the_archive_mirror_gains_only_the_days_it_lacks(project_env, capsys):
    archive = environment.SAMPLE_ARCHIVE.path
    main_job.ensure_sample_archive(date(2024, 3, 1), date(2024, 3, 3))
    files = {path: path.read_bytes() for path in archive.rglob("*.csv.gz")}
    main_job.ensure_sample_archive(date(2024, 3, 1), date(2024, 3, 3))
    main_job.ensure_sample_archive(date(2024, 3, 2), date(2024, 3, 4))
    out = capsys.readouterr().out
    assert out.count("Generating the sample OpenAQ archive mirror") == 2  # the days were there the second time
    added = {path: path.read_bytes() for path in archive.rglob("*.csv.gz")}
    assert {path.name[-15:] for path in set(added) - set(files)} == {"20240304.csv.gz"}
    assert all(added[path] == data for path, data in files.items())  # the days there kept their bytes


def test_the_window_defaults_by_source(project_env):
    archive = main_job.parse_args([])
    assert archive.source == "archive"
    assert (archive.start, archive.end) == environment.SAMPLE_ARCHIVE.window(date.today())
    realtime = main_job.parse_args(["--source", "realtime"])
    assert (realtime.start, realtime.end) == (date(2014, 1, 1), date(2014, 1, 10))


def test_main_job_generates_the_mirror_backfills_trains_and_summarizes(project_env, capsys):
    assert main_job.main(["--source", "realtime", "--start", "2014-01-01", "--end", "2014-01-04"]) == 0
    out = capsys.readouterr().out
    assert "Generating the sample OpenAQ mirror" in out
    assert "fetch day    objects" in out
    rows = summary_rows(out)
    assert [row[0] for row in rows] == ["2014-01-01", "2014-01-02", "2014-01-03", "2014-01-04"]
    assert all(row[-2] == "yes" for row in rows)  # conservation column
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
        assert sorted(run.job_name for run in runs) == [
            "daily_metrics",
            "data_logistics",
            "features",
            "train_and_forecast",
        ]


def test_days_held_back_move_the_models_day_and_widen_the_features_to_keep_its_window():
    keys = [(date(2026, 11, 1) + timedelta(n)).isoformat() for n in range(30)]
    archive = main_job.SOURCES["archive"]
    plan = {job: job_keys for job, job_keys, _ in main_job.plan_steps(archive, keys, 0, 7)[0]}
    held, note = main_job.plan_steps(archive, keys, 3, 7)
    held = {job: job_keys for job, job_keys, _ in held}
    assert plan["train_and_forecast"] == plan["dma8eu_train"] == plan["dma8eu_forecast"] == ["2026-11-30"]
    assert held["train_and_forecast"] == held["dma8eu_train"] == held["dma8eu_forecast"] == ["2026-11-27"]
    assert plan["features"] == keys[-7:] and held["features"] == keys[-10:]  # 11-21..27, then the 3 held back
    assert held["archive_logistics"] == plan["archive_logistics"] == keys and note is None
    assert held["daily_metrics"] == keys[1:]  # every day's metrics, for the dma8eu retraining
    # The dma8eu model needs DMA8EU_MIN_DAYS of daily metrics up to its day.
    _, note = main_job.plan_steps(archive, keys[:28], 3, 7)
    assert (
        note
        == f"dma8eu model: not trained, the window has 24 days of daily metrics, it needs {main_job.DMA8EU_MIN_DAYS}"
    )
    with pytest.raises(SystemExit):
        main_job.parse_args(["--start", "2026-11-01", "--end", "2026-11-05", "--hold-back-days", "3"])


def test_main_job_rejects_a_reversed_window(project_env):
    with pytest.raises(SystemExit):
        main_job.main(["--source", "realtime", "--start", "2014-01-05", "--end", "2014-01-01"])


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
