"""DEPLOYMENT=production: a code location with a location variable unset does not load, and says
which; with every one set it loads. Without the variable, the embedded defaults apply (the rest of
the test suite)."""

import os
import subprocess
import sys

import pytest

from resources.environment import DEFAULTS, PROJECT_ROOT, MissingLocations, prepare_process
from tests.helpers import project_locations

LOAD = [sys.executable, "-c", "import definitions; definitions.defs()"]


def _environment(tmp_path, **changes) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    env.update(project_locations(tmp_path), DEPLOYMENT="production")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_the_code_location_does_not_load_without_a_location_and_names_it(tmp_path):
    failed = _run(LOAD, _environment(tmp_path, TOAR_DATABASE_URL=None))
    assert failed.returncode != 0
    assert "DEPLOYMENT=production and TOAR_DATABASE_URL unset" in failed.stderr
    assert not (tmp_path / "toar.sqlite").exists()


@pytest.mark.slow
def test_dagster_refuses_the_code_location_naming_every_unset_location(tmp_path):
    env = _environment(tmp_path, MLFLOW_TRACKING_URI=None, DATA_LAKE_URL=None)
    os.makedirs(env["DAGSTER_HOME"])  # Dagster's own requirement, met in production
    failed = _run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "definitions"], env)
    assert failed.returncode != 0
    assert "MLFLOW_TRACKING_URI, DATA_LAKE_URL unset" in failed.stdout + failed.stderr


def test_the_code_location_loads_with_every_location_set(tmp_path):
    loaded = _run(LOAD, _environment(tmp_path))
    assert loaded.returncode == 0, loaded.stderr


def test_production_mode_fills_no_default_and_refuses_an_unknown_deployment(monkeypatch):
    for name in DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEPLOYMENT", "production")
    with pytest.raises(MissingLocations, match=", ".join(DEFAULTS) + " unset"):
        prepare_process()
    assert not any(name in os.environ for name in DEFAULTS)
    monkeypatch.setenv("DEPLOYMENT", "prod")
    with pytest.raises(MissingLocations, match="DEPLOYMENT='prod': set it to 'production' or leave it unset"):
        prepare_process()
