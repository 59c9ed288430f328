"""The code location of tests/test_run_monitoring.py: a job whose op sleeps in the run worker,
and one that logs the value of a module the test preloads and edits (run_monitoring_probe).

A run worker (a child process of the code server) that loads this module while the file named
by RUN_MONITORING_HANG_FILE exists hangs before its run starts: a worker that never starts.
"""

import multiprocessing
import os
import time

import dagster as dg

if multiprocessing.parent_process() is not None and os.path.exists(os.environ.get("RUN_MONITORING_HANG_FILE", "")):
    time.sleep(600)


@dg.op
def sleep_a_while():
    time.sleep(600)


@dg.job(executor_def=dg.in_process_executor)  # the op runs in the run worker's own process
def sleepy():
    sleep_a_while()


@dg.op
def log_the_probe(context: dg.OpExecutionContext):
    import run_monitoring_probe  # the test's: preloaded by the launcher's server, edited between runs

    context.log.info(f"probe: {run_monitoring_probe.VALUE}")


@dg.job(executor_def=dg.in_process_executor)
def reports_probe():
    log_the_probe()


defs = dg.Definitions(jobs=[sleepy, reports_probe])
