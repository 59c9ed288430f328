"""No orphan writer: a step commits to a database only while its run is alive.

A step can outlive its run. With a process per step (the multiprocess executor, or a pod per
step on Kubernetes), killing the run worker leaves the step's process running; Dagster marks
the run failed (the code server that launched the worker, or run monitoring), the daemon frees
its pool slots and may retry it. A commit after that would store the data of a failed run
beside its retry's, and the run's status would no longer say what the database holds. So each
database writer asks the instance just before its commit, and rolls back if the run is over.
"""

from __future__ import annotations

from dagster import AssetExecutionContext, DagsterRunStatus


class RunNotAlive(RuntimeError):
    """The step's run is no longer running (failed, canceled or canceling): nothing was committed."""


def ensure_run_alive(context: AssetExecutionContext, what: str) -> None:
    """Raise RunNotAlive unless the instance holds the step's run as running (STARTED). Called
    inside the writer's transaction, just before its commit, so that raising rolls ``what`` back."""
    run = context.instance.get_run_by_id(context.run.run_id)
    if run is None or run.status != DagsterRunStatus.STARTED:
        status = run.status.value if run is not None else "unknown to the instance"
        raise RunNotAlive(
            f"{what} not committed: run {context.run_id} is {status}, so this step is an orphan "
            "(its run worker died, or the run was canceled); a retry of the run writes it"
        )
