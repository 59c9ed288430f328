"""The main job: backfill data logistics and features over a window, train, promote, forecast.

1. ``data_logistics`` (raw OpenAQ partitions -> TOAR database) for every day of the window;
2. ``features`` (ozone_features) for every day of the window but the first, whose history
   (the day before) is outside the window;
3. ``train_and_forecast`` for the last day: a model on the feature days ending there (the last
   one is the holdout), promotion to champion if it wins, forecasts from the champion.

Runs go through the Dagster instance in ``DAGSTER_HOME`` (so ``make ui`` shows them), the
daily ones in batches of the assets' backfill policy. With the embedded defaults the source is
the sample mirror, generated on first use.

    python -m main_job                      # 2014-01-01..2014-01-10, the source paper's window
    python -m main_job --start 2014-01-01 --end 2014-01-31
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date

from resources.environment import SAMPLE_MIRROR, prepare_process, uses_sample_mirror

DEFAULT_START = date(2014, 1, 1)
DEFAULT_END = date(2014, 1, 10)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m main_job",
        description=(
            "Backfill raw_openaq_measurements, harmonized_toar_series and ozone_features over the "
            "days START..END (inclusive) through the Dagster instance in DAGSTER_HOME, then train "
            "ozone_forecast_model on the feature window ending at END (END is the holdout), promote "
            "it to champion in MLflow if it beats persistence and the current champion, write "
            "ozone_forecasts, and print per-day counts, database totals and holdout metrics. "
            "Locations come from OPENAQ_BUCKET_URL, TOAR_DATABASE_URL, DATA_LAKE_URL, "
            "MLFLOW_TRACKING_URI and DAGSTER_HOME; unset ones default to the project's data/ "
            "folder, and the default bucket is a sample mirror generated on first use."
        ),
    )
    parser.add_argument(
        "--start", type=date.fromisoformat, default=DEFAULT_START, help="first fetch day (default %(default)s)"
    )
    parser.add_argument(
        "--end", type=date.fromisoformat, default=DEFAULT_END, help="last fetch day, inclusive (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if (args.end - args.start).days < 2:
        parser.error("the window needs at least 3 days: one of history, then training days and the holdout")
    return args


def ensure_sample_mirror() -> None:
    """Generate the default local bucket if this run reads it and it is not there yet."""
    if uses_sample_mirror() and not SAMPLE_MIRROR.path.exists():
        from sample_data.generator import generate_bucket

        print(f"Generating the sample OpenAQ mirror in {SAMPLE_MIRROR.path} ...", flush=True)
        generate_bucket(
            SAMPLE_MIRROR.path, SAMPLE_MIRROR.start, SAMPLE_MIRROR.days, SAMPLE_MIRROR.stations, SAMPLE_MIRROR.seed
        )


def run_job(job_name: str, keys: Sequence[str], batch: int, instance=None) -> list:
    """Run a partitioned job over ``keys`` in runs of at most ``batch`` days; stop at a failure.
    The runs go to ``instance`` if given, else to the instance of ``DAGSTER_HOME``."""
    import contextlib

    from dagster import DagsterInstance

    from asset_base.partitions import partition_range_tags
    from definitions import defs

    job = defs().resolve_job_def(job_name)
    results = []
    with DagsterInstance.get() if instance is None else contextlib.nullcontext(instance) as instance:
        for first in range(0, len(keys), batch):
            chunk = keys[first : first + batch]
            print(f"{job_name}: run for {chunk[0]}..{chunk[-1]} ...", flush=True)
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags=partition_range_tags(chunk[0], chunk[-1]),
                raise_on_error=False,
            )
            results.append(result)
            if not result.success:
                print(f"Run {result.run_id} of {job_name} failed; see `make ui` for its logs.", file=sys.stderr)
                break
    return results


def run_window(start: date, end: date) -> list:
    """The three steps of the main job; returns every run's result (the last failed if any did)."""
    from dagster import PartitionKeyRange

    from asset_base.partitions import DAYS_PER_RUN, daily_partitions

    keys = daily_partitions.get_partition_keys_in_range(PartitionKeyRange(start.isoformat(), end.isoformat()))
    results = []
    for job_name, job_keys, batch in (
        ("data_logistics", keys, DAYS_PER_RUN),
        # A day's features need the day before as history (their partition mapping says so),
        # so the window's first day has none.
        ("features", keys[1:], DAYS_PER_RUN),
        ("train_and_forecast", keys[-1:], 1),
    ):
        results += run_job(job_name, job_keys, batch)
        if not results[-1].success:
            break
    return results


