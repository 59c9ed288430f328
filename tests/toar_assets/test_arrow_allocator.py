"""The Arrow allocator the product picks for its processes (toar_assets/__init__.py)."""

import os
import subprocess
import sys

import pytest

from resources.environment import PROJECT_ROOT

PRINT_POOL = "import toar_assets, pyarrow as pa; print(pa.default_memory_pool().backend_name)"


@pytest.mark.parametrize("setting, expected", [(None, "system"), ("mimalloc", "mimalloc"), ("jemalloc", "jemalloc")])
def test_the_code_location_uses_the_system_allocator_unless_the_environment_names_one(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if setting:
        env["ARROW_DEFAULT_MEMORY_POOL"] = setting
    done = subprocess.run([sys.executable, "-c", PRINT_POOL], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
