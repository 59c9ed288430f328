"""Tests of the synthetic OpenAQ v3 archive (sample_data.generator.generate_archive, patch_archive).

Files are parsed with pyarrow.csv, as the product reads them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from sample_data.generator import archive_key, generate_archive, generate_bucket, patch_archive

HEADER = ["location_id", "sensors_id", "location", "datetime", "lat", "lon", "parameter", "units", "value"]
START = date(2023, 10, 28)  # six days: Europe's clocks go back on the 29th, quoted files from 1 November
DAYS = 6
SMALL = dict(locations=12, seed=4)  # time zones from Santiago to Sydney, Asia/Kolkata (+05:30) included
KEY_RE = re.compile(
    r"^records/csv\.gz/locationid=(\d+)/year=(\d{4})/month=(\d{2})/location-(\d+)-(\d{4})(\d{2})(\d{2})\.csv\.gz$"
)
# Days on which clocks change: the US (10 March, 3 November) and Europe (31 March, 27 October).
DST_DAYS = [date(2024, 3, 10), date(2024, 3, 31), date(2024, 10, 27), date(2024, 11, 3)]


# ----------------------------------------------------------------------------- helpers


def data_files(root: Path) -> dict[str, bytes]:
    """key -> bytes of every archive file (compressed)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "records").rglob("*")) if p.is_file()
    }


def digest(root: Path) -> str:
    """One SHA-256 over every file's relative path and bytes."""
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def read_csv(compressed: bytes) -> tuple[pa.Table, list[str]]:
    """(rows as text columns, lines pyarrow rejected for their number of fields)."""
    rejected: list[str] = []

    def reject(row) -> str:
        rejected.append(row.text)
        return "skip"

    table = pa_csv.read_csv(
        pa.py_buffer(gzip.decompress(compressed)),
        read_options=pa_csv.ReadOptions(use_threads=False),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=reject),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(HEADER, pa.string())),
    )
    return table, rejected


def read_archive(root: Path) -> dict[str, tuple[list[dict], list[str]]]:
    """key -> (rows, rejected lines)."""
    out = {}
    for key, data in data_files(root).items():
        table, rejected = read_csv(data)
        assert table.column_names == HEADER, key
        out[key] = (table.to_pylist(), rejected)
    return out


def catalog(root: Path) -> dict[int, dict]:
    """id -> entry, in the order of the locations (ids grow with the location number)."""
    return {entry["id"]: entry for entry in json.loads((root / "locations.json").read_text("utf-8"))}


def location_id(locations: dict[int, dict], number: int) -> int:
    """The id of location ``number`` (0 is the first)."""
    return list(locations)[number]


def file_day(key: str) -> date:
    match = KEY_RE.match(key)
    assert match, key
    return date(int(match[5]), int(match[6]), int(match[7]))


