"""The main job: backfill data logistics and features over a window, train, promote, forecast.

With ``--source archive`` (the default) the data come from the OpenAQ v3 archive, the source
OpenAQ publishes today, over local days; with ``--source realtime`` from the v1 real-time
objects (``openaq-fetches``, private since November 2023), over fetch days:

1. with the archive, ``locations`` (openaq_locations: the followed locations) first;
2. the source's data logistics (raw partitions -> TOAR database) for every day of the window:
   ``archive_logistics`` or ``data_logistics``;
3. ``features`` (ozone_features) for the hourly model's training window, the last
   TRAINING_WINDOW_DAYS days (never the window's first day, whose history is outside it);
4. ``train_and_forecast`` for the last day (or ``--hold-back-days`` N before it, as if the
   model had been trained N days ago: ``make demo`` leaves 3 days to the retraining sensors of
   ``make ui``): a model on the feature days ending there (the last one is the holdout),
   promotion to champion if it wins, forecasts from the champion;
5. ``daily_metrics`` (toar_daily_metrics: dma8eu, daily means and maxima) for every day but the
   first, whose first 8-hour windows start the day before;
6. ``dma8eu_train`` for the same day, when the window holds enough days (DMA8EU_MIN_DAYS):
   the dma8eu model for leads of 1-4 days, judged by skill against persistence and
   climatology; then ``dma8eu_forecast``, its forecasts, when the model has a champion.

Runs go through the Dagster instance in ``DAGSTER_HOME`` (so ``make ui`` shows them), the
daily ones in batches of the assets' backfill policy. With the embedded defaults the source is
a sample mirror, generated when the window's days are not in it yet.

    python -m main_job                      # the archive's recent days: 30 ending 3 days ago
    python -m main_job --hold-back-days 3   # make demo: the models as trained 3 days before that
    python -m main_job --source realtime    # 2014-01-01..2014-01-10, the source paper's window
    python -m main_job --source realtime --start 2014-01-01 --end 2014-01-31
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from forecasting.settings import DMA8EU_MIN_DAYS
from resources.environment import (
    SAMPLE_ARCHIVE,
    SAMPLE_MIRROR,
    prepare_process,
    uses_sample_archive,
    uses_sample_mirror,
)

# The source paper's evaluation window, in the v1 objects.
PAPER_WINDOW = (date(2014, 1, 1), date(2014, 1, 10))


@dataclass(frozen=True)
class Source:
    """What the main job does differently per OpenAQ source."""

    raw_asset: str
    logistics_job: str
    day: str  # what a partition's day is, for the summary's first column
    catalog_job: str | None  # run once before the data logistics, if the source has a catalog
    default_window: Callable[[date], tuple[date, date]]  # today -> first and last day
    ensure_sample: Callable[[date, date], None]  # generates the embedded sample if the run reads it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m main_job",
        description=(
            "Backfill the source's raw partitions, harmonized_toar_series and ozone_features over the "
            "days START..END (inclusive) through the Dagster instance in DAGSTER_HOME, then train "
            "ozone_forecast_model on the feature window ending at END (END is the holdout; or "
            "--hold-back-days before it), promote "
            "it to champion in MLflow if it beats persistence and the current champion, write "
            "ozone_forecasts, and print per-day counts, database totals and holdout metrics. "
            "Locations come from OPENAQ_ARCHIVE_URL or OPENAQ_BUCKET_URL (by --source), "
            "TOAR_DATABASE_URL, DATA_LAKE_URL, MLFLOW_TRACKING_URI and DAGSTER_HOME; unset ones "
            "default to the project's data/ folder, where the default source is a sample mirror "
            "generated when the window's days are not in it."
        ),
    )
    parser.add_argument(
        "--source",
        choices=sorted(SOURCES),
        default="archive",
        help="archive: the OpenAQ v3 archive (raw_openaq_archive by local day, after the locations "
        "catalog; the live source); realtime: the v1 real-time objects (raw_openaq_measurements by "
        "fetch day; openaq-fetches, private since November 2023). Default %(default)s",
    )
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        help=f"first day (default: archive, the first of {SAMPLE_ARCHIVE.days} days ending "
        f"{SAMPLE_ARCHIVE.publication_lag_days} days before today, the latest the live archive publishes; "
        f"realtime, {PAPER_WINDOW[0]}, the source paper's window)",
    )
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        help=f"last day, inclusive (default: archive, {SAMPLE_ARCHIVE.publication_lag_days} days "
        f"before today; realtime, {PAPER_WINDOW[1]})",
    )
    parser.add_argument(
        "--hold-back-days",
        type=int,
        default=0,
        metavar="N",
        help="train the models on the days up to N days before END, as if trained N days ago, and "
        "forecast from that day; the N newer days are left to the retraining sensors (make demo "
        "uses 3: make ui then shows both models retrain at once). Default %(default)s",
    )
    args = parser.parse_args(argv)
    default_start, default_end = SOURCES[args.source].default_window(date.today())
    args.start = args.start or default_start
    args.end = args.end or default_end
    if (args.end - args.start).days - args.hold_back_days < 2 or args.hold_back_days < 0:
        parser.error(
            "the window, less the days held back, needs at least 3 days: one of history, then training days and the holdout"
        )
    return args


def ensure_sample_mirror() -> None:
    """Generate the default v1 bucket if this run reads it and it is not there yet."""
    if uses_sample_mirror() and not SAMPLE_MIRROR.path.exists():
        from sample_data.generator import generate_bucket

        print(f"Generating the sample OpenAQ mirror in {SAMPLE_MIRROR.path} ...", flush=True)
        generate_bucket(
            SAMPLE_MIRROR.path, SAMPLE_MIRROR.start, SAMPLE_MIRROR.days, SAMPLE_MIRROR.stations, SAMPLE_MIRROR.seed
        )


def ensure_sample_archive(start: date, end: date) -> None:
    """Generate the window's days into the default v3 archive if this run reads it and a day
    has no file yet. A file depends only on the seed, its location and its day, so days added
    to an existing archive agree with the ones there."""
    days = [start + timedelta(n) for n in range((end - start).days + 1)]
    if not uses_sample_archive() or all(_archive_has_day(day) for day in days):
        return
    from sample_data.openaq_v3.archive import generate_archive

    print(f"Generating the sample OpenAQ archive mirror in {SAMPLE_ARCHIVE.path} for {start}..{end} ...", flush=True)
    generate_archive(SAMPLE_ARCHIVE.path, start, len(days), SAMPLE_ARCHIVE.locations, SAMPLE_ARCHIVE.seed)


def _archive_has_day(day: date) -> bool:
    # Any file of the day will do: the generator writes a day's files together, and which
    # locations have none (the archive's gaps) is its decision.
    from sample_data.openaq_v3.archive import ARCHIVE_PREFIX

    pattern = f"{ARCHIVE_PREFIX}/locationid=*/year={day.year:04d}/month={day.month:02d}/location-*-{day:%Y%m%d}.csv.gz"
    return next(SAMPLE_ARCHIVE.path.glob(pattern), None) is not None


SOURCES = {
    "archive": Source(
        raw_asset="raw_openaq_archive",
        logistics_job="archive_logistics",
        day="local day",
        catalog_job="locations",
        # Read at call time: tests make the sample archive small.
        default_window=lambda today: SAMPLE_ARCHIVE.window(today),
        ensure_sample=ensure_sample_archive,
    ),
    "realtime": Source(
        raw_asset="raw_openaq_measurements",
        logistics_job="data_logistics",
        day="fetch day",
        catalog_job=None,
        default_window=lambda today: PAPER_WINDOW,
        ensure_sample=lambda start, end: ensure_sample_mirror(),  # the whole month, once
    ),
}


def run_job(job_name: str, keys: Sequence[str] | None, batch: int, instance=None) -> list:
    """Run a partitioned job over ``keys`` in runs of at most ``batch`` days (an unpartitioned
    one, ``keys`` None, in one run); stop at a failure. The runs go to ``instance`` if given,
    else to the instance of ``DAGSTER_HOME``."""
    import contextlib

    from dagster import DagsterInstance

    from asset_base.partitions import partition_range_tags
    from definitions import defs

    job = defs().resolve_job_def(job_name)
    chunks = [None] if keys is None else [keys[first : first + batch] for first in range(0, len(keys), batch)]
    results = []
    with DagsterInstance.get() if instance is None else contextlib.nullcontext(instance) as instance:
        for chunk in chunks:
            print(f"{job_name}: run{f' for {chunk[0]}..{chunk[-1]}' if chunk else ''} ...", flush=True)
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                tags=partition_range_tags(chunk[0], chunk[-1]) if chunk else None,
                raise_on_error=False,
            )
            results.append(result)
            if not result.success:
                print(f"Run {result.run_id} of {job_name} failed; see `make ui` for its logs.", file=sys.stderr)
                break
    return results


def run_window(source: Source, start: date, end: date, hold_back_days: int = 0) -> list:
    """The steps of the main job; returns every run's result (the last failed if any did)."""
    from dagster import PartitionKeyRange

    from asset_base.partitions import daily_partitions
    from resources import training_window_days

    keys = daily_partitions.get_partition_keys_in_range(PartitionKeyRange(start.isoformat(), end.isoformat()))
    steps, note = plan_steps(source, keys, hold_back_days, training_window_days())
    if note:
        print(note)
    results: list = []
    for job_name, job_keys, batch in steps:
        if job_name == "dma8eu_forecast" and not has_dma8eu_champion():
            print("dma8eu forecasts: none, the dma8eu model has no champion (the summary says why it was not promoted)")
            continue
        results += run_job(job_name, job_keys, batch)
        if not results[-1].success:
            break
    return results


