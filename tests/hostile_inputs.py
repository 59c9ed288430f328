"""Hostile inputs: OpenAQ objects with one defect each, and what the product must make of them.

Each case is one object of the fetch day ``DAY`` (key ``DAY/<unix>.ndjson.gz``, one publish time
per case, 20 minutes apart; the absurd names have their own). Its ``expected`` says what the
source layer makes of it (``sources.openaq_v1.parse``'s rules): which lines are records, which
line numbers are bad with which reason class (``reason_class(parse_error)``), whether the day
report lists the object as broken or skips its key. Run them through the parser
(tests/sources/test_hostile_inputs.py) or the whole pipeline: ``write_mirror`` puts them in a
local mirror. The cases are small (at most 2,000 lines, and the few huge lines inflate from a
few KB), so the whole list is a few seconds of pipeline.

Good lines are distinct records harmonization accepts (o3 in ppm, no2 and pm25 in µg/m³, every
station and time its own), except those ``expected.quarantined`` lists with harmonization's
reason (a NaN value, an empty record). So for each case that is read: raw rows ``expected.rows``,
quarantined ``len(bad_lines) + len(quarantined)``, harmonized values the rest.

A huge line beyond these (a 200 MB location name) is tested in tests/sources: its cost is
memory, which a pipeline run of the corpus should not have to pay.
"""

from __future__ import annotations

import bz2
import copy
import gzip
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sources.openaq_v1 import parse as P
from sources.openaq_v1.names import IMPLAUSIBLE_TIME

