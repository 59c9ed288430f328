"""Writing the mirror of the realtime bucket: one folder per fetch day, one file per object."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sample_data.clock import SECONDS_PER_DAY, day_start
from sample_data.concentrations import ConcentrationModel
from sample_data.files import BackgroundWriter
from sample_data.openaq_v1.faults import DayFaults, inject_faults, odd_file
from sample_data.openaq_v1.publication import NAMINGS, DayObjects, Publisher
from sample_data.openaq_v1.records import DayLines, RecordFormatter


@dataclass
class BucketSummary:
    """What generate_bucket wrote. keys are paths relative to ``out`` (``YYYY-MM-DD/name``)."""

    days: int = 0
    objects: int = 0  # data objects (*.ndjson / *.ndjson.gz), truncated ones included
    records: int = 0  # lines written into data objects, broken ones included
    bytes: int = 0  # bytes on disk of all files written (compressed size for .gz)
    raw_bytes: int = 0  # uncompressed ndjson bytes of the data objects
    broken_lines: int = 0
    truncated_objects: int = 0
    odd_files: int = 0  # files in day folders that are not data objects
    keys: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"days={self.days} objects={self.objects} records={self.records} "
            f"bytes={self.bytes} raw_bytes={self.raw_bytes} broken_lines={self.broken_lines} "
            f"truncated_objects={self.truncated_objects} odd_files={self.odd_files}"
        )


def generate_bucket(
    out: Path | str,
    start: date,
    days: int,
    stations: int,
    seed: int,
    *,
    objects_per_day: int = 144,
    naming: str = "mixed",
    republish: float = 0.3,
    broken_share: float = 0.002,
    faults: bool = True,
) -> BucketSummary:
    """Write ``days`` fetch days of a synthetic openaq-fetches mirror below ``out``.

    If ``out`` exists, files with the same keys are overwritten and others are left alone;
    otherwise the bucket is written to a hidden sibling folder and renamed when complete.
    The renamed station changes its name 12 hours after ``start`` (UTC), so every run,
    however short, contains both names.
    Stations 0-5 carry the features every run must show (o3 in µg/m³ and in ppm, a shared
    location name, 15-minute data, the rename, no coordinates, a mobile source), so use at
    least 6 stations when those matter.
    """
    _check_arguments(days, stations, objects_per_day, naming, republish, broken_share)
    final = Path(out)
    # A new mirror is built next to its final place and renamed at the end, so an interrupted
    # run never leaves a half-written bucket that looks complete. An existing one is updated.
    root = final if final.exists() else final.with_name(f".{final.name}.partial")
    if root != final and root.exists():
        shutil.rmtree(root)  # leftover of an interrupted run of ours
    model = ConcentrationModel(seed, stations)
    publisher = Publisher(model, objects_per_day, naming, republish)
    formatter = RecordFormatter(model.network, rename_at=day_start(start) + SECONDS_PER_DAY // 2)
    summary = BucketSummary(days=days)
    with BackgroundWriter(root) as writer:
        for day in (start + timedelta(offset) for offset in range(days)):
            objects = publisher.objects(day)
            day_lines = formatter.day_lines(publisher.fetch_day(day))
            day_faults = (
                inject_faults(seed, day, day_lines, objects, broken_share, model.network.series_unit)
                if faults
                else DayFaults()
            )
            _write_day(writer, day, objects, day_lines, day_faults, summary)
            del day_lines  # free this day's text before building the next one
        writer.finish()
    if root != final:
        os.replace(root, final)
    summary.keys = sorted(writer.sizes)
    summary.bytes = sum(writer.sizes.values())
    return summary


def _check_arguments(
    days: int, stations: int, objects_per_day: int, naming: str, republish: float, broken_share: float
) -> None:
    if days < 1 or stations < 1:
        raise ValueError("days and stations must be >= 1")
    if not 1 <= objects_per_day <= 8640:
        raise ValueError("objects_per_day must be between 1 and 8640")
    if naming not in NAMINGS:
        raise ValueError("naming must be legacy, suffixed or mixed")
    if not 0 <= republish <= 1 or not 0 <= broken_share <= 0.5:
        raise ValueError("republish must be in [0, 1] and broken_share in [0, 0.5]")


def _write_day(
    writer: BackgroundWriter,
    day: date,
    objects: DayObjects,
    day_lines: DayLines,
    day_faults: DayFaults,
    summary: BucketSummary,
) -> None:
    """Write the day's objects and its odd file, and count them into ``summary``."""
    folder = day.isoformat()
    (writer.root / folder).mkdir(parents=True, exist_ok=True)
    end = 0
    for number, line_count in enumerate(day_lines.lines_per_object.tolist()):
        begin, end = end, end + line_count
        payload = "".join(line + "\n" for line in day_lines.lines[begin:end]).encode("utf-8")
        writer.write(
            f"{folder}/{objects.name(number)}",
            payload,
            compress=not objects.suffixed[number],
            truncate=number == day_faults.truncated_object,
        )
        summary.raw_bytes += len(payload)
        if number == day_faults.odd_file_object:
            name, content = odd_file(day, objects, number, payload)
            writer.write(f"{folder}/{name}", content)
            summary.odd_files += 1
    summary.objects += len(objects.publish_times)
    summary.records += len(day_lines.lines)
    summary.broken_lines += day_faults.broken_lines
    summary.truncated_objects += day_faults.truncated_object is not None