Step = tuple[str, Sequence[str] | None, int]  # job, partition keys (None: unpartitioned), days per run


def plan_steps(
    source: Source, keys: Sequence[str], hold_back_days: int, window_days: int
) -> tuple[list[Step], str | None]:
    """The main job's runs over the window's ``keys``, and why the dma8eu model is left out if
    it is. The models train (and forecast) on the day ``hold_back_days`` before the last."""
    from asset_base.partitions import DAYS_PER_RUN

    # A day's features need the day before as history (their partition mapping says so), so
    # the window's first day has none; the hourly model reads only its training window's days
    # (and a retraining on the days held back, the window ending with the last).
    feature_keys = keys[max(1, len(keys) - window_days - hold_back_days) :]
    train_key = keys[len(keys) - 1 - hold_back_days : len(keys) - hold_back_days]
    steps: list[Step] = [
        (source.logistics_job, keys, DAYS_PER_RUN),
        ("features", feature_keys, DAYS_PER_RUN),
        ("train_and_forecast", train_key, 1),
        ("daily_metrics", keys[1:], DAYS_PER_RUN),
    ]
    if source.catalog_job:
        steps.insert(0, (source.catalog_job, None, 1))
    metric_days = len(keys) - 1 - hold_back_days  # up to the training day
    if metric_days < DMA8EU_MIN_DAYS:
        return (
            steps,
            f"dma8eu model: not trained, the window has {metric_days} days of daily metrics, it needs {DMA8EU_MIN_DAYS}",
        )
    return steps + [("dma8eu_train", train_key, 1), ("dma8eu_forecast", train_key, 1)], None


