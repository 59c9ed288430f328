"""Run workers of the embedded instance: forked from the launcher's preloaded server, watched,
terminated on request; runs whose worker dies or never starts are marked failed, with the reason.

The instance is the embedded one (its run launcher, asset_base.forkserver_launcher; run
monitoring and retries as in deploy/dagster.yaml) with shorter timeouts; the daemon runs as a
subprocess and launches the runs it takes off the queue.
"""

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema

from asset_base.forkserver_launcher import ForkserverRunLauncher
from local_services.loopback import wait_until
from resources import environment
from resources.environment import EMBEDDED_INSTANCE_CONFIG, PROJECT_ROOT

BIN = Path(sys.executable).parent
JOB_MODULE = PROJECT_ROOT / "tests" / "run_monitoring_job.py"
# The deployed settings, with bounds a test can wait for.
TEST_MONITORING = {"start_timeout_seconds": 10, "cancel_timeout_seconds": 10, "poll_interval_seconds": 5}
STARTED_PROCESS = re.compile(r"Started process for run \(pid: (\d+)\)")
PROBE = "run_monitoring_probe"  # tests/run_monitoring_job.py's job reports_probe logs its VALUE


def test_the_deployed_and_the_embedded_instance_monitor_and_retry_runs_alike():
    deployed = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    embedded = yaml.safe_load(EMBEDDED_INSTANCE_CONFIG)
    for section in ("run_monitoring", "run_retries"):
        assert deployed[section] == embedded[section], section
    monitoring, retries = deployed["run_monitoring"], deployed["run_retries"]
    assert monitoring["enabled"] and monitoring["max_resume_run_attempts"] == 0  # the default launcher cannot resume
    # A dead run's pool slots are freed within a minute of its end (the next check after the delay).
    assert monitoring["free_slots_after_run_end_seconds"] + monitoring["poll_interval_seconds"] <= 60
    # A run whose worker died is retried; one failed by its steps is not (they retry transient errors).
    assert retries == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    assert embedded["telemetry"] == {"enabled": False}
    # Dagster's schema accepts both (a misspelled key would fail the instance's load).
    schema = dagster_instance_config_schema()
    for settings in (deployed, embedded):
        result = validate_config(schema, settings)
        assert result.success, [error.message for error in result.errors or []]


def test_the_embedded_instance_config_is_written_and_an_earlier_one_upgraded_but_an_edited_one_kept(
    tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setitem(environment.DEFAULTS, "DAGSTER_HOME", str(home))
    for name in environment.DEFAULTS:
        monkeypatch.setenv(name, str(home) if name == "DAGSTER_HOME" else str(tmp_path / name))
    config = home / "dagster.yaml"
    environment.apply_defaults()
    assert config.read_text() == EMBEDDED_INSTANCE_CONFIG
    for earlier in environment._EARLIER_EMBEDDED_CONFIGS:  # what earlier versions wrote
        config.write_text(earlier)
        environment.apply_defaults()
        assert config.read_text() == EMBEDDED_INSTANCE_CONFIG
    assert "poll_interval_seconds: 60\n" in environment._EARLIER_EMBEDDED_CONFIGS[1]  # run monitoring's first
    config.write_text("telemetry:\n  enabled: true\n")  # someone's own settings
    environment.apply_defaults()
    assert config.read_text() == "telemetry:\n  enabled: true\n"
    assert sorted(p.name for p in home.iterdir()) == ["dagster.yaml"]  # no partial file left


def test_the_embedded_launcher_preloads_the_libraries_and_the_code_location_each_of_which_exists():
    preload = yaml.safe_load(EMBEDDED_INSTANCE_CONFIG)["run_launcher"]["config"]["preload_modules"]
    assert {"dagster", "great_expectations", "definitions"} <= set(preload)
    assert all(importlib.util.find_spec(name) is not None for name in preload)  # a typo would be skipped silently


def test_a_worker_looks_at_the_project_files_without_loading_what_is_imported_lazily():
    """In a fresh interpreter with the code location and great_expectations imported as the
    server imports them: nothing changed keeps every module; a change drops the project's only."""
    code = """
import sys, time
import definitions
from checks.core import _deferring_imports
with _deferring_imports():
    import great_expectations
from asset_base.forkserver_launcher import import_again_if_changed
assert import_again_if_changed(time.time() + 60) == [] and "definitions" in sys.modules
assert type(sys.modules["scipy.stats"]).__name__ == "_LazyModule"  # not loaded by the look (0.4 s)
changed = import_again_if_changed(0.0)  # every file is newer than that
assert "definitions" in changed and "toar.writer" in changed and "pandas" not in changed, changed
assert "definitions" not in sys.modules and "pandas" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """A Dagster instance and its daemon (run queue, run monitoring), stopped afterwards."""
    root = tmp_path_factory.mktemp("monitoring")
    home = root / "home"
    home.mkdir()
    settings = yaml.safe_load(EMBEDDED_INSTANCE_CONFIG)
    settings["run_monitoring"].update(TEST_MONITORING)
    settings["run_launcher"]["config"]["preload_modules"].append(PROBE)  # a module of "the project"
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    workspace = root / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {"relative_path": str(JOB_MODULE)}}]}))
    (root / "probe").mkdir()
    (root / "probe" / f"{PROBE}.py").write_text('VALUE = "as preloaded"\n')
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RUN_MONITORING_HANG_FILE": str(root / "hang"),
        "PYTHONPATH": os.pathsep.join([str(root / "probe"), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    with running_daemon(root, workspace, env) as instance:
        yield instance, root, workspace, env


@contextlib.contextmanager
def running_daemon(root: Path, workspace: Path, env: dict):
    """The instance of env's DAGSTER_HOME, with its daemon running (run queue, run monitoring,
    run retries) on the workspace; the daemon, its code server and run workers stopped afterwards."""
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])  # its storage made before the daemon starts
    log = (root / "daemon.log").open("w")
    process = subprocess.Popen(
        [BIN / "dagster-daemon", "run", "-w", workspace],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Runs are launched once the daemons that launch and monitor them are beating.
        wait_until(
            lambda: {"QUEUED_RUN_COORDINATOR", "MONITORING"} <= set(instance.get_daemon_heartbeats()),
            60,
            "the daemon's run queue and run monitoring",
        )
        yield instance
    finally:
        instance.dispose()
        # The daemon's session holds its code server, the launcher's server and the run workers:
        # stop the daemon, then whatever of them is left (a worker of a retried run sleeps on).
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def launch(workspace: Path, env: dict, job: str = "sleepy") -> str:
    """Submit a run of the job to the instance's run queue; the daemon launches it."""
    run_id = str(uuid.uuid4())
    done = subprocess.run(
        [BIN / "dagster", "job", "launch", "-w", workspace, "-j", job, "--run-id", run_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run_id


def worker_pid(instance, run_id: str) -> int | None:
    for event in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        match = STARTED_PROCESS.search(event.message)
        if match:
            return int(match[1])
    return None


def has_event(instance, run_id: str, event_type: DagsterEventType) -> bool:
    return bool(instance.all_logs(run_id, of_type=event_type))


def messages(instance, run_id: str) -> str:
    return "\n".join(event.message for event in instance.all_logs(run_id))


@pytest.mark.slow
def test_a_run_starts_in_a_worker_forked_from_the_preloaded_server_and_a_terminated_one_is_canceled(daemon):
    instance, _, workspace, env = daemon
    assert isinstance(instance.run_launcher, ForkserverRunLauncher)
    run_id = launch(workspace, env)
    wait_until(lambda: has_event(instance, run_id, DagsterEventType.STEP_START), 60, "the op started")
    worker = psutil.Process(worker_pid(instance, run_id))
    server = worker.parent()
    assert "multiprocessing.forkserver" in " ".join(server.cmdline())  # forked, not a fresh interpreter
    assert "great_expectations" in " ".join(server.cmdline())  # imported before the fork
    assert instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run_id)).status.value == "RUNNING"

    assert instance.run_launcher.terminate(run_id)  # as the UI's Terminate does, from another process
    wait_until(lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.CANCELED, 30, "the run canceled")
    wait_until(lambda: not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE, 30, "the worker's exit")
    assert instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run_id)).status.value == "FAILED"
    assert not instance.run_launcher.terminate(run_id)  # nothing left to terminate


