"""Patched re-writes: OpenAQ re-writes an archive file when late data arrive, days or weeks
after the first version, under the same key (a new ETag). ``patch_archive`` re-writes files of
an archive on disk with a few values changed, and says exactly which."""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sample_data.files import write_file
from sample_data.openaq_v3.archive import ARCHIVE_PREFIX
from sample_data.openaq_v3.text import BOM, HEADER, SENTINEL
from sample_data.randomness import Stream, random_stream

SENSOR_ID, DATETIME, VALUE = (HEADER.index(column) for column in ("sensors_id", "datetime", "value"))
LARGEST_CHANGE = 0.3  # a changed value grows by up to 30 %, and by at least its last digit


@dataclass(frozen=True)
class ValueChange:
    key: str  # the file, relative to the archive root
    sensor_id: int
    datetime: str  # as the file writes it
    old: float
    new: float


@dataclass
class ArchivePatch:
    keys: list[str] = field(default_factory=list)  # the files re-written, sorted
    changes: list[ValueChange] = field(default_factory=list)  # sorted by key, then line

    def line(self) -> str:
        return f"files={len(self.keys)} values={len(self.changes)}"


def patch_archive(out: Path | str, *, files: int, values: int, seed: int, version: int = 1) -> ArchivePatch:
    """Re-write ``files`` data files of the archive below ``out``, changing exactly ``values``
    values in each (readings with a number, not -999, not on a broken line); everything else in
    a file stays byte for byte, BOM, quoting and line ends included.

    The files and values are drawn from (seed, version) and the archive's keys: the same archive
    and arguments give the same patch. Patch ``version`` 2 after 1 to re-write files again.
    Files with fewer than ``values`` such readings are passed over; ValueError if fewer than
    ``files`` files have enough.
    """
    if files < 1 or values < 1:
        raise ValueError("files and values must be >= 1")
    root = Path(out)
    keys = sorted(path.relative_to(root).as_posix() for path in (root / ARCHIVE_PREFIX).rglob("*.csv.gz"))
    rng = random_stream(seed, Stream.ARCHIVE_PATCH, version)
    patch = ArchivePatch()
    for number in rng.permutation(len(keys)).tolist():  # files in a random order until enough are patched
        key = keys[number]
        text = gzip.decompress((root / key).read_bytes()).decode("utf-8")
        patched = _patch_text(text, key, values, rng)
        if patched is None:
            continue
        new_text, changes = patched
        write_file(root / key, new_text.encode("utf-8"), compress=True)
        patch.keys.append(key)
        patch.changes += changes
        if len(patch.keys) == files:
            break
    else:
        raise ValueError(f"only {len(patch.keys)} files below {root} have {values} values to change, not {files}")
    patch.keys.sort()
    patch.changes.sort(key=lambda change: change.key)  # stable: lines stay in file order
    return patch


def _patch_text(text: str, key: str, count: int, rng: np.random.Generator) -> tuple[str, list[ValueChange]] | None:
    """The text with ``count`` values changed and the changes, or None if it has too few values."""
    bom = BOM if text.startswith(BOM) else ""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text[len(bom) :].split(newline)  # the last is "" after the final line end
    readings = {}  # line number (the header is 0) -> fields
    for number in range(1, len(lines)):
        fields = next(csv.reader([lines[number]]), [])
        if _is_reading(fields):
            readings[number] = fields
    if len(readings) < count:
        return None
    changes = []
    for number in sorted(rng.choice(sorted(readings), count, replace=False).tolist()):
        fields = readings[number]
        old_text = fields[VALUE]
        decimals = len(old_text.partition(".")[2])
        old = float(old_text)
        step = max(abs(old) * rng.uniform(0, LARGEST_CHANGE), 10.0**-decimals)
        new_text = f"{old + step:.{decimals}f}"
        before, _, last = lines[number].rpartition(",")  # the value is the last field
        quote = '"' if last.startswith('"') else ""
        lines[number] = f"{before},{quote}{new_text}{quote}"
        changes.append(ValueChange(key, int(fields[SENSOR_ID]), fields[DATETIME], old, float(new_text)))
    return bom + newline.join(lines), changes


def _is_reading(fields: list[str]) -> bool:
    """A complete line whose value is a number other than the sentinel."""
    if len(fields) != len(HEADER):
        return False
    try:
        value = float(fields[VALUE])
    except ValueError:
        return False
    return math.isfinite(value) and value != float(SENTINEL)
