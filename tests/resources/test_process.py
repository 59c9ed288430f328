"""The Arrow allocator the product picks for its processes (resources.environment.prepare_process)."""

import os
import subprocess
import sys

import pytest

from resources.environment import PROJECT_ROOT

PRINT_POOL = "import definitions, pyarrow as pa; definitions.defs(); print(pa.default_memory_pool().backend_name)"


@pytest.mark.parametrize("setting, expected", [(None, "system"), ("mimalloc", "mimalloc"), ("jemalloc", "jemalloc")])
def test_the_code_location_uses_the_system_allocator_unless_the_environment_names_one(setting, expected, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env["DAGSTER_HOME"] = str(tmp_path)  # loading the code location prepares the process's folders
    if setting:
        env["ARROW_DEFAULT_MEMORY_POOL"] = setting
    done = subprocess.run(
        [sys.executable, "-c", PRINT_POOL], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_importing_the_code_location_leaves_the_allocator_alone():
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    probe = "import definitions, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "mimalloc"  # Arrow's own default: only the load changes it