@pytest.mark.slow
def test_a_worker_runs_the_projects_code_as_it_is_on_disk_though_its_server_preloaded_an_older_one(daemon):
    """The server imported the probe when it started; once the file is edited, the next run
    imports it again from disk and says why."""
    instance, root, workspace, env = daemon

    def probe_run() -> str:
        run_id = launch(workspace, env, job="reports_probe")
        wait_until(lambda: instance.get_run_by_id(run_id).is_finished, 60, "the probe's run")
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS, messages(instance, run_id)
        return messages(instance, run_id)

    first = probe_run()
    assert "probe: as preloaded" in first and "code changed" not in first
    (root / "probe" / f"{PROBE}.py").write_text('VALUE = "edited"\n')
    second = probe_run()
    assert "probe: edited" in second
    assert f"The project's code changed since the run launcher's server started ({PROBE})" in second


@pytest.mark.slow
def test_a_run_whose_worker_is_killed_is_marked_failed_with_the_reason(daemon):
    """The launcher that started the worker sees it die and fails the run at once (run monitoring
    asks the launcher as well, which covers a worker whose daemon was restarted)."""
    instance, _, workspace, env = daemon
    run_id = launch(workspace, env)
    wait_until(lambda: has_event(instance, run_id, DagsterEventType.STEP_START), 60, "the op started")
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED

    os.kill(worker_pid(instance, run_id), signal.SIGKILL)
    killed = time.monotonic()
    wait_until(
        lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE,
        TEST_MONITORING["poll_interval_seconds"] * 3,
        "the run marked failed",
    )
    print(f"killed run worker: FAILURE after {time.monotonic() - killed:.1f} s")
    assert "was terminated by signal 9 (SIGKILL)" in messages(instance, run_id)
    assert has_event(instance, run_id, DagsterEventType.RUN_FAILURE)


@pytest.mark.slow
def test_a_run_whose_worker_never_starts_is_failed_by_run_monitoring(daemon):
    """Without run monitoring it would stay STARTING for ever: nothing else watches the start."""
    instance, root, workspace, env = daemon
    (root / "hang").touch()
    try:
        run_id = launch(workspace, env)
        pid = wait_until(lambda: worker_pid(instance, run_id), 60, "the run worker's process started")
    finally:
        (root / "hang").unlink()
    launched = time.monotonic()
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTING
    try:
        bound = TEST_MONITORING["start_timeout_seconds"] + TEST_MONITORING["poll_interval_seconds"] + 5
        wait_until(
            lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE, bound, "the run marked failed"
        )
        print(f"run worker that never started: FAILURE {time.monotonic() - launched:.1f} s after its launch")
        start_timeout = TEST_MONITORING["start_timeout_seconds"]
        assert f"Run timed out due to taking longer than {start_timeout} seconds to start" in messages(instance, run_id)
    finally:
        os.kill(pid, signal.SIGKILL)  # the hanging worker
