"""A realistic OpenAQ v3 archive day, side by side with its parse floor.

One local day of about 3,000 locations (hourly, about 3.8 sensors each) made by the product's
generator and served by moto's S3 server on loopback, read as the product reads the archive:

(a) the floor: gunzip + pyarrow CSV of the same objects from local disk (every field as text,
    as the parser reads them);
(b) the archive path without Dagster: list the locations' months a few at a time
    (``archive_day_by_location``) while the objects already listed are fetched and read to their
    lines (``read_archive_day``), convert the day's lines to raw rows at once, harmonize and
    write the day to a throwaway PostgreSQL database in one transaction
    (``write_while_harmonizing``);
(r) the requests alone: the same LISTs and GETs from a bare boto3 client, as many at once as
    (b) sends, nothing parsed: what the loopback server costs, below which (b) cannot go.

Figures: each stage's seconds, the ratios (b)/(a) and (b)/((a) + (r)), LIST and GET requests,
peak RSS of this process. Not a test: run it alone (`python -m benchmarks.archive --help`).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import logging
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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


@contextlib.contextmanager
def moto_s3_process():
    """moto's S3 server in a process of its own, as a real server is: it takes no CPU or GIL
    from the reader's process. Yields its endpoint URL."""
    from local_services.loopback import free_port, wait_until_serving

    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    # Its log of every request goes nowhere: an unread pipe would fill and stop the server.
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{endpoint}/moto-api/", server, timeout=60)
        yield endpoint
    finally:
        server.terminate()
        server.wait()


def request_seconds(
    client, prefixes: list[str], keys: list[str], list_threads: int, read_threads: int
) -> tuple[float, float]:
    """Seconds for a LIST of every prefix, then a GET of every key, by a bare boto3 client."""
    began = time.perf_counter()
    with ThreadPoolExecutor(list_threads) as pool:
        list(pool.map(lambda prefix: client.list_objects_v2(Bucket=BUCKET, Prefix=prefix), prefixes))
    listed = time.perf_counter()
    with ThreadPoolExecutor(read_threads) as pool:
        list(pool.map(lambda key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read(), keys))
    return listed - began, time.perf_counter() - listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--locations", type=int, default=3000, help="locations in the day (default %(default)s)")
    parser.add_argument(
        "--day", type=date.fromisoformat, default=date(2024, 3, 5), help="local day (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default %(default)s)")
    parser.add_argument(
        "--moto-process",
        action="store_true",
        help="run moto's server in a process of its own (default: in this process, sharing its GIL)",
    )
    args = parser.parse_args(argv)

    import boto3

    from local_services.loopback import moto_s3_server
    from local_services.postgres import throwaway_postgres
    from resources.openaq_bucket import ARCHIVE_LIST_THREADS, ARCHIVE_RECORDS, OpenAQBucket
    from sample_data.generator import generate_archive
    from sources.openaq_v3.catalog import catalog_from_file, with_catalog_fields
    from sources.openaq_v3.keys import month_prefix
    from sources.openaq_v3.reader import ARCHIVE_READ_THREADS, read_archive_day
    from toar.database import create_engine, ensure_schema
    from toar.harmonize import harmonize_in_parts
    from toar.writer import write_while_harmonizing

    root = RESULTS / f"archive-{args.locations}-{args.day}-{args.seed}"
    if not (root / "locations.json").exists():
        print(f"generating {args.locations} locations for {args.day} in {root} ...", flush=True)
        generate_archive(root, args.day, 1, args.locations, args.seed)
    catalog = catalog_from_file(root / "locations.json")
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
    server = moto_s3_process() if args.moto_process else moto_s3_server()
    with server as endpoint, throwaway_postgres("bench_archive") as database_url:
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
        locations = catalog.column("location_id").to_pylist()

        began = time.perf_counter()
        missing: list[int] = []

        table, report = read_archive_day(bucket.archive_day_listing(locations, args.day, missing), bucket.read, None)
        table = with_catalog_fields(table, catalog)  # as raw_openaq_archive does
        read = time.perf_counter()
        harmonized, stats = write_while_harmonizing(
            engine, args.day.isoformat(), harmonize_in_parts(table, 125_000), lambda _: True
        )
        written = time.perf_counter()
        engine.dispose()
        prefixes = [ARCHIVE_RECORDS + month_prefix(i, args.day.year, args.day.month) for i in locations]
        lists, gets = request_seconds(client, prefixes, keys, ARCHIVE_LIST_THREADS, ARCHIVE_READ_THREADS)

    total = written - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"(b) list + fetch + parse {read - began:.2f} s ({requests['ListObjectsV2']} LISTs, "
        f"{ARCHIVE_LIST_THREADS} at a time, {len(missing)} locations without a file; {requests['GetObject']} GETs, "
        f"{ARCHIVE_READ_THREADS} at a time; {report.records} rows), harmonize + write {written - read:.2f} s "
        f"({stats.values_written if stats else 0} values, {len(harmonized.quarantine)} quarantined): {total:.2f} s"
    )
    print(f"(r) the requests alone: {len(prefixes)} LISTs {lists:.2f} s, {len(keys)} GETs {gets:.2f} s")
    print(
        f"(b)/(a) {total / floor:.2f}  (b)/((a) + (r)) {total / (floor + lists + gets):.2f}; peak RSS {peak_mb:.0f} MB"
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