def materializations(results: list, asset: str) -> dict[str, dict]:
    """Metadata values of an asset's materializations in these runs, by partition."""
    found = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            m = event.materialization
            if m.asset_key.path[-1] == asset:
                found[m.partition] = {k: v.value for k, v in m.metadata.items()}
    return found


def print_summary(results: list) -> None:
    import os

    import sqlalchemy as sa

    import toar.schema
    from resources.toar_database import ToarDatabase

    raw, harmonized = (
        materializations(results, "raw_openaq_measurements"),
        materializations(results, "harmonized_toar_series"),
    )
    features = materializations(results, "ozone_features")
    print("\nfetch day    objects  records   values  duplicates  quarantined  conserved  feature rows")
    for day in sorted(harmonized):
        r, h = raw.get(day, {}), harmonized[day]
        conserved = h["rows_in"] == h["rows_out"] + h["duplicates"] + h["quarantined"]
        print(
            f"{day}  {r.get('objects', 0):7d}  {h['rows_in']:7d}  {h['rows_out']:7d}  "
            f"{h['duplicates']:10d}  {h['quarantined']:11d}  {'yes' if conserved else 'NO ':>9}  "
            f"{features[day]['dagster/row_count'] if day in features else '-':>12}"
        )
    database = ToarDatabase(url=os.environ["TOAR_DATABASE_URL"])
    with database.engine().connect() as conn:
        count = {
            t: conn.execute(sa.select(sa.func.count()).select_from(getattr(toar.schema, t))).scalar_one()
            for t in ("stationmeta_core", "timeseries", "data", "quarantine")
        }
        reasons = conn.execute(
            sa.select(toar.schema.quarantine.c.reason, sa.func.count()).group_by(toar.schema.quarantine.c.reason)
        ).all()
    print(
        f"\nTOAR database {database.display_url()}: {count['stationmeta_core']} stations, "
        f"{count['timeseries']} series, {count['data']} values, {count['quarantine']} quarantined"
    )
    print("quarantine by reason: " + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons)))
    for day, m in materializations(results, "ozone_forecast_model").items():
        print(f"\nModel {m['model_name']} version {m['model_version']} (trained on days up to {day}, holdout {day}):")
        print(f"  {'':12s} {'RMSE':>7s} {'MAE':>7s} {'R2':>7s}   (O3, nmol/mol, {m['candidate_n']} holdout hours)")
        for name in ("candidate", "baseline", "champion"):
            if f"{name}_rmse" in m:
                label = "persistence" if name == "baseline" else name
                print(f"  {label:12s} {m[name + '_rmse']:7.3f} {m[name + '_mae']:7.3f} {m[name + '_r2']:7.3f}")
        print(f"  {'promoted to champion' if m['promoted'] else 'not promoted'}: {m['decision']}")
    for day, m in materializations(results, "ozone_forecasts").items():
        print(
            f"Forecasts for {day}: {m['dagster/row_count']} stations, issued {m['issue_time']}, model version {m['model_version']}"
        )
    print_quality(results)
    print(f"Dagster runs: {', '.join(r.run_id for r in results)} (open them with `make ui`)")


def print_quality(results: list) -> None:
    """Asset checks and QoA figures (summed over partitions) per asset."""
    evaluations = [
        e.event_specific_data for r in results for e in r.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = [f"{ev.asset_key.to_user_string()}:{ev.check_name}" for ev in evaluations if not ev.passed]
    print(
        f"\nAsset checks: {len(evaluations) - len(failed)} passed, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )
    print(f"{'QoA':24s} {'partitions':>10s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s} {'cost USD':>10s}")
    for asset in (
        "raw_openaq_measurements",
        "harmonized_toar_series",
        "ozone_features",
        "ozone_forecast_model",
        "ozone_forecasts",
    ):
        found = materializations(results, asset)
        if not found:
            continue
        total = {
            key: sum(m.get(f"qoa/{key}", 0) for m in found.values())
            for key in ("wall_seconds", "cpu_seconds", "cost_usd")
        }
        peak = max(m.get("qoa/peak_rss_bytes", 0) for m in found.values()) / 2**20
        print(
            f"{asset:24s} {len(found):10d} {total['wall_seconds']:8.2f} {total['cpu_seconds']:8.2f} "
            f"{peak:8.0f} {total['cost_usd']:10.6f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_process()
    ensure_sample_mirror()
    results = run_window(args.start, args.end)
    print_summary(results)  # also after a failure: what did run, and its numbers, help most then
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
