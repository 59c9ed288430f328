"""The main job: backfill the data-logistics assets over a window, then print a summary.

Runs go through the Dagster instance in ``DAGSTER_HOME`` (so ``make ui`` shows them), in
batches of the assets' backfill policy. With the embedded defaults the source is the sample
mirror, generated on first use.

    python -m main_job                      # 2014-01-01..2014-01-10, the source paper's window
    python -m main_job --start 2014-01-01 --end 2014-01-31
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from resources.environment import SAMPLE_MIRROR, apply_defaults, uses_sample_mirror

DEFAULT_START = date(2014, 1, 1)
DEFAULT_END = date(2014, 1, 10)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m main_job",
        description=(
            "Backfill raw_openaq_measurements and harmonized_toar_series over the days START..END "
            "(inclusive) through the Dagster instance in DAGSTER_HOME, then print per-day counts "
            "and the TOAR database totals. Locations come from OPENAQ_BUCKET_URL, TOAR_DATABASE_URL, "
            "DATA_LAKE_URL and DAGSTER_HOME; unset ones default to the project's data/ folder, and "
            "the default bucket is a sample mirror generated on first use."
        ),
    )
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first fetch day (default %(default)s)")
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last fetch day, inclusive (default %(default)s)")
    args = parser.parse_args(argv)
    if args.end < args.start:
        parser.error("--end is before --start")
    return args


def ensure_sample_mirror() -> None:
    """Generate the default local bucket if this run reads it and it is not there yet."""
    if uses_sample_mirror() and not SAMPLE_MIRROR.path.exists():
        from toar_assets.sample_bucket import generate_bucket

        print(f"Generating the sample OpenAQ mirror in {SAMPLE_MIRROR.path} ...", flush=True)
        generate_bucket(
            SAMPLE_MIRROR.path, SAMPLE_MIRROR.start, SAMPLE_MIRROR.days, SAMPLE_MIRROR.stations, SAMPLE_MIRROR.seed
        )


def run_backfill(start: date, end: date) -> list:
    """Materialize the data-logistics assets for start..end, one run per policy batch."""
    from dagster import DagsterInstance, PartitionKeyRange
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from definitions import defs
    from toar_assets.partitions import DAYS_PER_RUN, daily_partitions

    keys = daily_partitions.get_partition_keys_in_range(PartitionKeyRange(start.isoformat(), end.isoformat()))
    job = defs.resolve_job_def("data_logistics")
    results = []
    with DagsterInstance.get() as instance:
        for first in range(0, len(keys), DAYS_PER_RUN):
            batch = keys[first : first + DAYS_PER_RUN]
            print(f"Run for {batch[0]}..{batch[-1]} ...", flush=True)
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags={ASSET_PARTITION_RANGE_START_TAG: batch[0], ASSET_PARTITION_RANGE_END_TAG: batch[-1]},
                raise_on_error=False,
            )
            results.append(result)
            if not result.success:
                print(f"Run {result.run_id} failed; see `make ui` for its logs.", file=sys.stderr)
                break
    return results


def print_summary(results: list) -> None:
    import os

    import sqlalchemy as sa

    from resources.toar_database import ToarDatabase
    from toar_assets import toar_db

    print("\nfetch day    objects  records   values  duplicates  quarantined  conserved")
    for result in results:
        raw, harmonized = {}, {}
        for event in result.get_asset_materialization_events():
            materialization = event.materialization
            target = raw if materialization.asset_key.path[-1] == "raw_openaq_measurements" else harmonized
            target[materialization.partition] = {k: v.value for k, v in materialization.metadata.items()}
        for day in sorted(harmonized):
            r, h = raw.get(day, {}), harmonized[day]
            conserved = h["rows_in"] == h["rows_out"] + h["duplicates"] + h["quarantined"]
            print(
                f"{day}  {r.get('objects', 0):7d}  {h['rows_in']:7d}  {h['rows_out']:7d}  "
                f"{h['duplicates']:10d}  {h['quarantined']:11d}  {'yes' if conserved else 'NO'}"
            )
    database = ToarDatabase(url=os.environ["TOAR_DATABASE_URL"])
    with database.engine().connect() as conn:
        count = {t: conn.execute(sa.select(sa.func.count()).select_from(getattr(toar_db, t))).scalar_one()
                 for t in ("stationmeta_core", "timeseries", "data", "quarantine")}
        reasons = conn.execute(
            sa.select(toar_db.quarantine.c.reason, sa.func.count()).group_by(toar_db.quarantine.c.reason)
        ).all()
    print(
        f"\nTOAR database {database.display_url()}: {count['stationmeta_core']} stations, "
        f"{count['timeseries']} series, {count['data']} values, {count['quarantine']} quarantined"
    )
    print("quarantine by reason: " + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons)))
    print(f"Dagster runs: {', '.join(r.run_id for r in results)} (open them with `make ui`)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    apply_defaults()
    ensure_sample_mirror()
    results = run_backfill(args.start, args.end)
    if results and all(r.success for r in results):
        print_summary(results)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
