"""Where a run's steps execute: in the run's own process unless its config asks for one process
per step (README, "Performance"). Runs go through ``execute_job`` on the reconstructable asset
job, as ``dagster asset materialize`` and the UI's run workers do; ``execute_in_process`` would
not tell, as it always runs in process."""

import os

import pytest
from dagster import AssetKey, DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

from resources.environment import PROJECT_ROOT
from tests.helpers import project_locations

ASSETS = [AssetKey("raw_openaq_measurements"), AssetKey("harmonized_toar_series")]


def asset_job():
    """The implicit asset job the UI and `dagster asset materialize` launch for these assets."""
    from definitions import defs

    return defs().get_repository_def().get_implicit_job_def_for_assets(ASSETS)


def reconstructable_asset_job():
    """That job as a run worker or the CLI loads it: by name, from the code location's module."""
    repository = ReconstructableRepository.for_module("definitions", "defs", str(PROJECT_ROOT))
    return repository.get_reconstructable_job(asset_job().name)


def test_every_job_and_the_asset_job_use_the_project_executor():
    import definitions

    defs = definitions.defs()
    jobs = [defs.resolve_job_def(job.name) for job in defs.jobs] + [asset_job()]
    assert {job.executor_def for job in jobs} == {definitions.executor}


def step_pids(tmp_path, monkeypatch, mirror, run_config=None) -> dict[str, set[int]]:
    """The processes that emitted each step's events, for one day of the two assets."""
    for name, value in project_locations(tmp_path, bucket=mirror).items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster_home").mkdir()
    with (
        DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance,
        execute_job(
            reconstructable_asset_job(),
            instance,
            run_config=run_config,
            asset_selection=ASSETS,
            tags={"dagster/partition": "2014-01-01"},
        ) as result,
    ):
        assert result.success
        pids = {}
        for event in result.all_events:
            if event.step_key:
                pids.setdefault(event.step_key, set()).add(event.pid)
        return pids


def test_a_runs_steps_execute_in_the_runs_process_by_default(tmp_path, monkeypatch, two_day_mirror):
    pids = step_pids(tmp_path, monkeypatch, two_day_mirror)
    assert pids == {"raw_openaq_measurements": {os.getpid()}, "harmonized_toar_series": {os.getpid()}}


@pytest.mark.slow
def test_the_run_config_can_ask_for_a_process_per_step(tmp_path, monkeypatch, two_day_mirror):
    config = {"execution": {"config": {"multiprocess": {}}}}
    pids = step_pids(tmp_path, monkeypatch, two_day_mirror, config)
    raw, harmonized = pids["raw_openaq_measurements"] - {os.getpid()}, pids["harmonized_toar_series"] - {os.getpid()}
    assert len(raw) == len(harmonized) == 1 and raw != harmonized  # each step in a process of its own
