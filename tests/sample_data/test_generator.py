"""Tests of the synthetic openaq-fetches mirror (sample_data.generator)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import zlib
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from sample_data.generator import PARAMETERS, UG_PER_PPB, UNITS, generate_bucket
from sources.openaq_v1.names import object_name_error

START = date(2014, 1, 1)
SMALL = dict(stations=12, seed=7, objects_per_day=24)  # hourly objects: fast, still realistic
KEY_ORDER = [
    "date",
    "parameter",
    "location",
    "value",
    "unit",
    "city",
    "attribution",
    "averagingPeriod",
    "coordinates",
    "country",
    "sourceName",
    "sourceType",
    "mobile",
]
OPTIONAL = {"averagingPeriod", "coordinates"}
NAME_RE = re.compile(r"^\d+(_[0-9a-zA-Z-]+)?\.ndjson(\.gz)?$")
UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
LOCAL_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


# ----------------------------------------------------------------------------- helpers


def bucket_files(root: Path) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of every file below ``root``, in sorted order."""
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def file_hashes(root: Path) -> dict[str, str]:
    return {key: hashlib.sha256(data).hexdigest() for key, data in bucket_files(root)}


def bucket_digest(root: Path) -> str:
    """One SHA-256 over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for key, data in bucket_files(root):
        digest.update(key.encode() + b"\0" + data)
    return digest.hexdigest()


def _reject_constant(name):
    raise ValueError(f"non-finite constant {name}")


def classify(line: str):
    """(kind, record): kind 'good' or the broken-line kind a consumer can detect."""
    try:
        rec = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        return "cut", None
    except ValueError:
        return "nan_value", None
    v = rec.get("value")
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "string_value", rec
    if rec.get("unit") not in UNITS:
        return "unknown_unit", rec
    if v >= 9999 or v <= -999:
        return "absurd_value", rec
    return "good", rec


def read_bucket(root: Path):
    """Data objects: key -> list of lines (None for an unreadable gzip); odd files listed."""
    objects, odd, truncated = {}, [], []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        key = p.relative_to(root).as_posix()
        if not NAME_RE.match(p.name):
            odd.append(key)
            continue
        raw = p.read_bytes()
        if p.name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except EOFError:
                truncated.append(key)
                objects[key] = None
                continue
        objects[key] = raw.decode("utf-8").splitlines()
    return objects, odd, truncated


def good_records(objects):
    """[(key, record)] for all good lines."""
    out = []
    for key, lines in objects.items():
        for line in lines or []:
            kind, rec = classify(line)
            if kind == "good":
                out.append((key, rec))
    return out


def to_ppb(rec) -> float:
    if rec["unit"] == "ppm":
        return rec["value"] * 1000
    if rec["unit"] == "ppb":
        return rec["value"]
    return rec["value"] / UG_PER_PPB[rec["parameter"]]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    root = tmp_path_factory.mktemp("bucket")
    summary = generate_bucket(root, START, 3, **SMALL)
    objects, odd, truncated = read_bucket(root)
    return root, summary, objects, odd, truncated, good_records(objects)


@pytest.fixture(scope="module")
def clean_bucket(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    summary = generate_bucket(root, START, 3, **SMALL, faults=False)
    return root, summary, *read_bucket(root)


# ----------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_bytes(bucket, tmp_path):
    root = bucket[0]
    generate_bucket(tmp_path / "again", START, 3, **SMALL)
    assert file_hashes(tmp_path / "again") == file_hashes(root)
    generate_bucket(tmp_path / "other", START, 3, **{**SMALL, "seed": 8})
    other = file_hashes(tmp_path / "other")
    assert other != file_hashes(root)
    data = {v for k, v in file_hashes(root).items() if NAME_RE.match(k.split("/")[1])}
    assert not data & set(other.values())  # no data object shared between seeds
    # new buckets are built in a hidden folder and renamed: nothing else is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "other"]


# Digests of buckets written by the generator since its ozone has a season, a temperature driver
# and a day-to-day regional anomaly: the output must not change by accident. Update them only for
# a deliberate change of the format or the model.
@pytest.mark.parametrize(
    "arguments, expected",
    [
        (
            dict(start=date(2014, 1, 1), days=2, stations=40, seed=2014),
            "ccca699d4a7e76c269d3a48e598db47c18bff9bd8417520e94249dd26690d2bb",
        ),
        (
            dict(start=date(2014, 1, 5), days=1, stations=8, seed=4, objects_per_day=12),
            "dbe5a30bb2e9cfee3b186d3906a1df97f4cf7de9af13ad96230b668ec69bba3a",
        ),
        (
            dict(start=date(2021, 3, 1), days=1, stations=6, seed=7, naming="suffixed", republish=0.5, faults=False),
            "e78bbaf8f7454dbc60a49dec1a8737bd4f5cb81b43229f50049c82c96b9c4748",
        ),
    ],
    ids=["faults-40-stations", "12-objects-per-day", "suffixed-clean"],
)
def test_output_is_unchanged(tmp_path, arguments, expected):
    generate_bucket(tmp_path / "bucket", **arguments)
    assert bucket_digest(tmp_path / "bucket") == expected


@pytest.mark.parametrize("days", [1, 2])
def test_days_do_not_depend_on_run_length(bucket, tmp_path, days):
    full = file_hashes(bucket[0])
    generate_bucket(tmp_path, START, days, **SMALL)
    short = file_hashes(tmp_path)
    prefix = {k: v for k, v in full.items() if k[:10] < (START.fromordinal(START.toordinal() + days)).isoformat()}
    assert short == prefix and len(short) > 0


def test_gzip_header_has_no_mtime_or_name(bucket):
    root = bucket[0]
    gz = next(p for p in sorted(root.rglob("*.gz")))
    head = gz.read_bytes()[:10]
    assert head[:2] == b"\x1f\x8b"
    assert head[3] & 0x08 == 0  # FNAME flag not set
    assert head[4:8] == b"\x00\x00\x00\x00"  # mtime 0


# ----------------------------------------------------------------------------- layout


def test_key_layout(bucket):
    root, summary, objects, odd, truncated, _ = bucket
    assert summary.keys == sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert summary.bytes == sum((root / k).stat().st_size for k in summary.keys)
    per_day = defaultdict(list)
    for key in objects:
        folder, name = key.split("/")
        m = NAME_RE.match(name)
        assert m and object_name_error(key) is None  # the reader accepts every name it writes
        day = date.fromisoformat(folder)
        t0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        unix = int(name.split("_")[0].split(".")[0])
        assert t0 <= unix < t0 + 86400
        per_day[folder].append(name)
    assert sorted(per_day) == ["2014-01-01", "2014-01-02", "2014-01-03"]
    for names in per_day.values():
        assert len(names) == SMALL["objects_per_day"]
        assert len({n.split("_")[0].split(".")[0] for n in names}) == len(names)  # unique times
        assert any(n.endswith(".ndjson.gz") for n in names)  # mixed: both styles every day
        assert any(re.match(r"^\d+_[0-9a-f-]+\.ndjson$", n) for n in names)
    assert summary.objects == 3 * SMALL["objects_per_day"] and summary.days == 3


@pytest.mark.parametrize("naming, suffix", [("legacy", ".ndjson.gz"), ("suffixed", ".ndjson")])
def test_naming_styles(tmp_path, naming, suffix):
    summary = generate_bucket(tmp_path, START, 1, 3, 1, objects_per_day=12, naming=naming, faults=False)
    names = [k.split("/")[1] for k in summary.keys]
    assert len(names) == 12
    assert all(n.endswith(suffix) and NAME_RE.match(n) for n in names)
    assert all(("_" in n) == (naming == "suffixed") for n in names)


# ----------------------------------------------------------------------------- content


def test_good_lines_have_openaq_keys_and_types(bucket):
    records = bucket[5]
    assert len(records) > 1000
    for _, rec in records:
        keys = list(rec)
        assert keys == [k for k in KEY_ORDER if k in rec]
        assert set(KEY_ORDER) - OPTIONAL <= set(keys)
        assert UTC_RE.match(rec["date"]["utc"]) and LOCAL_RE.match(rec["date"]["local"])
        utc = datetime.fromisoformat(rec["date"]["utc"].replace("Z", "+00:00"))
        assert datetime.fromisoformat(rec["date"]["local"]) == utc  # same instant
        assert rec["parameter"] in PARAMETERS
        assert isinstance(rec["value"], (int, float)) and np.isfinite(rec["value"])
        assert rec["unit"] in UNITS
        if rec["parameter"].startswith("pm") or rec["parameter"] == "bc":
            assert rec["unit"] == "µg/m³"
        assert all(
            isinstance(v, str)
            for v in (rec["location"], rec["city"], rec["country"], rec["sourceName"], rec["sourceType"])
        )
        assert rec["attribution"] and all(set(a) == {"name", "url"} for a in rec["attribution"])
        assert isinstance(rec["mobile"], bool)
        if "coordinates" in rec:
            c = rec["coordinates"]
            assert -90 <= c["latitude"] <= 90 and -180 <= c["longitude"] <= 180
        if "averagingPeriod" in rec:
            assert rec["averagingPeriod"]["unit"] == "hours"


def test_realism_features_present(bucket):
    records = [r for _, r in bucket[5]]
    o3_units = {r["unit"] for r in records if r["parameter"] == "o3"}
    assert {"ppm", "µg/m³"} <= o3_units
    periods = {r["averagingPeriod"]["value"] for r in records if "averagingPeriod" in r}
    assert {0.25, 1} <= periods
    assert any("coordinates" not in r for r in records)
    assert any("averagingPeriod" not in r for r in records)
    assert any(r["value"] < 0 for r in records)
    assert all(r["value"] > -10 for r in records)  # deliberate negatives are small
    assert any(r["mobile"] for r in records) and not all(r["mobile"] for r in records)
    assert {"o3", "no2", "pm25"} <= {r["parameter"] for r in records}
    # data of the previous day published in the next day's objects
    assert any(r["date"]["utc"] < "2014-01-01" for r in records)


def test_shared_location_name_across_cities(bucket):
    where = defaultdict(set)
    for _, r in bucket[5]:
        if "coordinates" in r and not r["mobile"]:
            c = r["coordinates"]
            where[r["location"]].add((r["city"], c["latitude"], c["longitude"]))
    shared = {n: s for n, s in where.items() if len({city for city, *_ in s}) > 1}
    assert shared
    for sites in shared.values():
        assert len({(lat, lon) for _, lat, lon in sites}) == len(sites)


def test_renamed_station(bucket):
    names = defaultdict(lambda: defaultdict(list))
    for _, r in bucket[5]:
        if "coordinates" in r and not r["mobile"]:
            c = r["coordinates"]
            names[(r["city"], c["latitude"], c["longitude"])][r["location"]].append(r["date"]["utc"])
    renamed = [v for v in names.values() if len(v) > 1]
    assert len(renamed) == 1
    (a, ta), (b, tb) = sorted(renamed[0].items(), key=lambda kv: min(kv[1]))
    assert max(ta) < min(tb)  # the name changes once, at a point in time


def test_republished_duplicates(bucket):
    seen = defaultdict(set)
    for key, r in bucket[5]:
        seen[(r["location"], r["city"], r["parameter"], r["date"]["utc"])].add((key, json.dumps(r, ensure_ascii=False)))
    dups = [v for v in seen.values() if len({k for k, _ in v}) > 1]
    assert len(dups) > 0.1 * len(seen)
    for copies in dups:  # every copy is the same record (same value, same date)
        assert len({line for _, line in copies}) == 1


def test_no_republish_means_no_duplicates(tmp_path):
    generate_bucket(tmp_path, START, 2, **SMALL, republish=0.0, faults=False)
    objects, _, _ = read_bucket(tmp_path)
    keys = [(r["location"], r["city"], r["parameter"], r["date"]["utc"]) for _, r in good_records(objects)]
    assert len(keys) == len(set(keys))


# ----------------------------------------------------------------------------- faults


def test_broken_input_present(bucket):
    root, summary, objects, odd, truncated, _ = bucket
    kinds = defaultdict(int)
    for lines in objects.values():
        for line in lines or []:
            kinds[classify(line)[0]] += 1
    assert {"cut", "string_value", "nan_value", "unknown_unit", "absurd_value"} <= set(kinds)
    broken = sum(n for k, n in kinds.items() if k != "good")
    assert 0 < broken <= summary.broken_lines  # some broken lines sit in the truncated object
    assert summary.broken_lines < 0.01 * summary.records
    assert len(truncated) == 1 == summary.truncated_objects
    # the truncated object still yields a readable prefix with a streaming decoder
    partial = zlib.decompressobj(wbits=31).decompress((root / truncated[0]).read_bytes())
    first = partial.decode("utf-8", "ignore").split("\n")[0]
    assert classify(first)[0] in {"good", "cut", "string_value", "nan_value", "unknown_unit", "absurd_value"}
    assert len(odd) == 3 == summary.odd_files  # one per day folder
    assert {k.split("/")[0] for k in odd} == {"2014-01-01", "2014-01-02", "2014-01-03"}
    # the records count includes every line written, also those of the truncated object
    readable = sum(len(v) for v in objects.values() if v is not None)
    assert readable < summary.records


def test_no_faults_gives_clean_input(clean_bucket):
    root, summary, objects, odd, truncated = clean_bucket
    assert not odd and not truncated
    assert summary.broken_lines == summary.truncated_objects == summary.odd_files == 0
    lines = [line for v in objects.values() for line in v]
    assert len(lines) == summary.records
    assert all(classify(line)[0] == "good" for line in lines)
    assert summary.raw_bytes == sum(len(line.encode()) + 1 for line in lines)


# ----------------------------------------------------------------------------- ozone signal


def test_ozone_has_diurnal_cycle_and_persistence(clean_bucket):
    records = [r for _, r in good_records(clean_bucket[2]) if r["parameter"] == "o3"]
    series = defaultdict(dict)
    by_hour = defaultdict(list)
    for r in records:
        ppb = to_ppb(r)
        assert 0 <= ppb < 150
        local_hour = int(r["date"]["local"][11:13])
        by_hour[local_hour].append(ppb)
        if r.get("averagingPeriod", {}).get("value", 1) == 1:
            t = datetime.fromisoformat(r["date"]["utc"].replace("Z", "+00:00")).timestamp()
            series[(r["location"], r["city"])][t] = ppb
    afternoon = np.mean([v for h in (14, 15, 16) for v in by_hour[h]])
    early = np.mean([v for h in (4, 5, 6) for v in by_hour[h]])
    assert afternoon > early + 5
    assert 10 <= np.mean([v for vs in by_hour.values() for v in vs]) <= 60
    checked = 0
    for points in series.values():
        t = np.array(sorted(points))
        x = np.array([points[k] for k in t])
        ok = np.diff(t) == 3600  # pairs one hour apart
        if ok.sum() < 40:
            continue
        assert np.corrcoef(x[:-1][ok], x[1:][ok])[0, 1] > 0.7
        checked += 1
    assert checked >= 3


def test_no2_anticorrelated_with_ozone(clean_bucket):
    values = defaultdict(dict)
    for _, r in good_records(clean_bucket[2]):
        if r["parameter"] in ("o3", "no2") and r.get("averagingPeriod", {}).get("value", 1) == 1:
            values[(r["location"], r["city"], r["date"]["utc"])][r["parameter"]] = to_ppb(r)
    pairs = np.array([(v["o3"], v["no2"]) for v in values.values() if len(v) == 2 and v["no2"] >= 0])
    assert len(pairs) > 50
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] < 0


# ----------------------------------------------------------------------------- CLI


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sample_data.generator", *args], capture_output=True, text=True, timeout=60
    )


def test_cli_help():
    res = run_cli("--help")
    assert res.returncode == 0
    for option in (
        "--out",
        "--start",
        "--days",
        "--stations",
        "--seed",
        "--objects-per-day",
        "--naming",
        "--republish",
        "--broken-share",
        "--no-faults",
    ):
        assert option in res.stdout
    assert "ndjson.gz" in res.stdout


def test_cli_small_run(tmp_path):
    api = _api_run(tmp_path / "api")
    tmp_path = tmp_path / "cli"
    res = run_cli(
        "--out",
        str(tmp_path),
        "--start",
        "2014-01-05",
        "--days",
        "2",
        "--stations",
        "4",
        "--seed",
        "3",
        "--objects-per-day",
        "6",
        "--no-faults",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1
    summary = dict(part.split("=") for part in res.stdout.split())
    assert summary["days"] == "2" and summary["objects"] == "12"
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 12 and {f[:10] for f in files} == {"2014-01-05", "2014-01-06"}
    assert int(summary["records"]) > 100
    assert int(summary["bytes"]) == sum((tmp_path / f).stat().st_size for f in files)
    assert file_hashes(tmp_path) == file_hashes(api)


def _api_run(root: Path) -> Path:
    generate_bucket(root, date(2014, 1, 5), 2, 4, 3, objects_per_day=6, faults=False)
    return root


def test_cli_rejects_bad_arguments(tmp_path):
    assert run_cli("--out", str(tmp_path), "--days", "0").returncode == 2
    assert run_cli("--out", str(tmp_path), "--start", "2014-13-01").returncode == 2
