"""Properties of the record parser, on generated objects: valid records (random field values,
odd unicode, escapes, long fields) mixed with bad lines (huge numbers, surrogates, NUL, deep
nesting, invalid bytes, truncations, random bytes) and blank lines.

Invariants: conservation (every non-blank line is exactly one row; the line numbers are exactly
those of the non-blank lines), nothing but the bad line is lost (every valid record's fields
come back equal), a bad line is a bad line of its class, raw_line gives back the line's bytes,
and no string leaving the parser holds NUL or invalid UTF-8.
"""

import gzip
import json
import math
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources.openaq_v1 import parse as P
from sources.openaq_v1.fields import RECORD_FIELDS
from sources.openaq_v1.parse import raw_line_bytes_of, read_object, reason_class
from tests.openaq_fixtures import record_fields

KEY = "2014-01-01/1388577600.ndjson.gz"
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# --- valid records ----------------------------------------------------------------------------

# Any character but NUL and lone surrogates, which a valid record cannot hold.
CHARACTER = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.text(CHARACTER, max_size=12) | st.sampled_from(["o3", "µg/m³", "Łódź", "北京", "😀", 'a"b\\c', "\t\u2028"])
# Now and then a field near the 4 KiB cap, on either side of it.
LONG_TEXT = st.builds(lambda c, n: c * n, CHARACTER, st.integers(900, 4200))
NUMBER = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**30), 10**30))


def optional(**fields):
    return st.fixed_dictionaries({}, optional=fields)


def records(string):
    """Records whose string fields are drawn from ``string``."""
    attribution = st.none() | st.lists(st.none() | optional(name=string, url=string), max_size=3)
    unknown = st.recursive(
        st.none() | st.booleans() | st.integers() | TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=6,
    )
    return optional(
        date=st.none() | optional(utc=string, local=string),
        parameter=string,
        value=NUMBER,
        unit=string,
        averagingPeriod=st.none() | optional(value=NUMBER, unit=string),
        location=string,
        city=string,
        country=string,
        coordinates=st.none() | optional(latitude=NUMBER, longitude=NUMBER),
        attribution=attribution,
        sourceName=string,
        sourceType=string,
        mobile=st.none() | st.booleans(),
        extra=unknown,
    )


SHORT_STRING = st.none() | TEXT
STRING = st.one_of(SHORT_STRING, SHORT_STRING, SHORT_STRING, LONG_TEXT)


def strings_of(record) -> list[str]:
    if isinstance(record, dict):
        return [s for key, value in record.items() if key != "extra" for s in strings_of(value)]
    if isinstance(record, list):
        return [s for value in record for s in strings_of(value)]
    return [record] if isinstance(record, str) else []


@st.composite
def valid_lines(draw, string=STRING):
    """(line, expected): a record as some writer spells it; expected is its fields, or the cap
    class it breaks (``string``: SHORT_STRING, and it never does)."""
    record = draw(records(string))
    text = json.dumps(
        record, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    raw = text.encode()
    if len(raw) > P.MAX_LINE_BYTES:
        return raw, {P.LINE_TOO_LONG}
    if any(len(s.encode()) > P.MAX_FIELD_BYTES for s in strings_of(record)):
        return raw, {P.FIELD_TOO_LONG}
    return raw, record_fields(record)


# --- bad lines -----------------------------------------------------------------------------------

SIMPLE = optional(
    parameter=TEXT, location=TEXT, value=st.floats(0, 100), coordinates=optional(latitude=st.floats(-90, 90))
)


def _with(record: dict, field: str, raw: bytes) -> bytes:
    return json.dumps(record | {field: "@@"}).encode().replace(b'"@@"', raw)


@st.composite
def bad_lines(draw):
    """(line, classes): a line that is not a valid record, and the reason classes it may get."""
    record = draw(SIMPLE)
    kind = draw(st.sampled_from(["huge", "surrogate", "nul", "deep", "invalid", "truncated", "wrong", "duplicate"]))
    if kind == "huge":
        digits = draw(st.integers(310, 6000))
        literal = draw(st.sampled_from([b"9" * digits, b"-1" + b"0" * digits, b"1e" + str(digits).encode()]))
        field = draw(st.sampled_from(["value", "averagingPeriod", "coordinates"]))
        raw = (
            literal
            if field == "value"
            else b'{"value": %s}' % literal
            if field == "averagingPeriod"
            else b'{"latitude": %s}' % literal
        )
        return _with(record, field, raw), {P.NUMBER_OUT_OF_RANGE}
    if kind == "surrogate":
        half = draw(st.integers(0xD800, 0xDFFF))
        text = draw(TEXT)
        return _with(
            record, draw(st.sampled_from(["location", "city"])), json.dumps(text + chr(half) + text).encode()
        ), {P.LONE_SURROGATE}
    if kind == "nul":
        escaped = draw(st.booleans())
        raw = b'"a\\u0000b"' if escaped else b'"a\x00b"'
        return _with(record, "location", raw), {P.NUL_CHARACTER}
    if kind == "deep":
        depth = draw(st.integers(2, 40_000))
        field = draw(st.sampled_from(["coordinates", "date", "extra"]))
        raw = _with(record, field, b"[" * depth + b"]" * depth)
        if field == "extra":  # an unknown field: pyarrow ignores it; Python's reader may refuse
            return raw, {None, P.NESTED_TOO_DEEPLY, P.LINE_TOO_LONG}
        return raw, {P.WRONG_TYPES, P.NESTED_TOO_DEEPLY, P.LINE_TOO_LONG}
    if kind == "invalid":
        line = _with(
            record,
            "location",
            b'"'
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]))
            + b'"',
        )
        return line, {P.INVALID_UTF8}
    if kind == "truncated":
        line = json.dumps(record, ensure_ascii=False).encode()
        return line[: draw(st.integers(1, len(line) - 1))], {P.INVALID_JSON, P.INVALID_UTF8}
    if kind == "wrong":
        field, raw = draw(
            st.sampled_from(
                [
                    ("value", b'"n/a"'),
                    ("location", b"12"),
                    ("mobile", b'"no"'),
                    ("date", b'"2014-01-01"'),
                    ("attribution", b"[1]"),
                    ("coordinates", b"[1, 2]"),
                ]
            )
        )
        return _with(record, field, raw), {P.WRONG_TYPES}
    return json.dumps(record | {"parameter": "no2"}).encode()[:-1] + b', "parameter": "o3"}', {P.DUPLICATE_FIELD}


