"""Hand-written OpenAQ records and objects for tests."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pyarrow as pa

from sources.openaq_v1.fields import RECORD_FIELDS
from sources.openaq_v1.parse import parse_object

ABSENT = object()  # pass as an override to drop the key, as OpenAQ does for missing values

BASE_RECORD = {
    "date": {"utc": "2014-01-01T12:00:00.000Z", "local": "2014-01-01T13:00:00+01:00"},
    "parameter": "o3",
    "location": "Centro",
    "value": 0.04,
    "unit": "ppm",
    "city": "Madrid",
    "attribution": [{"name": "Comunidad de Madrid", "url": "http://example.org"}],
    "averagingPeriod": {"value": 1, "unit": "hours"},
    "coordinates": {"latitude": 40.416775, "longitude": -3.70379},
    "country": "ES",
    "sourceName": "Spain",
    "sourceType": "government",
    "mobile": False,
}


def record(**overrides) -> dict:
    """BASE_RECORD with fields replaced (``ABSENT`` removes one); ``utc=`` sets date.utc."""
    rec = copy.deepcopy(BASE_RECORD)
    if "utc" in overrides:
        rec["date"]["utc"] = overrides.pop("utc")
    for name, value in overrides.items():
        if value is ABSENT:
            rec.pop(name, None)
        else:
            rec[name] = value
    return rec


def ndjson(items: list) -> bytes:
    """Records (dicts) and raw lines (bytes/str) as one NDJSON payload."""
    lines = []
    for item in items:
        if isinstance(item, dict):
            lines.append(json.dumps(item, ensure_ascii=False).encode())
        else:
            lines.append(item.encode() if isinstance(item, str) else item)
    return b"\n".join(lines) + b"\n"


def raw_table(items: list, *, key: str = "2014-01-01/1388577600.ndjson.gz", etag: str = "e1") -> pa.Table:
    """Parse items as one object, the way raw_openaq_measurements does."""
    return parse_object(gzip.compress(ndjson(items), mtime=0), key=key, etag=etag)


def write_object(root: Path, day: str, name: str, items: list, *, gz: bool = True) -> Path:
    path = root / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = ndjson(items)
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def record_fields(record: dict) -> dict:
    """The raw columns a valid record must come back as (numbers as floats, attribution entries
    with name and url only)."""
    result = {}
    for column, path in RECORD_FIELDS.items():
        value = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if column == "attribution" and value is not None:
            value = [None if item is None else {"name": item.get("name"), "url": item.get("url")} for item in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        result[column] = value
    return result
