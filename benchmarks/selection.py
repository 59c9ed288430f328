"""Feature selection must not grow with the database.

    python -m benchmarks.selection            # 1x, 10x, 100x on PostgreSQL and SQLite
    python -m benchmarks.selection --help

Fills the TOAR schema (toar_assets/toar.writer.py) directly with synthetic hourly and 15-minute
series for growing numbers of stations and days, then times ``features_for_window`` for one
station over the training window, the way training reads it. The measured station and window
hold the same values at every size (values are a function of station, series and absolute
time only), so every size must return the same rows; the script asserts that.

Rows are loaded one measurement day at a time, all stations per day, as the pipeline writes
partitions: the physical order of ``data`` is by time, which is what a per-series read has to
cope with. PostgreSQL is analyzed after loading (autovacuum would do the same within a minute);
SQLite is left without statistics, as the product never runs ANALYZE there.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from benchmarks.common import RESULTS, percentile, print_table, stopwatch

TARGET_RATIO = 1.5
# The fixed window: issue times in [WINDOW_START, WINDOW_START + window days). Every size holds
# the days around it, so the window is always in the middle of the data, never at an edge.
WINDOW_START = datetime(2014, 1, 3)
FIRST_DAY_AT_1X = datetime(2014, 1, 1)
MEASURED_STATION = 1
HOUR = np.timedelta64(1, "h")

# Series per station, by station index modulo the pattern below: every block of 20 stations
# holds the same series, so row counts are proportional to stations x days.
# (variable, unit, sampling frequency, provider, which stations have it, base, diurnal amplitude, noise)
SERIES_KINDS = (
    ("o3", "nmol/mol", "hourly", "national network", lambda i: True, 28.0, 14.0, 3.0),
    ("o3", "nmol/mol", "15min", "regional network", lambda i: i % 5 == 0, 29.0, 14.0, 4.0),
    ("no2", "nmol/mol", "hourly", "national network", lambda i: i % 4 != 3, 18.0, -8.0, 4.0),
    ("pm2p5", "ug/m3", "hourly", "national network", lambda i: True, 12.0, 4.0, 3.0),
    ("pm10", "ug/m3", "hourly", "national network", lambda i: i % 2 == 0, 20.0, 6.0, 5.0),
    ("co", "nmol/mol", "hourly", "national network", lambda i: i % 4 == 1, 300.0, 80.0, 40.0),
    ("so2", "nmol/mol", "hourly", "national network", lambda i: i % 4 == 2, 3.0, 1.0, 1.0),
)
BLOCK = 20


@dataclass(frozen=True)
class Size:
    stations: int
    days: int

    @property
    def label(self) -> str:
        return f"{self.stations}x{self.days}"

    @property
    def first_day(self) -> datetime:
        # Extra days go half before, half after the 1x span, keeping the window centred.
        return FIRST_DAY_AT_1X - timedelta(days=(self.days - 10) // 2)


def parse_size(text: str) -> Size:
    try:
        stations, days = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STATIONSxDAYS, e.g. 40x10, not {text!r}") from None
    if stations < 1 or days < 10:
        raise argparse.ArgumentTypeError("a size needs at least 1 station and 10 days (the 1x span)")
    return Size(stations, days)


def _unit_noise(*keys: np.ndarray) -> np.ndarray:
    """Deterministic noise in [-1, 1) from integer keys (splitmix64 finalizer): the same
    station, series and hour give the same value whatever the database size."""
    with np.errstate(over="ignore"):
        x = np.zeros(np.broadcast(*keys).shape, dtype=np.uint64) + np.uint64(2014)
        for key in keys:
            x = x * np.uint64(0x9E3779B97F4A7C15) + np.asarray(key).astype(np.uint64)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**52 - 1.0


class SyntheticToar:
    """Rows of the TOAR tables for ``size``: stations, their series, one raw object per hour,
    and the values of one measurement day at a time."""

    def __init__(self, size: Size):
        from domain.quality import FLAG_OK
        from toar.harmonize import HARMONIZATION_VERSION

        self.size, self.flag, self.version = size, FLAG_OK, HARMONIZATION_VERSION
        index = np.arange(size.stations)
        self.stations = pd.DataFrame(
            {
                "id": index + 1,
                "latitude": np.round(35.0 + (index * 0.731) % 25.0, 4),
                "longitude": np.round(-10.0 + (index * 1.379) % 40.0, 4),
                "name": [f"Station {i:04d}" for i in index],
                "city": [f"City {i // 7:03d}" for i in index],
                "country": np.array(["DE", "FR", "ES", "IT"])[index % 4],
            }
        )
        self.stations["lat_key"] = (self.stations["latitude"] * 1e4).round().astype("int64")
        self.stations["lon_key"] = (self.stations["longitude"] * 1e4).round().astype("int64")
        # Series ids in station order: the measured station's series have the same ids at every size.
        series = [(i + 1, k, *SERIES_KINDS[k][:4]) for i in index for k, kind in enumerate(SERIES_KINDS) if kind[4](i)]
        self.series = pd.DataFrame(
            series, columns=["station_id", "kind", "variable", "unit", "sampling_frequency", "provider"]
        )
        self.series.insert(0, "id", np.arange(1, len(self.series) + 1))
        self.series["data_start_date"] = pd.Timestamp(size.first_day)
        self.series["data_end_date"] = pd.Timestamp(size.first_day + timedelta(days=size.days))
        # One raw object per hour, published five minutes after the hour it covers ends.
        hour_ends = pd.date_range(size.first_day + timedelta(hours=1), periods=24 * size.days, freq="h")
        published = hour_ends + pd.Timedelta(minutes=5)
        keys = [f"{p:%Y-%m-%d}/{int(p.timestamp())}.ndjson.gz" for p in published]
        self.objects = pd.DataFrame(
            {
                "id": np.arange(1, len(hour_ends) + 1),
                "key": keys,
                "etag": [hashlib.md5(key.encode()).hexdigest() for key in keys],  # S3's ETag of a single-part upload
                "partition_date": published.strftime("%Y-%m-%d"),
                "published_at": published,
            }
        )

    def day_values(self, day: int) -> pd.DataFrame:
        """Every series' values measured on day ``day`` of the span (0-based)."""
        frames = []
        for frequency, step in (("hourly", 60), ("15min", 15)):
            series = self.series[self.series["sampling_frequency"] == frequency]
            if series.empty:
                continue
            ends = np.datetime64(self.size.first_day + timedelta(days=day), "m") + np.arange(
                step, 24 * 60 + 1, step
            ).astype("timedelta64[m]")
            times = np.tile(ends, len(series))
            ids = np.repeat(series["id"].to_numpy(), len(ends))
            station = np.repeat(series["station_id"].to_numpy(), len(ends))
            kind = np.repeat(series["kind"].to_numpy(), len(ends))
            base, amplitude, noise = (np.array([SERIES_KINDS[k][j] for k in kind]) for j in (5, 6, 7))
            minutes = (times - np.datetime64("2014-01-01T00:00", "m")).astype(np.int64)
            hour_of_day = (minutes / 60.0) % 24
            weather = np.sin(2 * np.pi * minutes / (60 * 24 * 4.3) + station)  # multi-day persistence
            value = (
                base * (1 + 0.1 * np.sin(station))
                + amplitude * np.sin(2 * np.pi * (hour_of_day - 9) / 24)
                + 0.3 * base * weather
                + noise * _unit_noise(station, kind, minutes)
            )
            # A value belongs to the object of the hour it ends in.
            hour_index = -(-(times - np.datetime64(self.size.first_day, "m")).astype(np.int64) // 60) - 1
            frames.append(
                pd.DataFrame(
                    {
                        "timeseries_id": ids,
                        "datetime": pd.to_datetime(times),
                        "value": np.round(np.maximum(value, 0.0), 2),
                        "flags": self.flag,
                        "version": self.version,
                        "source_object_id": hour_index + 1,
                        "published_at": self.objects["published_at"].to_numpy()[hour_index],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


def fill(url: str, size: Size) -> int:
    """Create the TOAR schema and load ``size``'s rows; returns the rows in ``data``."""
    import toar.bulk_load
    import toar.database
    import toar.schema
    import toar.writer

    # An engine of its own: the loading connection's settings must not reach the measured ones.
    engine = toar.database.create_engine(url)
    toar.database.ensure_schema(engine)
    synthetic = SyntheticToar(size)
    rows = 0
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MB: index inserts stay in memory
        for table, frame in (
            (toar.schema.stationmeta_core, synthetic.stations),
            (toar.schema.timeseries, synthetic.series),
            (toar.schema.raw_object, synthetic.objects),
        ):
            toar.bulk_load.bulk_insert(conn, table, frame[[c.name for c in table.columns]])
        for day in range(size.days):
            values = synthetic.day_values(day)
            toar.bulk_load.bulk_insert(conn, toar.schema.data, values)
            rows += len(values)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return rows


def query_plan(engine, start: datetime, end: datetime, station_ids: list[int]) -> str:
    """The database's plan for the measurement query, indented."""
    from forecasting.features import measurement_query, series_query

    with engine.connect() as conn:
        series_ids = [row.id for row in conn.execute(series_query(station_ids))]
        sql = str(measurement_query(start, end, series_ids).compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            return "\n".join(f"  {row[-1]}" for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))
        return "\n".join(f"  {row[0]}" for row in conn.execute(sa.text(f"EXPLAIN {sql}")))


@dataclass
class Measured:
    size: Size
    rows: int
    build_seconds: float
    engine: sa.Engine
    selection: list[float]
    query: list[float]
    rows_selected: int = 0


def measure(backend: str, databases: dict[Size, str], args) -> list[Measured]:
    """Build every size, then time the sizes round-robin so background load hits them alike."""
    import toar.bulk_load
    import toar.database
    import toar.schema
    import toar.writer
    from forecasting.features import features_for_window, select_measurements

    issue_start = WINDOW_START
    issue_end = WINDOW_START + timedelta(days=args.window_days)
    station = [MEASURED_STATION]
    measured = []
    for size, url in databases.items():
        print(f"{backend}: loading {size.label} (stations x days) ...", flush=True)
        with stopwatch() as built:
            rows = fill(url, size)
        measured.append(Measured(size, rows, built["seconds"], toar.database.create_engine(url), [], []))
        print(f"{backend}: {size.label}: {rows} rows in data, {built['seconds']:.1f} s", flush=True)

    reference = None
    for m in measured:
        features, read = features_for_window(m.engine, issue_start, issue_end, args.horizon, station)
        if reference is None:
            reference = (features, read)
        else:  # same station, same window, same values: the same answer at every size
            pd.testing.assert_frame_equal(features, reference[0])
            assert read == reference[1], (read, reference[1])
        m.rows_selected = read["rows_selected"]
    features, read = reference
    if features.empty:
        raise SystemExit("the measured station has no feature rows in the window: the synthetic data is wrong")
    read_start, read_end = (pd.Timestamp(read[k]).to_pydatetime() for k in ("read_start", "read_end"))

    def select_only(engine):
        with engine.connect() as conn:
            select_measurements(conn, read_start, read_end, station)

    for round_number in range(args.warmup + args.repeats):
        for m in measured:
            with stopwatch() as t:
                features_for_window(m.engine, issue_start, issue_end, args.horizon, station)
            with stopwatch() as q:
                select_only(m.engine)
            if round_number >= args.warmup:
                m.selection.append(t["seconds"] * 1000)
                m.query.append(q["seconds"] * 1000)
    print(
        f"{backend}: {len(features)} feature rows from {measured[0].rows_selected} measurements per call; "
        f"query plan at {measured[-1].size.label}:\n{query_plan(measured[-1].engine, read_start, read_end, station)}",
        flush=True,
    )
    for m in measured:
        m.engine.dispose()
    return measured


def main(argv: list[str] | None = None) -> int:
    from resources import forecast_horizon_hours, training_window_days

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.selection",
        description=(
            "Time the feature selection (forecasting.features.features_for_window) for one station over "
            f"a fixed window on TOAR databases of growing size, on PostgreSQL (a throwaway database on "
            f"the local server) and SQLite (files under benchmarks/results/selection/). The first size is "
            f"the 1x reference. Target: median time at the largest size within {TARGET_RATIO}x of 1x, for "
            "the whole selection and for its SQL query alone."
        ),
    )
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=[Size(40, 10), Size(100, 40), Size(400, 100)],
        help="STATIONSxDAYS per size, the 1x reference first; stations in multiples of "
        f"{BLOCK} keep row counts proportional (default 40x10 100x40 400x100: 1x, 10x, 100x)",
    )
    parser.add_argument(
        "--databases",
        nargs="+",
        choices=["postgresql", "sqlite"],
        default=["postgresql", "sqlite"],
        help="backends to measure (default: both)",
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per size (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per size first (default %(default)s)")
    parser.add_argument(
        "--window-days",
        type=int,
        default=training_window_days(),
        help="issue days in the window, from 2014-01-03 (default: TRAINING_WINDOW_DAYS, %(default)s)",
    )
    parser.add_argument(
        "--horizon",
        type=int,
        default=forecast_horizon_hours(),
        help="forecast horizon in hours (default: FORECAST_HORIZON_HOURS, %(default)s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files afterwards (for EXPLAIN by hand)")
    args = parser.parse_args(argv)
    if args.window_days > 7:
        parser.error("the window must fit in the 1x span: at most 7 issue days")

    from local_services.postgres import throwaway_postgres

    folder = RESULTS / "selection"
    results: dict[str, list[Measured]] = {}
    for backend in args.databases:
        with contextlib.ExitStack() as stack:
            if backend == "postgresql":
                databases = {
                    size: stack.enter_context(throwaway_postgres(f"bench_selection_{size.label}"))
                    for size in args.sizes
                }
            else:
                folder.mkdir(parents=True, exist_ok=True)
                databases = {}
                for size in args.sizes:
                    path = folder / f"toar-{size.label}.sqlite"
                    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                        leftover.unlink(missing_ok=True)
                    if not args.keep:
                        stack.callback(path.unlink, missing_ok=True)
                    databases[size] = f"sqlite:///{path}"
            results[backend] = measure(backend, databases, args)

    print(
        f"\nFeature selection: station {MEASURED_STATION}, issue times {WINDOW_START:%Y-%m-%d} + {args.window_days} days, "
        f"horizon {args.horizon} h; median and p90 of {args.repeats} calls after {args.warmup} warm-up calls"
    )
    rows = []
    verdicts = []
    for backend, measured in results.items():
        base = measured[0]
        for m in measured:
            scale = m.rows / base.rows
            ratio = np.median(m.selection) / np.median(base.selection)
            query_ratio = np.median(m.query) / np.median(base.query)
            rows.append(
                [
                    backend,
                    f"{scale:.0f}x",
                    m.size.label,
                    m.rows,
                    m.rows_selected,
                    m.build_seconds,
                    float(np.median(m.selection)),
                    percentile(m.selection, 0.9),
                    float(ratio),
                    float(np.median(m.query)),
                    percentile(m.query, 0.9),
                    float(query_ratio),
                ]
            )
        largest = measured[-1]
        verdicts.append(
            (
                backend,
                f"{largest.rows / base.rows:.0f}x",
                float(np.median(largest.selection) / np.median(base.selection)),
                float(np.median(largest.query) / np.median(base.query)),
            )
        )
    print_table(
        [
            "database",
            "size",
            "stations x days",
            "rows in data",
            "rows selected",
            "build s",
            "median ms",
            "p90 ms",
            "ratio to 1x",
            "query median ms",
            "query p90 ms",
            "query ratio",
        ],
        rows,
    )
    print("(median/p90/ratio: features_for_window, selection and feature building; query: its SQL alone)")
    passed = True
    for backend, scale, ratio, query_ratio in verdicts:
        ok = ratio <= TARGET_RATIO and query_ratio <= TARGET_RATIO
        passed &= ok
        print(
            f"{'PASS' if ok else 'FAIL'}: {backend}: at {scale} the selection takes {ratio:.2f}x "
            f"(its query {query_ratio:.2f}x) the time at 1x; target <= {TARGET_RATIO}x"
        )
    print(f"{'PASS' if passed else 'FAIL'}: selection time flat within {TARGET_RATIO}x from 1x to the largest size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
