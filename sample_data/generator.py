"""Deterministic local mirrors of OpenAQ's buckets: the v1 "realtime" bucket (``openaq-fetches``)
and the v3 archive (``openaq-data-archive``); the public API and the command line
(``python -m sample_data.generator --help``, ``... archive --help``, ``... patch-archive --help``).

The embedded default data source of the code location (the demo backfills
2014-01-01..2014-01-10 from it) and the data set of the ingestion benchmark. The layout is
described in ``sample_data.openaq_v1``; the v3 archive's in ``sample_data.openaq_v3``.

Determinism: the same arguments give byte-identical files, and a day's bytes do not depend
on how many days are generated (see ``sample_data.randomness``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from sample_data.network import PARAMETERS, UG_PER_PPB, UNITS
from sample_data.openaq_v1.bucket import BucketSummary, generate_bucket
from sample_data.openaq_v1.publication import NAMINGS
from sample_data.openaq_v3.archive import ArchiveSummary, archive_key, generate_archive
from sample_data.openaq_v3.command import archive_main, patch_main
from sample_data.openaq_v3.patch import ArchivePatch, ValueChange, patch_archive

__all__ = [
    "ArchivePatch",
    "ArchiveSummary",
    "BucketSummary",
    "PARAMETERS",
    "UNITS",
    "UG_PER_PPB",
    "ValueChange",
    "archive_key",
    "generate_archive",
    "generate_bucket",
    "main",
    "patch_archive",
]
PROG = "python -m sample_data.generator"

_DESCRIPTION = """\
Generate a deterministic local mirror of the OpenAQ v1 "realtime" bucket (openaq-fetches).

Output below --out:
  YYYY-MM-DD/<unix>.ndjson.gz        legacy objects, gzip (mtime 0, no file name)
  YYYY-MM-DD/<unix>_<suffix>.ndjson  newer objects, plain text
The folder is the UTC fetch day; <unix> is the object's publish time inside that day.
Each line is one OpenAQ measurement: date{utc,local}, parameter, location, value, unit,
city, attribution, averagingPeriod (optional), coordinates (optional), country,
sourceName, sourceType, mobile. date.utc is the END of the averaging period.

Parameters pm25 pm10 no2 so2 o3 co bc (+ a few no nox pm1); units µg/m³, ppm, ppb;
averaging 1 h, 0.25 h and (some PM) 24 h. Realism on purpose: shared location names in
different cities, one station renamed 12 h after --start, records without coordinates or
averagingPeriod, small negative values for low gases, re-published duplicates, a mobile
source, data of the previous day near midnight.

Faults (unless --no-faults): a share of broken lines (cut JSON, "n/a" or NaN values, unit
mg/m³, values 99999/-999), a truncated gzip object every third day, and one file per day
folder that is not an object (<unix>.ndjson.tmp or README.txt).

Same arguments give byte-identical files, and a day's files do not depend on --days.

The v3 archive (openaq-data-archive): `archive --help` and `patch-archive --help`.
"""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["archive"]:  # the v1 command line has no positional arguments
        return archive_main(argv[1:], PROG)
    if argv[:1] == ["patch-archive"]:
        return patch_main(argv[1:], PROG)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (bucket root); created if missing")
    parser.add_argument(
        "--start",
        type=_parse_date,
        default=date(2014, 1, 1),
        help="first UTC fetch day, YYYY-MM-DD (default: 2014-01-01)",
    )
    parser.add_argument("--days", type=int, default=10, help="number of fetch days to write (default: 10)")
    parser.add_argument(
        "--stations",
        type=int,
        default=30,
        help="number of monitoring stations; 3000 gives ~500k records/day (default: 30)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default: 0)")
    parser.add_argument(
        "--objects-per-day",
        type=int,
        default=144,
        help="objects published per day, evenly spaced with jitter (default: 144 = every 10 min)",
    )
    parser.add_argument(
        "--naming",
        choices=NAMINGS,
        default="mixed",
        help="object names: legacy <unix>.ndjson.gz, suffixed <unix>_<suffix>.ndjson, "
        "or mixed (~1 in 6 suffixed) (default: mixed)",
    )
    parser.add_argument(
        "--republish",
        type=float,
        default=0.3,
        help="probability that a measurement is re-published in 1-3 later objects (default: 0.3)",
    )
    parser.add_argument(
        "--broken-share",
        type=float,
        default=0.002,
        help="share of broken lines per day, at least one per day if > 0 (default: 0.002)",
    )
    parser.add_argument(
        "--no-faults",
        action="store_true",
        help="write clean input: no broken lines, no truncated gzip, no odd file names",
    )
    args = parser.parse_args(argv)
    try:
        summary = generate_bucket(
            args.out,
            args.start,
            args.days,
            args.stations,
            args.seed,
            objects_per_day=args.objects_per_day,
            naming=args.naming,
            republish=args.republish,
            broken_share=args.broken_share,
            faults=not args.no_faults,
        )
    except ValueError as error:
        parser.error(str(error))
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
