"""What the benchmark scripts share: a scratch project, Dagster runs in it, and printing.

Benchmarks run from the project root (``python -m benchmarks.<name>``). Each one builds its own
scratch project under ``benchmarks/results/`` (ignored by git), so it never touches the
``data/`` folder of ``make demo``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from resources.environment import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

LOCATION_VARIABLES = tuple(DEFAULTS)  # every location the code location reads


@contextlib.contextmanager
def scratch_project(
    name: str, bucket: Path, database_url: str | None = None, dagster_home: Path | None = None
) -> Iterator[Path]:
    """A fresh folder ``benchmarks/results/<name>`` holding the lake, MLflow store and Dagster
    instance (and the TOAR database unless ``database_url`` is given; the instance is
    ``dagster_home``, kept as it is, if given); the environment points there while the block
    runs and is restored afterwards."""
    root = RESULTS / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    dagster_home = dagster_home or root / "dagster_home"
    if not (dagster_home / "dagster.yaml").exists():
        dagster_home.mkdir(parents=True, exist_ok=True)
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    values = {
        "OPENAQ_BUCKET_URL": str(bucket),
        "TOAR_DATABASE_URL": database_url or f"sqlite:///{root / 'toar.sqlite'}",
        "DATA_LAKE_URL": str(root / "lake"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.sqlite'}",
        "DAGSTER_HOME": str(dagster_home),
    }
    saved = {name: os.environ.get(name) for name in (*LOCATION_VARIABLES, "MLFLOW_ARTIFACT_LOCATION")}
    os.environ.update(values)
    os.environ.pop("MLFLOW_ARTIFACT_LOCATION", None)
    try:
        yield root
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def generate_bucket(path: Path, start: str, days: int, stations: int, seed: int) -> Path:
    """A sample mirror made by the product's generator, reused when its arguments match."""
    from datetime import date

    from sample_data.generator import generate_bucket as generate

    stamp = path / ".arguments"
    arguments = f"{start} {days} {stations} {seed}"
    if not (stamp.exists() and stamp.read_text() == arguments):
        shutil.rmtree(path, ignore_errors=True)
        generate(path, date.fromisoformat(start), days, stations, seed)
        stamp.write_text(arguments)
    return path


def partition_keys(start: str, days: int) -> list[str]:
    """The daily partition keys of ``days`` days from ``start`` (YYYY-MM-DD)."""
    from datetime import date, timedelta

    first = date.fromisoformat(start)
    return [(first + timedelta(days=n)).isoformat() for n in range(days)]


def run_partitions(job_name: str, keys: list[str], batch: int, instance=None) -> list:
    """Run a job over partition keys in runs of ``batch`` days, as the main job does (on
    ``instance`` if given, else on the one of ``DAGSTER_HOME``)."""
    from main_job import run_job

    results = run_job(job_name, keys, batch, instance)
    failed = [r.run_id for r in results if not r.success]
    if failed:
        raise SystemExit(f"{job_name}: run {failed[0]} failed")
    return results


@contextlib.contextmanager
def stopwatch() -> Iterator[dict]:
    """``with stopwatch() as t:`` ... then ``t["seconds"]`` is the block's wall time."""
    timing = {}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = time.perf_counter() - start


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` (0..1) of the sorted values, nearest-rank."""
    ordered = sorted(values)
    rank = max(1, int(round(share * len(ordered) + 0.5 - 1e-9)))
    return ordered[min(rank, len(ordered)) - 1]


def print_table(headers: list[str], rows: list[list]) -> None:
    """A plain aligned table; floats with three significant decimals."""

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for row in cells:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))))
