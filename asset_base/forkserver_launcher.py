"""A run launcher that forks each run's worker from a server with the run's libraries imported.

Dagster's default launcher asks the code server for a run worker, a fresh interpreter that
imports Dagster, pandas, great_expectations and the rest before its first step: on a realistic
day, about 7 s of the run's 15 (benchmarks/README.md, section 8). This launcher keeps one
multiprocessing forkserver per launching process (the daemon, which takes runs off the queue),
started on the first launch with ``preload_modules`` imported, and forks each run's worker from
it: the worker starts with those libraries, and the code location, in memory.

The code location's module may be preloaded too (the embedded instance preloads
``definitions``: its import and Dagster's build of the assets took 0.9 s of every run's start).
An edited definition is never stale: a worker looks at the files of the project's modules its
server imported (every module outside the standard library and the installed packages), and if
any changed since the server started, it drops them all and its run imports the project from
disk, saying so in the run's log (restarting the daemon preloads the new code). A library
upgraded in place needs the daemon restarted (the server keeps the version it imported).

A worker does what ``dagster api execute_run`` does, with the same events. The launcher watches
the workers it started: one that exits while its run is not finished fails the run at once,
with the exit code or signal (as the code server does for its workers). Run monitoring asks the
launcher too (``check_run_worker_health``, by the pid recorded on the run), which covers a
worker whose launcher is gone: a restarted daemon. Terminating a run sends its worker SIGTERM,
which Dagster's worker takes as an interrupt: the run ends CANCELED.

The worker runs on the launcher's host, in its environment: this is the launcher of the
embedded instance (``make ui``, ``dagster dev``). ``deploy/`` keeps the code server's launcher,
as its daemon runs without the code location's settings.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import socket
import sys
import sysconfig
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import psutil
from dagster import DagsterInstance, DagsterRun, Field
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData, deserialize_value, serialize_value

# The worker, as "pid:start time" (a pid alone may be reused by another process) and its host.
WORKER_TAG = "forkserver/worker"
HOST_TAG = "forkserver/host"


class ForkserverRunLauncher(RunLauncher, ConfigurableClass):
    """Runs each run in a process forked from a server with ``preload_modules`` imported."""

    def __init__(self, preload_modules: Sequence[str] = (), inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._preload = list(preload_modules)
        self._context: Any = None
        self._lock = threading.Lock()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(
                [str],
                is_required=False,
                default_value=[],
                description="Modules the server imports once, before forking workers: libraries, and the code location's "
                "module (a worker imports the project again from disk if its files changed since).",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ForkserverRunLauncher:
        return cls(preload_modules=config_value.get("preload_modules", []), inst_data=inst_data)

    def _forkserver(self) -> Any:
        with self._lock:
            if self._context is None:
                context = multiprocessing.get_context("forkserver")
                # Also the launching process's main module (each worker would import it again
                # otherwise: multiprocessing's fix-up of __main__) and the worker's own module.
                context.set_forkserver_preload(["__main__", *self._preload, "dagster._cli.api", __name__])
                self._context = context
            return self._context

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        # Not daemonic, as the code server's workers are not: stopping the launching process
        # does not kill its runs (it waits for them as it exits; Ctrl-C reaches them too).
        worker = self._forkserver().Process(
            target=run_worker,
            args=(run.run_id, serialize_value(self._instance.get_ref())),
            name=f"dagster-run-{run.run_id}",
        )
        worker.start()
        try:
            started = psutil.Process(worker.pid).create_time()
        except psutil.NoSuchProcess:  # gone already: the watcher reports how it ended
            started = 0.0
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: f"{worker.pid}:{started}", HOST_TAG: socket.gethostname()})
        threading.Thread(
            target=self._watch, args=(run.run_id, worker), name=f"watch-{worker.name}", daemon=True
        ).start()

    def _watch(self, run_id: str, worker: Any) -> None:
        """Fail the run at once if its worker exits before the run has ended."""
        worker.join()
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self._instance.report_engine_event(
                f"The run worker (pid {worker.pid}) {exit_clause(worker.exitcode)} before the run ended.",
                run,
                cls=type(self),
            )
            self._instance.report_run_failed(run)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = _worker(run)
        if worker is None:
            self._instance.report_engine_event("No run worker to terminate: it is not running.", run, cls=type(self))
            return False
        worker.send_signal(signal.SIGTERM)  # Dagster's worker takes it as an interrupt
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if WORKER_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no worker recorded by this launcher")
        if run.tags.get(HOST_TAG) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"the run's worker is on {run.tags.get(HOST_TAG)}")
        if _worker(run) is None:
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"the run worker (pid {run.tags[WORKER_TAG].split(':')[0]}) is not running"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)


def _worker(run: DagsterRun) -> psutil.Process | None:
    """The run's worker process, if it is still running on this host."""
    pid, _, started = run.tags.get(WORKER_TAG, "").partition(":")
    if not pid or run.tags.get(HOST_TAG) != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(pid))
        if process.create_time() != float(started) or process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    return process