def has_dma8eu_champion() -> bool:
    import os

    from forecasting.registry import CHAMPION, RegisteredModel

    return RegisteredModel(os.environ["MLFLOW_TRACKING_URI"], "ozone-dma8eu").version(CHAMPION) is not None


def materializations(results: list, asset: str) -> dict[str, dict]:
    """Metadata values of an asset's materializations in these runs, by partition (None for an
    unpartitioned asset)."""
    found = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            m = event.materialization
            if m.asset_key.path[-1] == asset:
                found[m.partition] = {k: v.value for k, v in m.metadata.items()}
    return found


def print_summary(results: list, source: Source) -> None:
    import os

    import sqlalchemy as sa

    import toar.schema
    from resources.toar_database import ToarDatabase

    for m in materializations(results, "openaq_locations").values():
        print(
            f"\nLocations catalog (openaq_locations): {m['locations']} locations from {m['source']}, "
            f"{m['added']} added, {m['dropped']} dropped"
        )
    raw, harmonized = (
        materializations(results, source.raw_asset),
        materializations(results, "harmonized_toar_series"),
    )
    features = materializations(results, "ozone_features")
    print(f"\n{source.day}    objects  records   values  duplicates  quarantined  conserved  feature rows")
    for day in sorted(harmonized):
        r, h = raw.get(day, {}), harmonized[day]
        conserved = h["rows_in"] == h["rows_out"] + h["duplicates"] + h["quarantined"]
        print(
            f"{day}   {r.get('objects', 0):7d}  {h['rows_in']:7d}  {h['rows_out']:7d}  "
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
    print_dma8eu(results)
    print_quality(results)
    print(f"Dagster runs: {', '.join(r.run_id for r in results)} (open them with `make ui`)")


def print_dma8eu(results: list) -> None:
    """The dma8eu model's skill per lead, and its forecasts."""
    for day, m in materializations(results, "toar_daily_metrics").items():
        if day == max(materializations(results, "toar_daily_metrics")):
            print(
                f"\nDaily metrics (toar_daily_metrics), {day}: {m['stations_with_dma8eu']} of {m['dagster/row_count']} "
                f"stations with a valid dma8eu, mean {m['dma8eu_mean']:.1f} nmol/mol"
            )
    for day, m in materializations(results, "dma8eu_forecast_model").items():
        print(
            f"\ndma8eu model {m['model_name']} version {m['model_version']} (issue days up to {day}, "
            f"holdout from {m['holdout_start']}, {m['holdout_rows']} station-days):"
        )
        print(
            f"  {'lead':>4s} {'RMSE':>7s} {'MAE':>7s} {'bias':>7s} {'skill vs persistence':>21s} {'vs climatology':>15s}"
        )
        for lead in (1, 2, 3, 4):
            p = f"candidate_lead{lead}_"
            if p + "rmse" in m:
                print(
                    f"  {lead:3d}d {m[p + 'rmse']:7.2f} {m[p + 'mae']:7.2f} {m[p + 'bias']:+7.2f} "
                    f"{m[p + 'skill_persistence']:21.3f} {m[p + 'skill_climatology']:15.3f}"
                )
        print(f"  {'promoted to champion' if m['promoted'] else 'not promoted'} ({m['evidence']}): {m['decision']}")
    for day, m in materializations(results, "dma8eu_forecasts").items():
        print(
            f"dma8eu forecasts issued {day}: {m['stations']} stations x 4 leads, champion version "
            f"{m['champion_version']}{', challenger ' + m['challenger_version'] + ' in shadow' if m['challenger_version'] else ''}"
        )


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
        "openaq_locations",
        "raw_openaq_measurements",
        "raw_openaq_archive",
        "harmonized_toar_series",
        "ozone_features",
        "ozone_forecast_model",
        "ozone_forecasts",
        "toar_daily_metrics",
        "dma8eu_forecast_model",
        "dma8eu_forecasts",
    ):
        found = materializations(results, asset)
        if not found:
            continue
        total = {
            key: sum(m.get(f"qoa/{key}", 0) for m in found.values())
            for key in ("wall_seconds", "cpu_seconds", "cost_usd")
        }
        peak = max(m.get("qoa/peak_rss_mb", 0) for m in found.values())
        print(
            f"{asset:24s} {len(found):10d} {total['wall_seconds']:8.2f} {total['cpu_seconds']:8.2f} "
            f"{peak:8.0f} {total['cost_usd']:10.6f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_process()
    source = SOURCES[args.source]
    source.ensure_sample(args.start, args.end)
    results = run_window(source, args.start, args.end, args.hold_back_days)
    print_summary(results, source)  # also after a failure: what did run, and its numbers, help most then
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
