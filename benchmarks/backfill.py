"""Backfill overhead: what Dagster's runs and events cost on top of the assets' own work.

Backfills the daily partitions of a small sample bucket through the ``data_logistics`` job
(raw_openaq_measurements + harmonized_toar_series) and the ``features`` job (ozone_features),
in runs of DAYS_PER_RUN days as the main job does, in process on the SQLite Dagster instance
of a scratch DAGSTER_HOME. Work is what the assets measure themselves (``qoa/wall_seconds``
per partition); overhead is each run's wall time minus that work, split further with the
timestamps of the run's event log.

    python -m benchmarks.backfill                          # 90 days, 5 stations, SQLite
    python -m benchmarks.backfill --database postgresql    # TOAR database on the local server
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from dataclasses import dataclass, field
from datetime import date

from benchmarks.common import (
    RESULTS,
    ROOT,
    generate_bucket,
    partition_keys,
    percentile,
    print_table,
    run_partitions,
    scratch_project,
    stopwatch,
)

JOB_ASSETS = {
    "data_logistics": ("raw_openaq_measurements", "harmonized_toar_series"),
    "features": ("ozone_features",),
}
TARGET_SECONDS = 1.0


@dataclass
class Run:
    """One run of the backfill: its wall time, its assets' measured work and its event log."""

    job: str
    keys: list[str]
    run_id: str
    wall: float
    metadata: dict[str, dict[str, dict]]  # asset -> partition -> materialization metadata
    events: int = 0  # rows the run wrote to the event log: Dagster events and log lines
    dagster_events: int = 0
    span: float = 0.0  # first to last event of the run
    steps: dict[str, float] = field(default_factory=dict)  # step (= asset) -> STEP_START..STEP_SUCCESS

    def work(self, asset: str) -> dict[str, float]:
        """The asset's own measured seconds per partition."""
        return {day: m["qoa/wall_seconds"] for day, m in self.metadata.get(asset, {}).items()}

    @property
    def work_seconds(self) -> float:
        return sum(sum(self.work(asset).values()) for asset in self.metadata)

    @property
    def overhead(self) -> float:
        return self.wall - self.work_seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from asset_base.partitions import DAYS_PER_RUN

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backfill",
        description=(
            "Backfill DAYS daily partitions of a sample OpenAQ mirror through the data_logistics job "
            "(raw_openaq_measurements, harmonized_toar_series) and the features job (ozone_features; "
            "every day but the first, whose history is outside the window), in runs of BATCH days, "
            "in process on a SQLite Dagster instance under benchmarks/results/backfill/. Prints wall "
            "time per partition and splits it into work (the assets' own qoa/wall_seconds) and "
            "orchestration overhead (the rest of each run's wall time: run start and end, events, "
            "the Parquet IO manager), with the events written per run. "
            f"Target: overhead under {TARGET_SECONDS:g} s per day partition, amortized."
        ),
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2014, 1, 1),
        help="first day of the backfill (default %(default)s)",
    )
    parser.add_argument("--days", type=int, default=90, help="day partitions to backfill (default %(default)s)")
    parser.add_argument(
        "--stations",
        type=int,
        default=5,
        help="stations in the sample bucket; few keep the work small (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=2014, help="seed of the sample bucket (default %(default)s)")
    parser.add_argument(
        "--batch",
        type=int,
        default=DAYS_PER_RUN,
        help="days per run, the assets' backfill policy (default %(default)s)",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="TOAR database: a SQLite file in the scratch folder, or a throwaway database "
        "on the local PostgreSQL server (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.days < 2 or args.batch < 1 or args.stations < 1:
        parser.error("need --days >= 2 (features skip the first day), --batch >= 1 and --stations >= 1")
    return args


def backfill(job: str, keys: list[str], batch: int) -> list[Run]:
    """Runs of ``batch`` days over ``keys``, each timed around its execution."""
    from main_job import materializations

    runs = []
    for first in range(0, len(keys), batch):
        chunk = keys[first : first + batch]
        with stopwatch() as timing:
            [result] = run_partitions(job, chunk, len(chunk))
        metadata = {asset: materializations([result], asset) for asset in JOB_ASSETS[job]}
        for asset, found in metadata.items():
            if sorted(found) != chunk:
                raise SystemExit(f"{job}: run {result.run_id} materialized {asset} for {sorted(found)}, not {chunk}")
        runs.append(Run(job, chunk, result.run_id, timing["seconds"], metadata))
    return runs


def read_event_log(instance, run: Run) -> None:
    """Event count, event span and step durations of a run, from its event log."""
    entries = instance.all_logs(run.run_id)
    started = {}
    for entry in entries:
        kind = entry.dagster_event.event_type_value if entry.is_dagster_event else None
        if kind == "STEP_START":
            started[entry.step_key] = entry.timestamp
        elif kind == "STEP_SUCCESS":
            run.steps[entry.step_key] = entry.timestamp - started[entry.step_key]
    run.events = len(entries)
    run.dagster_events = sum(entry.is_dagster_event for entry in entries)
    run.span = entries[-1].timestamp - entries[0].timestamp


@contextlib.contextmanager
def toar_database(kind: str):
    """The TOAR database URL (None: a SQLite file in the scratch folder)."""
    if kind == "sqlite":
        yield None
        return
    from local_services.postgres import throwaway_postgres

    with throwaway_postgres("bench_backfill") as url:
        yield url


def report(runs: list[Run], days: list[str]) -> bool:
    """Print the figures; True if the target is met."""
    total_wall = sum(r.wall for r in runs)
    total_work = sum(r.work_seconds for r in runs)
    overhead = total_wall - total_work
    events = sum(r.events for r in runs)

    print("\nPer job (overhead = run wall time - the assets' qoa/wall_seconds)")
    rows = []
    for job in JOB_ASSETS:
        mine = [r for r in runs if r.job == job]
        partitions = sum(len(r.keys) for r in mine)
        wall, work = sum(r.wall for r in mine), sum(r.work_seconds for r in mine)
        rows.append(
            [
                job,
                len(mine),
                partitions,
                wall,
                wall / partitions,
                work,
                wall - work,
                (wall - work) / partitions,
                f"{(wall - work) / wall:.0%}",
                f"{sum(r.events for r in mine) / len(mine):.1f}",
                f"{sum(r.events for r in mine) / partitions:.1f}",
            ]
        )
    rows.append(
        [
            "both, per day",
            len(runs),
            len(days),
            total_wall,
            total_wall / len(days),
            total_work,
            overhead,
            overhead / len(days),
            f"{overhead / total_wall:.0%}",
            f"{events / len(runs):.1f}",
            f"{events / len(days):.1f}",
        ]
    )
    print_table(
        [
            "job",
            "runs",
            "partitions",
            "wall s",
            "wall/partition s",
            "work s",
            "overhead s",
            "overhead/partition s",
            "share",
            "events/run",
            "events/partition",
        ],
        rows,
    )

    outside = sum(r.wall - r.span for r in runs)
    framework = sum(r.span - sum(r.steps.values()) for r in runs)
    in_steps = sum(sum(r.steps.values()) - r.work_seconds for r in runs)
    print("\nWhere the overhead goes (from the event log's timestamps)")
    print_table(
        ["part", "seconds", "per day s", "share of overhead"],
        [
            [label, seconds, seconds / len(days), f"{seconds / overhead:.0%}"]
            for label, seconds in (
                ("around the run (instance, run creation, teardown)", outside),
                ("run framework (planning, start, resources, end)", framework),
                ("in steps, outside QoA (lake I/O, metadata, checks)", in_steps),
                ("overhead", overhead),
            )
        ],
    )
    print(
        f"events written: {events} in {len(runs)} runs ({events / len(runs):.0f} per run, "
        f"{sum(r.dagster_events for r in runs)} of them Dagster events); "
        f"overhead per event written {overhead / events * 1000:.1f} ms"
    )

    print("\nPer asset (work = qoa/wall_seconds per partition; step = STEP_START..STEP_SUCCESS of its runs)")
    rows = []
    for job, assets in JOB_ASSETS.items():
        for asset in assets:
            mine = [r for r in runs if r.job == job]
            seconds = [s for r in mine for s in r.work(asset).values()]
            rows_in = sum(m["qoa/rows_in"] for r in mine for m in r.metadata[asset].values())
            step = sum(r.steps[asset] for r in mine)
            rows.append(
                [
                    asset,
                    len(seconds),
                    round(rows_in / len(seconds)),
                    sum(seconds),
                    percentile(seconds, 0.5),
                    percentile(seconds, 0.95),
                    max(seconds),
                    step,
                    (step - sum(seconds)) / len(seconds),
                ]
            )
    print_table(
        [
            "asset",
            "partitions",
            "rows in/partition",
            "work s",
            "p50 s",
            "p95 s",
            "max s",
            "step s",
            "step-work/partition s",
        ],
        rows,
    )

    print("\nPer run")
    print_table(
        ["run", "job", "days", "wall s", "work s", "overhead s", "events", "Dagster events"],
        [
            [n + 1, r.job, f"{r.keys[0]}..{r.keys[-1]}", r.wall, r.work_seconds, r.overhead, r.events, r.dagster_events]
            for n, r in enumerate(runs)
        ],
    )

    amortized = overhead / len(days)
    print(
        "\nNot counted: loading the code location (once per process). Runs here execute in this process; "
        "a run launcher that starts a process per run would add its start-up to every run."
    )
    passed = amortized < TARGET_SECONDS
    print(
        f"Overhead per day partition, amortized: {amortized:.3f} s (target < {TARGET_SECONDS:g} s): "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return passed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bucket = generate_bucket(RESULTS / "bucket_backfill", args.start.isoformat(), args.days, args.stations, args.seed)
    days = partition_keys(args.start.isoformat(), args.days)
    with toar_database(args.database) as url, scratch_project("backfill", bucket, url) as root:
        from dagster import DagsterInstance

        importlib.import_module("definitions")  # once per process, as a code server loads it: not a run's cost
        runs = backfill("data_logistics", days, args.batch)
        # A day's features need the day before as history, so the first day has none.
        runs += backfill("features", days[1:], args.batch)
        with DagsterInstance.get() as instance:
            for run in runs:
                read_event_log(instance, run)
        print(
            f"\nBackfill {days[0]}..{days[-1]}: {len(days)} day partitions of a {args.stations}-station sample "
            f"bucket, runs of up to {args.batch} days, in process on the SQLite Dagster instance in "
            f"{(root / 'dagster_home').relative_to(ROOT)}; TOAR database: {args.database}"
        )
        passed = report(runs, days)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