def exit_clause(exitcode: int | None) -> str:
    """How a process ended, from multiprocessing's exit code (negative: killed by that signal)."""
    if exitcode is not None and exitcode < 0:
        return f"was terminated by signal {-exitcode} ({signal.Signals(-exitcode).name})"
    return f"exited with code {exitcode}"


def run_worker(run_id: str, instance_ref: str) -> None:
    """A run worker's body: execute the run as ``dagster api execute_run`` does (its events,
    its cancellation handling), interrupts taken as Dagster takes them."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._utils.interrupts import capture_interrupts

    from resources.qoa import freeze_long_lived_objects  # here: the daemon importing this module needs no pandas

    # The server's heap, out of the collector's full passes first: the first one, during the
    # instance's load, walked it all (0.4 s) and copied every page it touched into the worker.
    freeze_long_lived_objects()
    changed = import_again_if_changed(psutil.Process(os.getppid()).create_time())  # the parent is the server
    with capture_interrupts(), DagsterInstance.from_ref(deserialize_value(instance_ref, InstanceRef)) as instance:
        run = instance.get_run_by_id(run_id)
        if changed and run is not None:
            instance.report_engine_event(
                f"The project's code changed since the run launcher's server started ({', '.join(sorted(changed))}): "
                "this run imports it from disk. Restarting the daemon preloads the new code.",
                run,
                cls=ForkserverRunLauncher,
            )
        _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


# Where the standard library and the installed packages live: every other module is the project's.
_LIBRARY_DIRS = ("stdlib", "platstdlib", "purelib", "platlib")


def import_again_if_changed(imported_at: float) -> list[str]:
    """If a file of the project's modules in memory changed (or went) after ``imported_at``,
    drop all the project's modules, so the next import reads the project from disk as it is
    now; the changed modules' names. A file changed while the server imported is counted as
    changed: at worst the project is imported again for nothing."""
    libraries = tuple(os.path.join(sysconfig.get_paths()[kind], "") for kind in _LIBRARY_DIRS)
    project = {
        name: path
        for name, module in list(sys.modules.items())
        if name not in ("__main__", "__mp_main__") and (path := _file_of(module)) and not path.startswith(libraries)
    }
    changed = [name for name, path in project.items() if _modified_after(path, imported_at)]
    if changed:
        for name in project:
            del sys.modules[name]
        importlib.invalidate_caches()
    return changed


def _file_of(module: object) -> str | None:
    # Read from the module's namespace, not as an attribute: any attribute of a module imported
    # lazily (checks.core defers scipy.stats and altair) runs its code, 0.4 s in every worker.
    try:
        return object.__getattribute__(module, "__dict__").get("__file__")
    except AttributeError:  # not every object in sys.modules has a namespace (cffi's libraries)
        return None


def _modified_after(path: str, moment: float) -> bool:
    try:
        return os.stat(path).st_mtime >= moment
    except OSError:  # gone
        return True
