"""Ingest throughput: one realistic OpenAQ day, three ways, side by side in one run.

(a) the floor: gunzip + pyarrow JSON parse of the day's objects (valid lines only);
(b) ``raw_openaq_measurements`` + ``harmonized_toar_series`` for that day, end to end into
    PostgreSQL through Dagster (job ``data_logistics``), in a child process whose peak RSS is
    measured; the process first runs the job once on a small day, as a long-lived code
    server or a multi-partition run would be warm, then once on the day, into a new database;
(c) a per-record loader like the source paper's prototype (look up the station, look up the
    series, insert the value: one statement at a time) on a sample, extrapolated to the day.

The three are measured one after the other in each of ``--rounds`` rounds, and each round's
ratios are taken within the round: a noisy machine's slow and fast phases then weigh on both
sides of a ratio. The floor is measured right before and right after (b), and the round uses
their mean, so it brackets the phase (b) ran in. The verdicts use the median of the rounds'
ratios.

Targets: (b) within 3x of (a), (c) at least 50x slower than (b), peak RSS of (b) under 1.5 GB.

    .venv/bin/python -m benchmarks.ingest            # 3,000 stations: about 485k records
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS, generate_bucket, print_table, run_partitions, scratch_project, stopwatch

TARGET_FLOOR_RATIO = 3.0
TARGET_SPEEDUP = 50.0
TARGET_PEAK_RSS_MB = 1536


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--day", default="2014-01-01", help="fetch day to generate and ingest (default %(default)s)")
    parser.add_argument(
        "--stations", type=int, default=3000, help="stations in the generated day (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default %(default)s)")
    parser.add_argument(
        "--sample-records",
        type=int,
        default=20000,
        help="records the per-record loader runs on before extrapolating (default %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="rounds of (a), (b), (a) again and (c), one after the other; a round's floor is the "
        "mean of its two (a); verdicts use the median of the rounds' ratios (default %(default)s)",
    )
    parser.add_argument("--dagster-child", metavar="JSON", help=argparse.SUPPRESS)  # internal: run (b), write figures
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bucket = generate_bucket(RESULTS / f"ingest-bucket-{args.stations}", args.day, 1, args.stations, args.seed)
    warmup_bucket = generate_bucket(RESULTS / "ingest-bucket-warmup", args.day, 1, 20, args.seed)
    if args.dagster_child:
        Path(args.dagster_child).write_text(json.dumps(dagster_run(bucket, warmup_bucket, args.day)))
        return 0

    from resources.openaq_bucket import OpenAQBucket

    source = OpenAQBucket(url=str(bucket))
    objects = [(info.key, source.read(info.key)) for info in source.list_day(args.day)]
    texts = _texts(objects)
    records = sum(text.count(b"\n") for text in texts)
    print(
        f"{args.day}: {len(objects)} objects, {sum(len(d) for _, d in objects) / 1e6:.1f} MB as stored, "
        f"{sum(len(t) for t in texts) / 1e6:.1f} MB of NDJSON, {records} lines",
        flush=True,
    )

    floor_texts = valid_texts(objects, texts)
    rounds = []
    for number in range(1, args.rounds + 1):
        before = measure_floor(objects, floor_texts)
        dagster = measure_dagster(args)
        after = measure_floor(objects, floor_texts)
        floor = {**before, "seconds": (before["seconds"] + after["seconds"]) / 2}
        loader = measure_per_record_loader(objects, args.sample_records)
        loader_day = loader["seconds"] / loader["records"] * dagster["records"]
        rounds.append(
            {
                "floor": floor,
                "dagster": dagster,
                "loader_day": loader_day,
                "floor_ratio": dagster["run_seconds"] / floor["seconds"],
                "speedup": loader_day / dagster["run_seconds"],
            }
        )
        print(
            f"round {number}: (a) {floor['seconds']:.2f} s (before (b) {before['seconds']:.2f} s, after "
            f"{after['seconds']:.2f} s), (b) {dagster['run_seconds']:.2f} s, "
            f"(c) {loader_day:.1f} s extrapolated from {loader['records']} records in {loader['seconds']:.2f} s",
            flush=True,
        )

    print()
    print_table(
        [
            "round",
            "(a) floor s",
            "(b) Dagster s",
            "raw asset s",
            "harmonized asset s",
            "orchestration s",
            "(c) loader s",
            "(b)/(a)",
            "(c)/(b)",
            "peak RSS MB",
        ],
        [
            [
                n,
                r["floor"]["seconds"],
                r["dagster"]["run_seconds"],
                r["dagster"]["raw_seconds"],
                r["dagster"]["harmonized_seconds"],
                r["dagster"]["overhead_seconds"],
                r["loader_day"],
                r["floor_ratio"],
                r["speedup"],
                f"{r['dagster']['peak_rss_mb']:.0f}",
            ]
            for n, r in enumerate(rounds, start=1)
        ],
    )
    floor_ratio = statistics.median(r["floor_ratio"] for r in rounds)
    speedup = statistics.median(r["speedup"] for r in rounds)
    peak_rss = max(r["dagster"]["peak_rss_mb"] for r in rounds)
    last = rounds[-1]["dagster"]
    records = rounds[-1]["floor"]["records"]
    print(
        f"\n(a) parses {records} records; (b): {last['records']} records in, {last['values']} values written, "
        f"{last['quarantined']} quarantined, {last['events']} Dagster events; the first run in each (b) process (cold "
        f"imports) took {last['warmup_seconds']:.2f} s on the {last['warmup_records']}-record warm-up day"
    )
    print(
        "peak RSS of (b): each round's child process's high-water mark (the warm-up day, then the day); the largest counts"
    )
    print()
    verdicts = [
        (
            f"(b) within {TARGET_FLOOR_RATIO:g}x of the floor (median of rounds)",
            floor_ratio,
            floor_ratio <= TARGET_FLOOR_RATIO,
        ),
        (f"(b) at least {TARGET_SPEEDUP:g}x faster than (c) (median of rounds)", speedup, speedup >= TARGET_SPEEDUP),
        (f"peak RSS of (b) under {TARGET_PEAK_RSS_MB} MB", peak_rss, peak_rss < TARGET_PEAK_RSS_MB),
    ]
    for name, value, passed in verdicts:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {value:.2f}")
    return 0


def _texts(objects: list[tuple[str, bytes]]) -> list[bytes]:
    from sources.openaq_v1.parse import decompress

    return [decompress(data)[0] for _, data in objects]


def valid_texts(objects: list[tuple[str, bytes]], texts: list[bytes]) -> list[bytes]:
    """Each object's lines that pyarrow accepts: the floor parses only those (the product must
    also find and keep the others, which is part of what the floor leaves out)."""
    import pyarrow as pa

    from sources.openaq_v1.parse import parse_object

    valid = []
    for (key, data), text in zip(objects, texts, strict=True):
        parsed = parse_object(data, key=key, etag="")
        accepted = set(parsed.filter(pa.compute.is_null(parsed.column("raw_line"))).column("line_number").to_pylist())
        valid.append(b"\n".join(line for n, line in enumerate(text.split(b"\n"), start=1) if n in accepted))
    return valid


def measure_floor(objects: list[tuple[str, bytes]], valid: list[bytes]) -> dict:
    """gunzip every object, and parse its valid lines with one pyarrow call per object."""
    import pyarrow.json as pa_json

    from sources.openaq_v1.parse import SOURCE_SCHEMA, decompress

    options = pa_json.ParseOptions(explicit_schema=SOURCE_SCHEMA, unexpected_field_behavior="ignore")
    with stopwatch() as gunzip:
        for _, data in objects:
            decompress(data)
    with stopwatch() as parse:
        # (an object none of whose lines is valid has nothing to parse)
        rows = sum(pa_json.read_json(io.BytesIO(text), parse_options=options).num_rows for text in valid if text)
    return {
        "gunzip": gunzip["seconds"],
        "parse": parse["seconds"],
        "records": rows,
        "seconds": gunzip["seconds"] + parse["seconds"],
    }


def measure_dagster(args: argparse.Namespace) -> dict:
    """Run (b) in a child process, to measure its peak RSS alone."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            "-m",
            "benchmarks.ingest",
            "--day",
            args.day,
            "--stations",
            str(args.stations),
            "--seed",
            str(args.seed),
            "--dagster-child",
            out.name,
        ]
        with tempfile.TemporaryFile() as log:  # Dagster's log lines, shown only if the run fails
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            if status != 0:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-5000:])
                raise SystemExit(f"the Dagster run failed: {' '.join(command)}")
        figures = json.loads(Path(out.name).read_text())
    return {**figures, "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux reports kilobytes


def dagster_run(bucket: Path, warmup_bucket: Path, day: str) -> dict:
    """The job ``data_logistics`` for ``day`` into a throwaway PostgreSQL database, after a run
    on a small day that warms the process and the Dagster instance (a deployment's instance
    exists before its runs, and its process holds it open); each run into a new database and
    lake."""
    import contextlib
    import shutil

    from dagster import DagsterInstance

    from local_services.postgres import throwaway_postgres
    from main_job import materializations

    home = RESULTS / "ingest-dagster-home"
    shutil.rmtree(home, ignore_errors=True)
    runs = {}
    with contextlib.ExitStack() as opened:
        instance = None  # opened once, as a code server or a run worker holds its instance
        for label, source in [("warmup", warmup_bucket), ("measured", bucket)]:
            with throwaway_postgres(f"ingest_{label}") as url, scratch_project(f"ingest-{label}", source, url, home):
                instance = instance or opened.enter_context(DagsterInstance.get())
                with stopwatch() as run:
                    (result,) = run_partitions("data_logistics", [day], 1, instance)
            raw = materializations([result], "raw_openaq_measurements")[day]
            harmonized = materializations([result], "harmonized_toar_series")[day]
            runs[label] = {
                "run_seconds": run["seconds"],
                "raw_seconds": raw["qoa/wall_seconds"],
                "harmonized_seconds": harmonized["qoa/wall_seconds"],
                "records": raw["records"],
                "values": harmonized["dagster/row_count"],
                "quarantined": harmonized["quarantined"],
                "events": len(result.all_events),
            }
    measured = runs["measured"]
    return {
        **measured,
        "overhead_seconds": measured["run_seconds"] - measured["raw_seconds"] - measured["harmonized_seconds"],
        "warmup_seconds": runs["warmup"]["run_seconds"],
        "warmup_records": runs["warmup"]["records"],
    }


def measure_per_record_loader(objects: list[tuple[str, bytes]], sample_records: int) -> dict:
    """The source paper's prototype's way: every record is parsed, its station and series
    looked up (and created when missing), and its value inserted, one statement each, in a
    transaction per object (generous to it: a commit per record would be slower still)."""
    import psycopg2
    import sqlalchemy as sa

    import toar.database
    from local_services.postgres import throwaway_postgres
    from sources.openaq_v1.parse import decompress

    with throwaway_postgres("ingest_per_record") as url:
        engine = toar.database.create_engine(url)
        toar.database.ensure_schema(engine)
        engine.dispose()
        connection = psycopg2.connect(
            sa.engine.make_url(url).render_as_string(hide_password=False).replace("+psycopg2", "")
        )
        loaded = 0
        try:
            with stopwatch() as timing:
                for key, data in objects:
                    text = decompress(data)[0]  # the loader gunzips each object it reads, as the product does
                    with connection, connection.cursor() as cursor:
                        cursor.execute(
                            "INSERT INTO raw_object (key, etag, partition_date) VALUES (%s, '', '') RETURNING id",
                            (key,),
                        )
                        object_id = cursor.fetchone()[0]
                        for line in text.splitlines():
                            if line.strip():
                                _load_record(cursor, line, object_id)
                                loaded += 1
                                if loaded == sample_records:
                                    break
                    if loaded == sample_records:
                        break
        finally:
            connection.close()
    return {"records": loaded, "seconds": timing["seconds"]}


def _load_record(cursor, line: bytes, object_id: int) -> None:
    """One record, the per-record way; records that cannot be loaded are skipped (as counted work)."""
    from domain.stations import COORDINATE_DECIMALS
    from domain.vocabulary import GASES, TOAR_VARIABLES, UG_M3_PER_PPB

    try:
        record = json.loads(line)
        variable = TOAR_VARIABLES[record["parameter"]]
        value = float(record["value"])
        latitude, longitude = record["coordinates"]["latitude"], record["coordinates"]["longitude"]
        period = record.get("averagingPeriod") or {}
        when = record["date"]["utc"].replace("Z", "").replace("T", " ")[:19]
    except (ValueError, KeyError, TypeError):
        return
    unit = record.get("unit")
    if variable in GASES:
        value = value * 1000 if unit == "ppm" else value / UG_M3_PER_PPB[variable] if unit != "ppb" else value
    lat_key, lon_key = round(latitude * 10**COORDINATE_DECIMALS), round(longitude * 10**COORDINATE_DECIMALS)
    cursor.execute("SELECT id FROM stationmeta_core WHERE lat_key = %s AND lon_key = %s", (lat_key, lon_key))
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            "INSERT INTO stationmeta_core (lat_key, lon_key, name, city, country, latitude, longitude) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                lat_key,
                lon_key,
                record.get("location") or "",
                record.get("city") or "",
                record.get("country") or "",
                latitude,
                longitude,
            ),
        )
        row = cursor.fetchone()
    frequency = f"{period.get('value')}{period.get('unit')}"
    provider = record.get("sourceName") or "unknown"
    cursor.execute(
        "SELECT id FROM timeseries WHERE station_id = %s AND variable = %s AND provider = %s AND sampling_frequency = %s",
        (row[0], variable, provider, frequency),
    )
    series = cursor.fetchone()
    if series is None:
        cursor.execute(
            "INSERT INTO timeseries (station_id, variable, unit, sampling_frequency, provider) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (row[0], variable, "nmol/mol" if variable in GASES else "µg/m³", frequency, provider),
        )
        series = cursor.fetchone()
    cursor.execute(
        "INSERT INTO data (timeseries_id, datetime, value, flags, version, source_object_id) "
        "VALUES (%s, %s, %s, 'OKPreliminaryNotChecked', '1', %s) "
        "ON CONFLICT (timeseries_id, datetime) DO UPDATE SET value = excluded.value",
        (series[0], when, value, object_id),
    )


if __name__ == "__main__":
    sys.exit(main())
