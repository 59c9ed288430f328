"""The command line of the v3 archive: ``python -m sample_data.generator archive|patch-archive``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sample_data.openaq_v3.archive import generate_archive
from sample_data.openaq_v3.patch import patch_archive
from sample_data.openaq_v3.text import QUOTED_SINCE

ARCHIVE_DESCRIPTION = """\
Generate a deterministic local mirror of the OpenAQ v3 archive (openaq-data-archive).

Output below --out:
  records/csv.gz/locationid={id}/year={YYYY}/month={MM}/location-{id}-{YYYYMMDD}.csv.gz
  locations.json     the catalog: id, name, locality, timezone, country, provider,
                     latitude, longitude, sensors [{id, parameter, units}], is_monitor, is_mobile
One gzip (mtime 0, no file name) per location and LOCAL day, every sensor of the location:
location_id,sensors_id,location,datetime,lat,lon,parameter,units,value. datetime is the local
END of the averaging period with the UTC offset of its IANA time zone (DST days: 23 or 25
hourly rows, from 01:00 to 00:00 of the next day); location is "<site name>-<system id>".

Files of days from --quoted-since on quote the header and every field but the ids and end
lines with CRLF; older ones are unquoted with LF (location 6 alternates by day). Locations 0-7
show the habits every run must have (weather sensors, o3 in µg/m³, ppm and ppb, 10-minute
sensors, a BOM, a mobile location, both styles, a missing day); use at least 8.

Faults (unless --no-faults): -999 values, broken lines (cut after the coordinates, or the
value "n/a"), location-days without a file. Location i stands at station i of the v1 mirror
of the same --seed, with the same hourly and 15-minute values (exactly when the mirror's
--stations equals --locations; else all but NO2, SO2, NO, NOx near their rare negatives).

Same arguments give byte-identical files, and a file does not depend on --start or --days.
"""

PATCH_DESCRIPTION = """\
Re-write files of an archive made by `archive`, as OpenAQ does when late data arrive: in each
of --files files, exactly --values values change (same key, new bytes, new ETag); nothing else
in a file changes. Prints one line per changed value: key, sensors_id, datetime, old, new.
The same archive and arguments give the same patch; use --version 2, 3, ... to patch again.
"""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def archive_main(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{prog} archive", description=ARCHIVE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (archive root); created if missing")
    parser.add_argument(
        "--start", type=_date, default=date(2023, 10, 30), help="first local day, YYYY-MM-DD (default: 2023-10-30)"
    )
    parser.add_argument("--days", type=int, default=3, help="number of local days to write (default: 3)")
    parser.add_argument(
        "--locations", type=int, default=30, help="number of locations; 3000 is the real archive's scale (default: 30)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default: 0)")
    parser.add_argument(
        "--quoted-since",
        type=_date,
        default=QUOTED_SINCE,
        help=f"first day written in the quoted CRLF style (default: {QUOTED_SINCE})",
    )
    parser.add_argument("--sentinel-share", type=float, default=0.002, help="share of -999 values (default: 0.002)")
    parser.add_argument("--broken-share", type=float, default=0.001, help="share of broken lines (default: 0.001)")
    parser.add_argument(
        "--missing-share", type=float, default=0.02, help="share of location-days without a file (default: 0.02)"
    )
    parser.add_argument("--no-faults", action="store_true", help="no -999 values, broken lines or missing files")
    args = parser.parse_args(argv)
    return _run(
        parser,
        lambda: generate_archive(
            args.out,
            args.start,
            args.days,
            args.locations,
            args.seed,
            quoted_since=args.quoted_since,
            sentinel_share=args.sentinel_share,
            broken_share=args.broken_share,
            missing_share=args.missing_share,
            faults=not args.no_faults,
        ).line(),
    )


def patch_main(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{prog} patch-archive",
        description=PATCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="the archive root written by `archive`")
    parser.add_argument("--files", type=int, default=3, help="files to re-write (default: 3)")
    parser.add_argument("--values", type=int, default=2, help="values to change in each file (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the patch (default: 0)")
    parser.add_argument("--version", type=int, default=1, help="patch number: 2 re-writes again (default: 1)")
    args = parser.parse_args(argv)

    def patch() -> str:
        result = patch_archive(args.out, files=args.files, values=args.values, seed=args.seed, version=args.version)
        changes = [f"{c.key} {c.sensor_id} {c.datetime} {c.old!r} {c.new!r}" for c in result.changes]
        return "\n".join([*changes, result.line()])

    return _run(parser, patch)


def _run(parser: argparse.ArgumentParser, command: Callable[[], str]) -> int:
    try:
        print(command())
    except ValueError as error:
        parser.error(str(error))
    return 0