DAY = "2014-01-01"
_DAY_START = int(datetime(2014, 1, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Expected:
    """What reading one case gives."""

    good_lines: int = 0  # rows whose parse_error is null
    bad_lines: dict[int, str] = field(default_factory=dict)  # line number -> reason class of its parse_error
    broken: str | None = None  # reason class of the object's broken_objects entry (None: not listed)
    skipped: str | None = None  # reason class of the key's skip (nothing is read)
    quarantined: dict[int, str] = field(default_factory=dict)  # good lines harmonization quarantines -> reason

    @property
    def rows(self) -> int:
        return self.good_lines + len(self.bad_lines)


@dataclass(frozen=True)
class HostileCase:
    name: str
    key: str
    data: bytes  # the object as stored
    expected: Expected
    about: str  # what the defect is


# --- good records ------------------------------------------------------------------------------

_PLACES = [
    ("Łódź-Czernika", "Łódź", "PL"),
    ("Málaga Centro", "Málaga", "ES"),
    ("Zürich Stampfenbachstrasse", "Zürich", "CH"),
    ("São Paulo - Ibirapuera", "São Paulo", "BR"),
    ("北京 东四", "北京", "CN"),
    ("Delhi – Anand Vihar", "Delhi", "IN"),
    ("Kraków, al. Krasińskiego", "Kraków", "PL"),
    ("Ciudad de México – Merced", "Ciudad de México", "MX"),
]
_MEASURES = [("o3", "ppm", 0.005, 0.07, 4), ("no2", "µg/m³", 2.0, 90.0, 1), ("pm25", "µg/m³", 1.0, 120.0, 1)]
STATIONS_PER_STEP = 100  # a case's records: 100 stations, then the same stations 10 minutes earlier, ...


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def records(number: int, published: int, count: int) -> list[dict]:
    """``count`` distinct, valid records for case ``number``, measured before ``published``."""
    rng = random.Random(number)
    result = []
    for j in range(count):
        station, step = j % STATIONS_PER_STEP, j // STATIONS_PER_STEP
        when = published - 60 - 600 * step
        parameter, unit, low, high, digits = rng.choice(_MEASURES)
        place, city, country = _PLACES[station % len(_PLACES)]
        result.append(
            {
                "date": {
                    "utc": _utc(when),
                    "local": datetime.fromtimestamp(when, timezone(timedelta(hours=1))).isoformat(),
                },
                "parameter": parameter,
                "location": f"{place} {number}-{station}",
                "value": round(rng.uniform(low, high), digits),
                "unit": unit,
                "city": city,
                "attribution": [
                    {"name": f"Agency {country}", "url": f"https://air.example.org/{country.lower()}/{station}"}
                ],
                "averagingPeriod": {"value": 1, "unit": "hours"},
                "coordinates": {
                    "latitude": round(-40 + number * 1.3 + station * 0.013, 6),
                    "longitude": round(-120 + station * 2.1 + number * 0.0007, 6),
                },
                "country": country,
                "sourceName": f"Agency {country}",
                "sourceType": "government",
                "mobile": False,
            }
        )
    return result


def line(record: dict) -> bytes:
    """A record as OpenAQ writes it: compact UTF-8 JSON."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def with_raw(record: dict, path: tuple[str, ...], raw: bytes) -> bytes:
    """The record's line with the field at ``path`` written as the raw bytes ``raw``."""
    record = copy.deepcopy(record)
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = "@@RAW@@"
    return line(record).replace(b'"@@RAW@@"', raw)


def ndjson(lines: list[bytes]) -> bytes:
    return b"".join(item + b"\n" for item in lines)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# --- the cases ---------------------------------------------------------------------------------

CASES: list[HostileCase] = []
BASE_LINES = 200  # lines of a line case's object
BAD_LINE = 101  # where a line case's defect is


def _key(number: int) -> str:
    return f"{DAY}/{_DAY_START + 1200 * (number + 1)}.ndjson.gz"


def _published(number: int) -> int:
    return _DAY_START + 1200 * (number + 1)


def _add(name: str, about: str, build) -> None:
    """Add case ``len(CASES)``: ``build(number, published)`` gives (key or None, data, expected)."""
    number = len(CASES)
    key, data, expected = build(number, _published(number))
    CASES.append(HostileCase(name, key or _key(number), data, expected, about))


def _line_case(
    name: str, about: str, reason: str | None, defect, at: int = BAD_LINE, quarantined: str | None = None
) -> None:
    """A 200-line object whose line ``at`` is ``defect(record)`` (bytes) instead of the record:
    a bad line of class ``reason``, or (None) a good line (``quarantined`` by harmonization)."""

    def build(number: int, published: int):
        rows = records(number, published, BASE_LINES)
        lines = [line(r) for r in rows]
        lines[at - 1] = defect(rows[at - 1])
        if reason is None:
            return None, gz(ndjson(lines)), Expected(BASE_LINES, quarantined={at: quarantined} if quarantined else {})
        return None, gz(ndjson(lines)), Expected(BASE_LINES - 1, {at: reason})

    _add(name, about, build)


# Text
_line_case(
    "lone_high_surrogate",
    "a location that is a lone UTF-16 high surrogate escape",
    P.LONE_SURROGATE,
    lambda r: with_raw(r, ("location",), b'"\\ud83d"'),
)
_line_case(
    "lone_low_surrogate",
    "a city that is a lone low surrogate escape",
    P.LONE_SURROGATE,
    lambda r: with_raw(r, ("city",), b'"Lyon \\ude00"'),
)
_line_case(
    "reversed_surrogate_pair",
    "a surrogate pair in the wrong order, in date.local",
    P.LONE_SURROGATE,
    lambda r: with_raw(r, ("date", "local"), b'"\\ude00\\ud83d"'),
)
_line_case(
    "surrogate_in_attribution_url",
    "a lone surrogate in an attribution's url",
    P.LONE_SURROGATE,
    lambda r: with_raw(r, ("attribution",), b'[{"name":"A","url":"http://x/\\udbff"}]'),
)
_line_case(
    "nul_escape_in_location",
    "\\u0000 in a location (PostgreSQL refuses NUL in text)",
    P.NUL_CHARACTER,
    lambda r: with_raw(r, ("location",), b'"Cen\\u0000tro"'),
)
_line_case(
    "nul_byte_in_location",
    "a raw NUL byte inside a location",
    P.NUL_CHARACTER,
    lambda r: with_raw(r, ("location",), b'"Cen\x00tro"'),
)
_line_case(
    "invalid_utf8_byte",
    "a 0xff byte in a location (pyarrow accepts it)",
    P.INVALID_UTF8,
    lambda r: with_raw(r, ("location",), b'"Cen\xfftro"'),
)
_line_case(
    "truncated_utf8_sequence",
    "the first byte of a two-byte character, then ASCII",
    P.INVALID_UTF8,
    lambda r: with_raw(r, ("city",), b'"M\xc3laga"'),
)
_line_case(
    "encoded_surrogate_bytes",
    "a surrogate encoded as UTF-8 bytes (CESU-8)",
    P.INVALID_UTF8,
    lambda r: with_raw(r, ("location",), b'"\xed\xa0\xbd\xed\xb8\x80"'),
)
_line_case(
    "overlong_utf8", "an overlong encoding of '/'", P.INVALID_UTF8, lambda r: with_raw(r, ("unit",), b'"\xc0\xafm3"')
)
_line_case(
    "latin1_line",
    "a whole line in Latin-1, not UTF-8",
    P.INVALID_UTF8,
    lambda r: line(r).replace(b"Agency", "Agência".encode("latin-1")),
)
_line_case(
    "control_character_in_string",
    "a raw 0x01 byte inside a string",
    P.INVALID_JSON,
    lambda r: with_raw(r, ("location",), b'"Cen\x01tro"'),
)
_line_case(
    "valid_surrogate_pair_escape",
    "an emoji written as an escaped surrogate pair: a good line",
    None,
    lambda r: with_raw(r, ("location",), b'"Smiley \\ud83d\\ude00"'),
)
_line_case(
    "escaped_backslash_before_u0000",
    "a literal backslash then 'u0000' (not a NUL): a good line",
    None,
    lambda r: with_raw(r, ("location",), b'"C:\\\\u0000"'),
)
# Numbers
_line_case(
    "huge_integer_value",
    "a 400-digit integer as the value",
    P.NUMBER_OUT_OF_RANGE,
    lambda r: with_raw(r, ("value",), b"9" * 400),
)
_line_case(
    "huge_integer_latitude",
    "a 400-digit integer as the latitude",
    P.NUMBER_OUT_OF_RANGE,
    lambda r: with_raw(r, ("coordinates", "latitude"), b"1" * 400),
)
_line_case(
    "huge_negative_longitude",
    "-1e999 as the longitude",
    P.NUMBER_OUT_OF_RANGE,
    lambda r: with_raw(r, ("coordinates", "longitude"), b"-1e999"),
)
_line_case(
    "huge_exponent_value",
    "1e400 as the value (pyarrow rejects it)",
    P.NUMBER_OUT_OF_RANGE,
    lambda r: with_raw(r, ("value",), b"1e400"),
)
_line_case(
    "huge_averaging_period",
    "a 5,000-digit averaging period (int() refuses over 4,300 digits)",
    P.NUMBER_OUT_OF_RANGE,
    lambda r: with_raw(r, ("averagingPeriod", "value"), b"7" * 5000),
)
_line_case(
    "nan_value",
    "NaN as the value: a number, for harmonization to judge",
    None,
    lambda r: with_raw(r, ("value",), b"NaN"),
    quarantined="value_not_finite",
)
_line_case(
    "infinity_value",
    "Infinity as the value: a number, for harmonization to judge",
    None,
    lambda r: with_raw(r, ("value",), b"Infinity"),
    quarantined="value_not_finite",
)
# Structure
_line_case(
    "deep_nesting_100000_levels",
    "coordinates nested 100,000 levels deep (a 200 KB line)",
    P.LINE_TOO_LONG,
    lambda r: with_raw(r, ("coordinates",), b"[" * 100_000 + b"]" * 100_000),
)
_line_case(
    "deep_nesting_5000_levels_unknown_field",
    "an unknown field nested 5,000 levels deep",
    P.NESTED_TOO_DEEPLY,
    lambda r: line(r)[:-1] + b',"extra":' + b"[" * 5000 + b"]" * 5000 + b"}",
)
_line_case(
    "nested_list_as_coordinates",
    "coordinates as a list nested 50 deep",
    P.WRONG_TYPES,
    lambda r: with_raw(r, ("coordinates",), b"[" * 50 + b"]" * 50),
)
_line_case("duplicate_value_field", "value given twice", P.DUPLICATE_FIELD, lambda r: line(r)[:-1] + b',"value":999}')
_line_case("value_as_string", "value 'n/a'", P.WRONG_TYPES, lambda r: with_raw(r, ("value",), b'"n/a"'))
_line_case(
    "coordinates_as_string",
    "coordinates as a string (passes the screen, pyarrow rejects it)",
    P.WRONG_TYPES,
    lambda r: with_raw(r, ("coordinates",), b'"40.4,-3.7"'),
)
_line_case("mobile_as_number", "mobile as 0", P.WRONG_TYPES, lambda r: with_raw(r, ("mobile",), b"0"))
_line_case(
    "attribution_item_not_object",
    "an attribution list holding a string",
    P.WRONG_TYPES,
    lambda r: with_raw(r, ("attribution",), b'["Agency"]'),
)
_line_case("json_array_line", "a JSON array", P.NOT_AN_OBJECT, lambda r: b"[1, 2, 3]")
_line_case("json_string_line", "a JSON string", P.NOT_AN_OBJECT, lambda r: b'"just text"')
_line_case("json_null_line", "JSON null", P.NOT_AN_OBJECT, lambda r: b"null")
_line_case(
    "truncated_record_line", "a record cut in the middle", P.INVALID_JSON, lambda r: line(r)[: len(line(r)) // 2]
)
_line_case(
    "two_records_on_one_line",
    "two records without a newline between",
    P.INVALID_JSON,
    lambda r: line(r) + b" " + line(r),
)
_line_case(
    "trailing_comma", "a trailing comma before the closing brace", P.INVALID_JSON, lambda r: line(r)[:-1] + b",}"
)
_line_case("single_quotes", "Python's repr instead of JSON", P.INVALID_JSON, lambda r: repr(r).encode())
_line_case(
    "byte_order_mark",
    "a UTF-8 byte order mark before the first record",
    P.INVALID_JSON,
    lambda r: b"\xef\xbb\xbf" + line(r),
    at=1,
)
_line_case(
    "marker_lookalike",
    "a bad line that starts with raw_line's base64 marker (kept as base64)",
    P.INVALID_JSON,
    lambda r: P.RAW_LINE_BASE64.encode() + line(r),
)
_line_case(
    "random_bytes_line",
    "200 random bytes (no newline, no NUL)",
    P.INVALID_UTF8,
    lambda r: b"\xff" + bytes(b or 1 for b in random.Random(7).randbytes(200)).replace(b"\n", b"!"),
)
_line_case("empty_record", "{}: a record of nothing", None, lambda r: b"{}", quarantined="unsupported_parameter")
_line_case(
    "unknown_fields",
    "unknown fields, shallowly nested: ignored",
    None,
    lambda r: line(r)[:-1] + b',"extra":{"a":[1,{"b":null}]},"note":"x"}',
)
# Caps
_line_case(
    "huge_location_10mb",
    "a 10 MB location name (a line over MAX_LINE_BYTES)",
    P.LINE_TOO_LONG,
    lambda r: with_raw(r, ("location",), b'"' + b"A" * 10_000_000 + b'"'),
)
_line_case(
    "long_location_5kb",
    "a 5,000-byte location (a field over MAX_FIELD_BYTES)",
    P.FIELD_TOO_LONG,
    lambda r: with_raw(r, ("location",), b'"' + "é".encode() * 2500 + b'"'),
)
_line_case(
    "long_attribution_url",
    "a 5,000-byte attribution url",
    P.FIELD_TOO_LONG,
    lambda r: with_raw(r, ("attribution",), b'[{"name":"A","url":"http://' + b"x" * 5000 + b'"}]'),
)
_line_case(
    "long_but_valid_line",
    "a 6 KB line of unknown fields, every field within the cap: a good line",
    None,
    lambda r: line(r)[:-1] + b',"notes":["' + b'","'.join([b"n" * 100] * 60) + b'"]}',
)


def _layout_case(name: str, about: str, make) -> None:
    """A 200-record object laid out oddly: ``make(lines)`` gives (payload, good, bad lines)."""

    def build(number: int, published: int):
        payload, good = make([line(r) for r in records(number, published, BASE_LINES)])
        return None, payload, Expected(good)

    _add(name, about, build)


_layout_case(
    "blank_and_whitespace_lines",
    "empty lines and lines of spaces, tabs and CR between records",
    lambda lines: (
        gz(b"\n".join(x + (b"\n \t\r" if i % 7 == 0 else b"") for i, x in enumerate(lines)) + b"\n\n"),
        BASE_LINES,
    ),
)
_layout_case(
    "crlf_line_endings",
    "every line ends with CR LF",
    lambda lines: (gz(b"".join(x + b"\r\n" for x in lines)), BASE_LINES),
)
_layout_case("no_final_newline", "the last record has no newline", lambda lines: (gz(b"\n".join(lines)), BASE_LINES))
_layout_case("plain_ndjson_named_gz", "uncompressed NDJSON under a .gz name", lambda lines: (ndjson(lines), BASE_LINES))
_layout_case(
    "concatenated_gzip_members",
    "two gzip members, one after the other",
    lambda lines: (gz(ndjson(lines[:80])) + gz(ndjson(lines[80:])), BASE_LINES),
)
_layout_case(
    "nul_padding_after_gzip",
    "NUL bytes after the gzip stream (block padding): harmless",
    lambda lines: (gz(ndjson(lines)) + b"\x00" * 1000, BASE_LINES),
)


# Damaged streams: 2,000 records, about 80 KB of gzip.
DAMAGED_LINES = 2000


def inflatable_prefix(data: bytes) -> bytes:
    """What zlib inflates from a gzip object, a byte at a time, before the byte it refuses (the
    reference for what a damaged object must keep)."""
    inflater, pieces = zlib.decompressobj(wbits=31), []
    for i in range(len(data)):
        try:
            pieces.append(inflater.decompress(data[i : i + 1]))
        except zlib.error:
            break
    return b"".join(pieces)


def _damaged_case(name: str, about: str, reason: str, damage) -> None:
    """A 2,000-record object ``damage``d (text -> object): its complete lines before the damage
    are good, and one row after them carries the stream's error."""

    def build(number: int, published: int):
        text = ndjson([line(r) for r in records(number, published, DAMAGED_LINES)])
        data = damage(text)
        kept = inflatable_prefix(data)
        assert text.startswith(kept[: kept.rfind(b"\n") + 1]), f"{name}: the damage garbled the lines before it"
        good = kept.count(b"\n")
        return None, data, Expected(good, {good + 1: reason}, broken=reason)

    _add(name, about, build)


def gz_flushed(text: bytes, lines_per_flush: int = 100) -> tuple[bytes, list[int]]:
    """Gzip with a full flush after every ``lines_per_flush`` lines, and where each flush's sync
    marker (an empty stored block: ``00 00 ff ff``) ends. A flush starts deflate afresh, so
    garbling a marker is damage zlib notices at once, whatever zlib compressed the text."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    pieces, ends, lines = [], [], text.splitlines(keepends=True)
    for start in range(0, len(lines), lines_per_flush):
        pieces.append(compressor.compress(b"".join(lines[start : start + lines_per_flush])))
        pieces.append(compressor.flush(zlib.Z_FULL_FLUSH))
        ends.append(sum(map(len, pieces)))
    pieces.append(compressor.flush())
    return b"".join(pieces), ends


def _garble_marker(text: bytes, flush: int) -> bytes:
    """The object with the sync marker after flush ``flush`` (from 0) garbled."""
    data, ends = gz_flushed(text)
    end = ends[flush]
    assert data[end - 4 : end] == b"\x00\x00\xff\xff"
    return data[: end - 2] + b"\x12\x34" + data[end:]


_damaged_case(
    "truncated_gzip",
    "the object cut in the middle of its gzip stream",
    P.TRUNCATED_STREAM,
    lambda text: gz(text)[: len(gz(text)) // 2],
)
_damaged_case(
    "truncated_gzip_header_only", "only the gzip header arrived", P.TRUNCATED_STREAM, lambda text: gz(text)[:10]
)
_damaged_case(
    "corrupt_gzip_within_first_64k",
    "the stream damaged after 800 lines, within its first 64 KB",
    P.CORRUPT_STREAM,
    lambda text: _garble_marker(text, 7),
)
_damaged_case(
    "corrupt_gzip_checksum",
    "the CRC-32 of the gzip trailer is wrong: every line is read, then the error",
    P.CORRUPT_STREAM,
    lambda text: gz(text)[:-8] + bytes(b ^ 0xFF for b in gz(text)[-8:-4]) + gz(text)[-4:],
)


def _trailing(number: int, published: int):
    text = ndjson([line(r) for r in records(number, published, BASE_LINES)])
    return None, gz(text) + b"this is not gzip\n" * 10, Expected(BASE_LINES, broken=P.TRAILING_DATA)


_add("trailing_garbage_after_gzip", "text after the end of a complete gzip stream: costs no record", _trailing)


# Objects that are not NDJSON at all: no rows, one broken entry.
def _broken_case(name: str, about: str, reason: str, make) -> None:
    def build(number: int, published: int):
        return None, make(ndjson([line(r) for r in records(number, published, BASE_LINES)])), Expected(broken=reason)

    _add(name, about, build)


_broken_case("gzip_inside_gzip", "a gzip stream compressed again", P.COMPRESSED_DATA, lambda text: gz(gz(text)))
_broken_case("bzip2_named_gz", "a bzip2 file under a .gz name", P.COMPRESSED_DATA, lambda text: bz2.compress(text))
_broken_case(
    "bzip2_inside_gzip", "a bzip2 stream inside the gzip", P.COMPRESSED_DATA, lambda text: gz(bz2.compress(text))
)
_broken_case("random_binary", "64 KB of random bytes", P.BINARY_DATA, lambda text: random.Random(11).randbytes(65536))
_broken_case("zero_filled", "64 KB of NUL bytes (a zeroed block)", P.BINARY_DATA, lambda text: b"\x00" * 65536)
_broken_case(
    "html_error_page",
    "an HTML error page instead of the object",
    P.NOT_NDJSON,
    lambda text: gz(b"<html>\n<head><title>503 Service Unavailable</title></head>\n<body>Slow down</body>\n</html>\n"),
)
_broken_case(
    "csv_file",
    "the records as CSV",
    P.NOT_NDJSON,
    lambda text: gz(b"location,value,unit\n" + b"".join(f"Centro {i},0.03,ppm\n".encode() for i in range(100))),
)


def _empty(compressed: bool):
    def build(number: int, published: int):
        return None, gz(b"") if compressed else b"", Expected()

    return build


_add("empty_object", "an object of zero bytes: nothing to read, nothing lost", _empty(False))
_add("empty_gzip", "a gzip stream of nothing", _empty(True))


# Absurd names: skipped keys, nothing read.
def _named(seconds: int):
    def build(number: int, published: int):
        text = ndjson([line(r) for r in records(number, published, 5)])
        return f"{DAY}/{seconds}.ndjson.gz", gz(text), Expected(skipped=IMPLAUSIBLE_TIME)

    return build


_add("name_year_5138", "an 11-digit name: the year 5138", _named(99_999_999_999))
_add("name_year_2216", "a name for 2216, past pandas' nanosecond range", _named(7_762_953_600))
_add("name_year_2100", "a name for 2100-01-01, the first implausible second", _named(4_102_444_800))
_add("name_year_1973", "a 9-digit name: 1973, before OpenAQ's feed", _named(100_000_000))


def case(name: str) -> HostileCase:
    return next(c for c in CASES if c.name == name)


def write_mirror(root: Path, cases: list[HostileCase] = CASES) -> Path:
    """The cases' objects in a local mirror below ``root`` (as ``OPENAQ_BUCKET_URL`` reads it)."""
    for item in cases:
        path = root / item.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
    return root
