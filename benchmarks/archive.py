"""A realistic OpenAQ v3 archive day, side by side with its parse floor.

One local day of about 3,000 locations (hourly, about 3.8 sensors each) made by the product's
generator and served by moto's S3 server on loopback, read as the product reads the archive:

(a) the floor: gunzip + pyarrow CSV of the same objects from local disk (every field as text,
    as the parser reads them);
(b) the archive path without Dagster: list each location's month (``archive_day``), fetch and
    parse (``read_archive_day``: four objects at a time), harmonize and write the day to a
    throwaway PostgreSQL database in one transaction (``write_while_harmonizing``).

Figures: each stage's seconds, the ratio (b)/(a), LIST and GET requests, peak RSS of this
process. Not a test: run it alone (`python -m benchmarks.archive --help`).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks.common import RESULTS

BUCKET = "openaq-data-archive"


def floor_seconds(root: Path, keys: list[str]) -> tuple[float, int]:
    """gunzip + pyarrow CSV of every object from local disk; the rows read."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from sources.openaq_v3.parse import HEADER

    convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string()))
    blobs = [(root / key).read_bytes() for key in keys]
    began = time.perf_counter()
    rows = 0
    for blob in blobs:
        table = pa_csv.read_csv(
            io.BytesIO(gzip.decompress(blob)),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            convert_options=convert,
        )
        rows += table.num_rows
    return time.perf_counter() - began, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", type=int, default=3000, help="locations in the day (default %(default)s)")
    parser.add_argument(
        "--day", type=date.fromisoformat, default=date(2024, 3, 5), help="local day (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default %(default)s)")
    args = parser.parse_args(argv)

    import boto3

    from local_services.loopback import moto_s3_server
    from local_services.postgres import throwaway_postgres
    from resources.openaq_bucket import OpenAQBucket
    from sample_data.generator import generate_archive
    from sources.openaq_v3.reader import read_archive_day
    from toar.database import create_engine, ensure_schema
    from toar.harmonize import harmonize_in_parts
    from toar.writer import write_while_harmonizing

    root = RESULTS / f"archive-{args.locations}-{args.day}-{args.seed}"
    if not (root / "locations.json").exists():
        print(f"generating {args.locations} locations for {args.day} in {root} ...", flush=True)
        generate_archive(root, args.day, 1, args.locations, args.seed)
    catalog = json.loads((root / "locations.json").read_text())
    keys = sorted(str(p.relative_to(root)) for p in (root / "records").rglob("*.csv.gz"))
    floor, floor_rows = floor_seconds(root, keys)
    print(
        f"{len(keys)} objects, {sum((root / k).stat().st_size for k in keys) / 1e6:.1f} MB; "
        f"(a) floor {floor:.2f} s for {floor_rows} rows",
        flush=True,
    )

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    with moto_s3_server() as endpoint, throwaway_postgres("bench_archive") as database_url:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        for key in keys:  # public, as the real archive: read with unsigned requests
            client.put_object(Bucket=BUCKET, Key=key, Body=(root / key).read_bytes(), ACL="public-read")
        bucket = OpenAQBucket(url=f"s3://{BUCKET}", endpoint_url=endpoint, unsigned=True)
        requests = {"ListObjectsV2": 0, "GetObject": 0}
        bucket._s3().meta.events.register(
            "before-call.s3.*", lambda model, **_: requests.__setitem__(model.name, requests.get(model.name, 0) + 1)
        )
        engine = create_engine(database_url)
        ensure_schema(engine)
        locations = [entry["id"] for entry in catalog]
        providers = {entry["id"]: entry["provider"] for entry in catalog}

        began = time.perf_counter()
        objects, missing = bucket.archive_day(locations, args.day)
        listed = time.perf_counter()
        table, report = read_archive_day(objects, bucket.read, None, providers)
        read = time.perf_counter()
        harmonized, stats = write_while_harmonizing(
            engine, args.day.isoformat(), harmonize_in_parts(table, 125_000), lambda _: True
        )
        written = time.perf_counter()
        engine.dispose()

    total = written - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"(b) list {listed - began:.2f} s ({requests['ListObjectsV2']} LISTs, {len(missing)} locations without a file), "
        f"fetch + parse {read - listed:.2f} s ({requests['GetObject']} GETs, {report.records} rows), "
        f"harmonize + write {written - read:.2f} s ({stats.values_written if stats else 0} values, "
        f"{len(harmonized.quarantine)} quarantined): {total:.2f} s"
    )
    print(
        f"(b)/(a) {total / floor:.2f}  ((b) without listing: {(written - listed) / floor:.2f}); peak RSS {peak_mb:.0f} MB"
    )
    print(
        f"conservation: {harmonized.rows_in} rows in = {len(harmonized.observations)} values + "
        f"{harmonized.duplicates} duplicates + {len(harmonized.quarantine)} quarantined: "
        f"{'yes' if harmonized.conserved else 'NO'}"
    )
    verdict = total / floor <= 3
    print(f"{'PASS' if verdict else 'FAIL'}  (b) within 3x of the floor: {total / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
