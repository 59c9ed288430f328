"""Every product module imports on its own, and importing it changes nothing in the process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resources.environment import PROJECT_ROOT
from tests.helpers import LOCATION_VARIABLES

PRODUCT_PACKAGES = [
    "domain",
    "sources",
    "toar",
    "forecasting",
    "resources",
    "checks",
    "asset_base",
    "toar_assets",
    "ml_assets",
    "sensors",
    "sample_data",
    "local_services",
]
TOP_MODULES = ["definitions", "main_job", "column_lineage", "migrate", "liveness"]


def product_modules() -> list[str]:
    found = list(TOP_MODULES)
    for package in PRODUCT_PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> dict[str, dict]:
    """What importing each module alone did, from a process in an empty folder with none of the
    project's variables set (a fresh clone, before any setup)."""
    cwd = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items() if k not in {*LOCATION_VARIABLES, "ARROW_DEFAULT_MEMORY_POOL"}}
    env |= {"PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.architecture.import_probe", *product_modules()],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    return {r["module"]: r for r in results}


def test_every_product_module_is_probed(probed):
    assert set(probed) == set(product_modules())
    assert len(probed) > 40


def test_every_module_imports_on_its_own(probed):
    failed = {m: r["error"] for m, r in probed.items() if "error" in r}
    assert not failed


def test_importing_a_module_changes_nothing_in_the_process(probed):
    """No environment variable set, no file or folder made (in the project or the working
    folder), no allocator picked, no garbage-collector freeze, no process-wide warning filter."""
    changed = {m: r["changed"] for m, r in probed.items() if r.get("changed")}
    assert not changed


def test_the_data_folders_are_made_by_the_load_not_the_import(tmp_path):
    """Loading the code location (Dagster calls ``defs``) prepares the process; importing does not."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "PYTHONDONTWRITEBYTECODE": "1"}
    script = (
        "import os, definitions; print(os.path.exists(os.environ['DAGSTER_HOME'])); "
        "definitions.defs(); print(os.path.exists(os.environ['DAGSTER_HOME']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "True"]
    assert Path(tmp_path / "home" / "dagster.yaml").exists() is False  # not the embedded home: left as it is