def local_hours(timezone: str, day: date) -> float:
    """The length of ``day`` in ``timezone``, in hours, by the zone's UTC offsets."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(1), datetime.min.time(), tzinfo=zone)
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600


def by_sensor(rows: list[dict]) -> dict[str, list[dict]]:
    sensors = defaultdict(list)
    for row in rows:
        sensors[row["sensors_id"]].append(row)
    return sensors


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive") / "out"
    summary = generate_archive(root, START, DAYS, **SMALL)
    return root, summary, read_archive(root), catalog(root)


@pytest.fixture(scope="module")
def dst_archive(tmp_path_factory):
    """Clean files (no faults) of days on which clocks change."""
    root = tmp_path_factory.mktemp("dst")
    for day in DST_DAYS:  # a file does not depend on the other days generated
        generate_archive(root, day, 1, **SMALL, faults=False)
    return root, read_archive(root), catalog(root)


# ----------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_bytes(archive, tmp_path):
    root = archive[0]
    generate_archive(tmp_path / "again", START, DAYS, **SMALL)
    assert digest(tmp_path / "again") == digest(root)
    generate_archive(tmp_path / "other", START, DAYS, **{**SMALL, "seed": 5})
    assert not set(data_files(root).values()) & set(data_files(tmp_path / "other").values())
    # new archives are built in a hidden folder and renamed: nothing else is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "other"]


# Digest of a small archive: the output must not change by accident. Update it only for a
# deliberate change of the format or the model.
def test_output_is_unchanged(tmp_path):
    generate_archive(tmp_path / "out", date(2023, 10, 31), 2, 8, 1)
    assert digest(tmp_path / "out") == "19bd60e5fcc4871e3fb6f8e7963f3b76c4664d2a41aa6fed0118ac32da560f1c"


def test_files_do_not_depend_on_start_or_days(archive, tmp_path):
    full = data_files(archive[0])
    generate_archive(tmp_path, START + timedelta(2), 2, **SMALL)
    part = data_files(tmp_path)
    assert part and all(full[key] == data for key, data in part.items())
    assert {file_day(key) for key in part} == {START + timedelta(2), START + timedelta(3)}


def test_gzip_header_has_no_mtime_or_name(archive):
    for data in data_files(archive[0]).values():
        assert data[:3] == b"\x1f\x8b\x08"  # gzip, deflate
        assert data[3] == 0  # no FNAME (nor any other optional field)
        assert data[4:8] == b"\0\0\0\0"  # mtime 0


# ----------------------------------------------------------------------------- layout


def test_key_layout(archive):
    root, summary, files, locations = archive
    assert sorted(files) == summary.keys == sorted(str(p.relative_to(root)) for p in root.rglob("*.csv.gz"))
    for key, (rows, _) in files.items():
        match = KEY_RE.match(key)
        assert match, key
        assert match[1] == match[4] and int(match[1]) in locations
        assert (match[2], match[3]) == (match[5], match[6])  # filed under the month of its day
        assert archive_key(int(match[1]), file_day(key)) == key
        assert {row["location_id"] for row in rows} == {match[1]}
    assert sorted(p.name for p in root.iterdir()) == ["locations.json", "records"]


def test_quoting_styles_line_ends_and_bom(archive):
    _, _, files, locations = archive
    alternating, with_bom = location_id(locations, 6), location_id(locations, 4)
    styles_before = defaultdict(set)  # location id -> styles seen in files of days before 1 November
    boms = set()
    for key, data in data_files(archive[0]).items():
        text = gzip.decompress(data)
        if text.startswith("\ufeff".encode()):
            boms.add(key)
            text = text[3:]
        header, rest = text.split(b"\n", 1)
        if header.startswith(b'"'):
            assert header == b'"' + b'","'.join(h.encode() for h in HEADER) + b'"\r'
            assert rest.count(b"\n") == rest.count(b"\r\n") > 0  # every line ends with CRLF
            first = rest.split(b"\r\n", 1)[0].split(b",")
            assert first[0].isdigit() and first[1].isdigit()  # the ids bare
            assert all(field.startswith(b'"') and field.endswith(b'"') for field in first[2:])  # the rest quoted
            style = "quoted"
        else:
            assert header == ",".join(HEADER).encode() and b"\r" not in text and b'"' not in text
            style = "plain"
        location, quoted_day = int(KEY_RE.match(key)[1]), file_day(key) >= date(2023, 11, 1)
        if not quoted_day:
            styles_before[location].add(style)
        if location != alternating:
            assert style == ("quoted" if quoted_day else "plain"), key
    # one location has both styles even among the old days (the others only "plain")
    assert styles_before.pop(alternating) == {"quoted", "plain"}
    assert set().union(*styles_before.values()) == {"plain"}
    assert boms and {int(KEY_RE.match(key)[1]) for key in boms} == {with_bom}  # location 4's exporter
    for key in boms:  # pyarrow skips the BOM: the header reads as usual
        assert files[key][0] and list(files[key][0][0]) == HEADER


# ----------------------------------------------------------------------------- local days and DST


def test_rows_run_from_01_00_to_00_00_of_the_next_day(dst_archive):
    _, files, locations = dst_archive
    for key, (rows, _) in files.items():
        day = file_day(key)
        zone = ZoneInfo(locations[int(KEY_RE.match(key)[1])]["timezone"])
        for sensor_rows in by_sensor(rows).values():
            times = [datetime.fromisoformat(row["datetime"]) for row in sensor_rows]
            interval = times[1] - times[0]
            assert interval in (timedelta(minutes=10), timedelta(minutes=15), timedelta(hours=1))
            first_local = datetime.combine(day, datetime.min.time()) + interval
            assert times[0].replace(tzinfo=None) == first_local  # 01:00 for hourly sensors
            assert sensor_rows[-1]["datetime"].startswith(f"{day + timedelta(1)}T00:00:00")
            for when in times:  # the offset in force at that instant, DST included
                assert when.utcoffset() == when.astimezone(zone).utcoffset()
            assert all(b - a == interval for a, b in zip(times, times[1:], strict=False))  # by UTC instants


def test_dst_days_have_23_or_25_hourly_rows(dst_archive):
    _, files, locations = dst_archive
    hours_seen = Counter()
    offsets = defaultdict(set)  # time zone -> offsets seen
    for key, (rows, rejected) in files.items():
        assert not rejected
        location = locations[int(KEY_RE.match(key)[1])]
        hours = local_hours(location["timezone"], file_day(key))
        for sensor_rows in by_sensor(rows).values():
            minutes = (
                datetime.fromisoformat(sensor_rows[1]["datetime"]) - datetime.fromisoformat(sensor_rows[0]["datetime"])
            ).seconds // 60
            assert len(sensor_rows) == hours * 60 / minutes
            if minutes == 60:
                hours_seen[len(sensor_rows)] += 1
            offsets[location["timezone"]] |= {row["datetime"][19:] for row in sensor_rows}
    assert set(hours_seen) == {23, 24, 25}
    assert offsets["America/Denver"] >= {"-07:00", "-06:00"}  # winter and summer time
    assert offsets["Europe/Berlin"] >= {"+01:00", "+02:00"}
    assert offsets["Asia/Kolkata"] == {"+05:30"}  # no DST, a half-hour offset


# ----------------------------------------------------------------------------- faults


def test_sentinels_broken_lines_and_missing_days(archive):
    root, summary, files, locations = archive
    sentinels = not_a_number = 0
    for rows, _ in files.values():
        for row in rows:
            value = number(row["value"])
            sentinels += value == -999
            not_a_number += value is None
    rejected = sum(len(lines) for _, lines in files.values())
    assert summary.sentinels == sentinels > 0
    assert summary.broken_lines == rejected + not_a_number and rejected > 0 and not_a_number > 0
    assert summary.rows == sum(len(rows) for rows, _ in files.values()) + rejected

    # one file per location and day, but for the missing ones
    window = [START + timedelta(d) for d in range(DAYS)]
    present = {(int(KEY_RE.match(key)[1]), file_day(key)) for key in files}
    missing = {(location, day) for location in locations for day in window} - present
    assert summary.files == len(files) and len(missing) == summary.missing_files
    every_third = {(location_id(locations, 7), day) for day in window if day.toordinal() % 3 == 0}
    assert len(every_third) == 2 and every_third <= missing  # location 7 is offline every third day
    assert len(missing) > len(every_third)  # and others at random


def test_no_faults_gives_clean_files(dst_archive):
    _, files, locations = dst_archive
    assert len(files) == len(locations) * len(DST_DAYS)
    for rows, rejected in files.values():
        assert not rejected
        assert all(number(row["value"]) not in (None, -999) for row in rows)


# ----------------------------------------------------------------------------- catalog


def test_locations_json_is_consistent_with_the_files(archive):
    root, _, files, locations = archive
    entries = json.loads((root / "locations.json").read_text("utf-8"))
    assert len(entries) == SMALL["locations"]
    for entry in entries:
        assert list(entry) == [
            "id",
            "name",
            "locality",
            "timezone",
            "country",
            "provider",
            "latitude",
            "longitude",
            "sensors",
            "is_monitor",
            "is_mobile",
        ]
        assert all(list(sensor) == ["id", "parameter", "units"] for sensor in entry["sensors"])
        assert entry["is_monitor"] is True and ZoneInfo(entry["timezone"])
    sensors_seen = set()
    for key, (rows, _) in files.items():
        location = locations[int(KEY_RE.match(key)[1])]
        sensors = {str(s["id"]): (s["parameter"], s["units"]) for s in location["sensors"]}
        for row in rows:
            assert sensors[row["sensors_id"]] == (row["parameter"], row["units"])
            name, _, system_id = row["location"].rpartition("-")
            assert name == location["name"] and system_id.isdigit()
            if not location["is_mobile"]:
                assert (float(row["lat"]), float(row["lon"])) == (location["latitude"], location["longitude"])
            else:  # a mobile location moves around its position
                assert abs(float(row["lat"]) - location["latitude"]) < 0.1
            sensors_seen.add(int(row["sensors_id"]))
    assert sensors_seen == {s["id"] for entry in entries for s in entry["sensors"]}
    assert any(entry["is_mobile"] for entry in entries)
    # the location field's suffix is a sensor system id, not always the location id
    suffixes = {rows[0]["location"].rpartition("-")[2] == rows[0]["location_id"] for rows, _ in files.values() if rows}
    assert suffixes == {True, False}


def test_parameters_units_and_intervals(dst_archive):
    _, files, locations = dst_archive
    units = {(s["parameter"], s["units"]) for entry in locations.values() for s in entry["sensors"]}
    assert {("o3", "ppm"), ("o3", "ppb"), ("o3", "µg/m³"), ("temperature", "c"), ("relativehumidity", "%")} <= units
    assert {"no2", "pm25"} <= {parameter for parameter, _ in units}
    intervals = Counter()
    for rows, _ in files.values():
        for sensor_rows in by_sensor(rows).values():
            first, second = (datetime.fromisoformat(row["datetime"]) for row in sensor_rows[:2])
            intervals[(second - first).seconds // 60] += 1
    assert {10, 60} <= set(intervals) and intervals[60] > intervals[10]  # mostly hourly


# ----------------------------------------------------------------------------- patches


def test_patch_changes_exactly_the_reported_values(archive, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(archive[0], root)
    before = data_files(root)
    patch = patch_archive(root, files=3, values=2, seed=9)
    after = data_files(root)

    assert len(patch.keys) == 3 and len(patch.changes) == 6
    assert {key for key in before if before[key] != after[key]} == set(patch.keys)
    expected = {(c.key, str(c.sensor_id), c.datetime): (c.old, c.new) for c in patch.changes}
    changed = {}
    for key in patch.keys:
        (old_rows, old_rejected), (new_rows, new_rejected) = read_csv(before[key]), read_csv(after[key])
        assert old_rejected == new_rejected and old_rows.num_rows == new_rows.num_rows
        for old, new in zip(old_rows.to_pylist(), new_rows.to_pylist(), strict=True):
            assert {k: v for k, v in old.items() if k != "value"} == {k: v for k, v in new.items() if k != "value"}
            if old["value"] != new["value"]:
                changed[(key, old["sensors_id"], old["datetime"])] = (float(old["value"]), float(new["value"]))
        old_text, new_text = gzip.decompress(before[key]), gzip.decompress(after[key])
        assert old_text.count(b"\r\n") == new_text.count(b"\r\n") and old_text[:3] == new_text[:3]  # style kept
    assert changed == expected
    assert all(new > old for old, new in expected.values())

    # deterministic: the same archive and arguments give the same patch; another version another
    again = tmp_path / "again"
    shutil.copytree(archive[0], again)
    assert patch_archive(again, files=3, values=2, seed=9) == patch
    assert data_files(again) == after
    assert patch_archive(again, files=3, values=2, seed=9, version=2).changes != patch.changes


def test_patch_needs_enough_files(archive, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(archive[0], root)
    with pytest.raises(ValueError, match="have 1000 values"):
        patch_archive(root, files=1, values=1000, seed=0)


# ----------------------------------------------------------------------------- the v1 mirror


def test_locations_are_the_v1_stations_with_their_values(tmp_path):
    """One TOAR station seen through both sources: same coordinates, same hourly values."""
    day, locations, seed = date(2024, 3, 30), 16, 3
    generate_bucket(tmp_path / "v1", day, 3, locations, seed, objects_per_day=24, faults=False)
    generate_archive(tmp_path / "v3", day, 2, locations, seed, faults=False)

    v1 = {}  # (lat, lon, parameter, unit, UTC end, averaging minutes) -> value
    for path in (tmp_path / "v1").rglob("*.ndjson*"):
        text = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for line in text.decode().splitlines():
            record = json.loads(line)
            if "coordinates" in record and "averagingPeriod" in record and not record["mobile"]:
                place = record["coordinates"]
                when = datetime.fromisoformat(record["date"]["utc"])
                minutes = round(record["averagingPeriod"]["value"] * 60)
                key = (place["latitude"], place["longitude"], record["parameter"], record["unit"], when, minutes)
                v1[key] = record["value"]
    v3 = {}
    for rows, _ in read_archive(tmp_path / "v3").values():
        for sensor_rows in by_sensor(rows).values():
            times = [datetime.fromisoformat(row["datetime"]) for row in sensor_rows]
            minutes = (times[1] - times[0]).seconds // 60
            for row, when in zip(sensor_rows, times, strict=True):
                key = (float(row["lat"]), float(row["lon"]), row["parameter"], row["units"], when, minutes)
                v3[key] = float(row["value"])

    stations = {key[:2] for key in v1}
    assert len(stations) >= 12 and stations <= {key[:2] for key in v3}  # every fixed v1 station is a location
    common = set(v1) & set(v3)
    assert {key[2] for key in common} >= {"o3", "no2", "pm25"} and len(common) > 2000
    assert all(v1[key] == v3[key] for key in common)


# ----------------------------------------------------------------------------- command line


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sample_data.generator", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_the_same_archive_and_patches_it(tmp_path):
    generate_archive(tmp_path / "api", date(2023, 10, 31), 2, 8, 1)
    res = run_cli(
        "archive",
        "--out",
        str(tmp_path / "cli"),
        "--start",
        "2023-10-31",
        "--days",
        "2",
        "--locations",
        "8",
        "--seed",
        "1",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("days=2 locations=8 files=")
    assert digest(tmp_path / "cli") == digest(tmp_path / "api")

    res = run_cli("patch-archive", "--out", str(tmp_path / "cli"), "--files", "2", "--values", "3", "--seed", "1")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == "files=2 values=6" and len(lines) == 7
    assert all(KEY_RE.match(line.split()[0]) for line in lines[:-1])

    assert run_cli("archive", "--out", str(tmp_path / "bad"), "--locations", "0").returncode == 2
    assert "--quoted-since" in run_cli("archive", "--help").stdout
    assert "patch-archive" in run_cli("--help").stdout  # the v1 command line still answers
