"""Writing the archive: one gzipped CSV per location and local day, and ``locations.json``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sample_data.concentrations import ConcentrationModel
from sample_data.files import BackgroundWriter
from sample_data.openaq_v3.catalog import Location, build_locations, catalog_json
from sample_data.openaq_v3.readings import Readings
from sample_data.openaq_v3.text import QUOTED_SINCE, LocalTimes, file_text, quoted_style
from sample_data.randomness import Stream, random_stream

ARCHIVE_PREFIX = "records/csv.gz"
CATALOG_KEY = "locations.json"
OFFLINE_EVERY = 3  # the featured offline location writes no file on every third day (by ordinal)


def archive_key(location_id: int, day: date) -> str:
    """The key of one location's file for one local day, relative to the archive root."""
    return (
        f"{ARCHIVE_PREFIX}/locationid={location_id}/year={day.year:04d}/month={day.month:02d}/"
        f"location-{location_id}-{day:%Y%m%d}.csv.gz"
    )


@dataclass
class ArchiveSummary:
    """What generate_archive wrote. keys are the data files' paths relative to ``out``."""

    days: int = 0
    locations: int = 0
    files: int = 0
    rows: int = 0  # data lines, broken ones included
    bytes: int = 0  # bytes on disk of all files written (compressed size), locations.json included
    raw_bytes: int = 0  # uncompressed CSV bytes
    sentinels: int = 0  # values written as -999
    broken_lines: int = 0
    missing_files: int = 0  # location-days without a file
    keys: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"days={self.days} locations={self.locations} files={self.files} rows={self.rows} "
            f"bytes={self.bytes} raw_bytes={self.raw_bytes} sentinels={self.sentinels} "
            f"broken_lines={self.broken_lines} missing_files={self.missing_files}"
        )


def generate_archive(
    out: Path | str,
    start: date,
    days: int,
    locations: int,
    seed: int,
    *,
    quoted_since: date = QUOTED_SINCE,
    sentinel_share: float = 0.002,
    broken_share: float = 0.001,
    missing_share: float = 0.02,
    faults: bool = True,
) -> ArchiveSummary:
    """Write ``days`` local days from ``start`` of a synthetic openaq-data-archive below ``out``:
    ``records/csv.gz/...`` and ``locations.json``.

    Files of days from ``quoted_since`` on are quoted with CRLF, older ones unquoted with LF
    (location 6 alternates by day); the files of a few locations start with a BOM (location 4's).
    With ``faults``: values written as -999 (``sentinel_share`` of the values), broken lines
    (``broken_share`` of the lines: cut after the coordinates, or the value "n/a"), and
    location-days without a file (``missing_share``, and every third day of location 7).

    Location i stands at station i of the v1 mirror of the same seed (``generate_bucket``), and
    its hourly and 15-minute readings are the mirror's values: all of them if the mirror has
    as many stations as the archive has locations; with another number, the low gases (NO2,
    SO2, NO, NOx) differ where either has one of its rare (0.5 %) small negative readings.
    A file depends only on the arguments, its location and its day, not on ``start`` or
    ``days``. Use at least 8 locations for the habits above; ``patch_archive`` re-writes files.

    If ``out`` exists, files with the same keys are overwritten and others are left alone;
    otherwise the archive is written to a hidden sibling folder and renamed when complete.
    """
    if days < 1 or locations < 1:
        raise ValueError("days and locations must be >= 1")
    if not all(0 <= share <= 0.5 for share in (sentinel_share, broken_share, missing_share)):
        raise ValueError("sentinel_share, broken_share and missing_share must be in [0, 0.5]")
    final = Path(out)
    # A new archive is built next to its final place and renamed at the end, so an interrupted
    # run never leaves a half-written archive that looks complete. An existing one is updated.
    root = final if final.exists() else final.with_name(f".{final.name}.partial")
    if root != final and root.exists():
        shutil.rmtree(root)  # leftover of an interrupted run of ours
    root.mkdir(parents=True, exist_ok=True)

    model = ConcentrationModel(seed, locations)
    catalog = build_locations(model.network, seed)
    readings = Readings(model)
    local_times = LocalTimes()
    summary = ArchiveSummary(days=days, locations=locations)
    with BackgroundWriter(root) as writer:
        writer.write(CATALOG_KEY, catalog_json(catalog))
        for day in (start + timedelta(offset) for offset in range(days)):
            present, file_streams = [], []
            for location in catalog:
                # The order of a file's draws is part of the output: absence first, then text.py's.
                rng = random_stream(seed, Stream.ARCHIVE_FILE, location.index, day.toordinal())
                missing = rng.random() < missing_share or _offline(location, day)  # always drawn: stable streams
                if faults and missing:
                    summary.missing_files += 1
                    continue
                present.append(location)
                file_streams.append(rng)
            for location, rng, location_readings in zip(present, file_streams, readings.day(day, present), strict=True):
                text = file_text(
                    location,
                    location_readings,
                    local_times,
                    quoted=quoted_style(location, day, quoted_since),
                    bom=location.bom,
                    rng=rng,
                    sentinel_share=sentinel_share if faults else 0.0,
                    broken_share=broken_share if faults else 0.0,
                )
                writer.write(archive_key(location.id, day), text.payload, compress=True)
                summary.files += 1
                summary.rows += text.rows
                summary.raw_bytes += len(text.payload)
                summary.sentinels += text.sentinels
                summary.broken_lines += text.broken_lines
        writer.finish()
    if root != final:
        os.replace(root, final)
    summary.keys = sorted(key for key in writer.sizes if key != CATALOG_KEY)
    summary.bytes = sum(writer.sizes.values())
    return summary


def _offline(location: Location, day: date) -> bool:
    return location.offline_every_third_day and day.toordinal() % OFFLINE_EVERY == 0
