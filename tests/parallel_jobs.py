"""Jobs by import path, for executors that start steps in other processes (reconstructable).

python -m tests.parallel_jobs 2014-01-03   # one run of data_logistics for that day, exit 0 on success
"""

import sys


def data_logistics_job():
    from definitions import defs

    return defs().resolve_job_def("data_logistics")


if __name__ == "__main__":
    from dagster import DagsterInstance, execute_job, reconstructable

    with (
        DagsterInstance.get() as instance,
        # A process per step, as this module's callers say they test (the project's default runs steps in-process).
        execute_job(
            reconstructable(data_logistics_job),
            instance=instance,
            tags={"dagster/partition": sys.argv[1]},
            run_config={"execution": {"config": {"multiprocess": {}}}},
        ) as result,
    ):
        sys.exit(0 if result.success else 1)