NOISE = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" "))  # anything; one row unless blank
BLANK = st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t \r"])

LINE = st.one_of(
    valid_lines().map(lambda x: ("valid", *x)),
    valid_lines().map(lambda x: ("valid", *x)),
    bad_lines().map(lambda x: ("bad", *x)),
    NOISE.map(lambda b: ("noise", b, None)),
    BLANK.map(lambda b: ("blank", b, None)),
)


def is_blank(line: bytes) -> bool:
    return not line.strip(b" \t\r")


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@st.composite
def objects(draw):
    """(data, lines): an object holding at least one valid record among other lines."""
    items = draw(st.lists(LINE, max_size=14))
    anchor = draw(valid_lines(SHORT_STRING))
    items.insert(draw(st.integers(0, len(items))), ("valid", *anchor))
    text = b"\n".join(item[1] for item in items) + draw(st.sampled_from([b"\n", b""]))
    return (gzip.compress(text, mtime=0) if draw(st.booleans()) else text), items


@SETTINGS
@given(objects())
def test_every_line_is_one_row_and_nothing_but_the_bad_line_is_lost(generated):
    data, items = generated
    parsed = read_object(data, key=KEY, etag="e")
    table = parsed.table
    table.validate(full=True)  # every string is UTF-8
    assert parsed.problem is None  # a valid record beside the rest: never a broken object
    rows = {}
    for row in table.to_pylist():
        assert row["line_number"] not in rows
        rows[row["line_number"]] = row
    assert sorted(rows) == [n for n, (_, line, _) in enumerate(items, 1) if not is_blank(line)]
    for number, (kind, line, expected) in enumerate(items, 1):
        row = rows.get(number)
        if row is None:
            continue
        error = row["parse_error"]
        if kind == "valid" and isinstance(expected, dict):
            assert error is None, (line, error)
            assert all(same(row[c], expected[c]) for c in RECORD_FIELDS), (line, row, expected)
        elif kind == "valid" or kind == "bad":
            assert (None if error is None else reason_class(error)) in expected, (line, error)
        if error is not None:
            assert reason_class(error) in P.LINE_REASONS
        if row["raw_line"] is not None:
            kept = raw_line_bytes_of(row["raw_line"])
            assert line.startswith(kept) and len(kept) <= P.MAX_RAW_LINE_BYTES and row["raw_line_bytes"] == len(line)
        for value in row.values():
            assert not (isinstance(value, str) and "\x00" in value)


@SETTINGS
@given(st.lists(valid_lines(SHORT_STRING), min_size=1, max_size=60), st.data())
def test_a_cut_gzip_keeps_every_line_completed_before_the_cut(generated, data):
    text = b"".join(line + b"\n" for line, _ in generated)
    compressed = gzip.compress(text, mtime=0)
    cut = data.draw(st.integers(2, len(compressed) - 1))  # from the gzip magic on
    partial = zlib.decompressobj(wbits=31).decompress(compressed[:cut])  # what zlib can inflate from the prefix
    complete = partial.count(b"\n")
    table = read_object(compressed[:cut], key=KEY, etag="e").table.to_pylist()
    assert table[-1]["line_number"] == complete + 1  # the cut row comes last
    assert reason_class(table[-1]["parse_error"]) == P.TRUNCATED_STREAM
    rows = sorted(table[:-1], key=lambda r: r["line_number"])
    assert [r["line_number"] for r in rows] == list(range(1, complete + 1))
    for row, (_, expected) in zip(rows, generated[:complete], strict=True):
        assert row["parse_error"] is None and all(same(row[c], expected[c]) for c in RECORD_FIELDS)


@SETTINGS
@given(st.lists(NOISE | BLANK, min_size=1, max_size=30), st.booleans())
def test_any_bytes_are_rows_or_one_broken_object_never_an_error(lines, compress):
    text = b"\n".join(lines)
    parsed = read_object(gzip.compress(text) if compress else text, key=KEY, etag="e")
    non_blank = [n for n, line in enumerate(lines, 1) if not is_blank(line)]
    numbers = parsed.table.column("line_number").to_pylist()
    if parsed.problem is None:
        assert sorted(numbers) == non_blank
    elif reason_class(parsed.problem) in P.STREAM_REASONS:  # bytes that start like gzip: a damaged stream
        assert not compress and text.startswith(b"\x1f\x8b")
        assert numbers[-1] == max(numbers) and parsed.table.column("parse_error")[-1].as_py() == parsed.problem
    else:  # not NDJSON: no line started like a record, so nothing that could be one is dropped
        assert parsed.table.num_rows == 0 and non_blank
        assert reason_class(parsed.problem) in (P.COMPRESSED_DATA, P.BINARY_DATA, P.NOT_NDJSON)
        assert not any(line.strip(b" \t\r").startswith(b"{") and b"\x00" not in line and _utf8(line) for line in lines)


def _utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True
