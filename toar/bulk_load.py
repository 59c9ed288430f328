"""Bulk loading a frame into a table: PostgreSQL's binary COPY, built from Arrow arrays, or
batched executemany on other databases."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Bytes per message of a COPY (psycopg2 sends 8 kB by default: a round trip each).
COPY_CHUNK_BYTES = 1 << 20


def bulk_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Load a frame into a table: binary COPY on PostgreSQL, batched executemany elsewhere.
    Missing values (None, NaN, NaT) become NULL; empty strings stay empty strings."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None  # an open connection
        cursor = dbapi_connection.cursor()
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        cursor.copy_expert(
            f"COPY {table.name} ({columns}) FROM STDIN WITH (FORMAT binary)",
            binary_copy(table, frame),
            size=COPY_CHUNK_BYTES,
        )
        cursor.close()
        return
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    conn.execute(table.insert(), records)


# PostgreSQL's binary COPY stream: a signature, flags and extension length, then per row its
# field count and each field as a 4-byte length (-1: NULL) and the value in network byte
# order, then -1 as the end. The server parses no text: a day's values load in about two
# thirds of the time CSV takes.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_END = b"\xff\xff"
_PG_EPOCH_US = np.datetime64("2000-01-01", "us").astype(np.int64)  # PostgreSQL counts from 2000


def binary_copy(table: sa.Table, frame: pd.DataFrame) -> io.BytesIO:
    """The frame's rows in PostgreSQL's binary COPY format, typed by ``table``'s columns.

    Each column becomes one Arrow array holding every row's field bytes, and Arrow joins
    them row by row; Python never loops over rows."""
    fields = [pa.scalar(len(frame.columns).to_bytes(2, "big"), pa.large_binary())]
    for name in frame.columns:
        fields += _binary_fields(table.c[name].type, frame[name])
    rows = pc.binary_join_element_wise(*fields, pa.scalar(b"", pa.large_binary()))
    end = np.frombuffer(rows.buffers()[1], np.int64)[len(rows)]
    stream = io.BytesIO()
    stream.write(_COPY_SIGNATURE)
    stream.write(memoryview(rows.buffers()[2])[:end])
    stream.write(_COPY_END)
    stream.seek(0)
    return stream


def _binary_fields(kind: sa.types.TypeEngine, column: pd.Series) -> list[pa.Array]:
    """A column's fields (length and value) as binary arrays, by its SQL type."""
    if isinstance(kind, sa.DateTime):
        times = column if pd.api.types.is_datetime64_dtype(column) else pd.to_datetime(column)
        times = times.to_numpy(dtype="datetime64[us]")
        return [_fixed_width(times.view(np.int64) - _PG_EPOCH_US, np.isnat(times), ">i8")]
    if isinstance(kind, sa.Boolean):
        missing = column.isna().to_numpy()
        values = column.to_numpy(dtype=bool, na_value=False) if missing.any() else column.to_numpy(dtype=bool)
        return [_fixed_width(values.astype(np.int8), missing, "i1")]
    if isinstance(kind, sa.Float):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        return [_fixed_width(values, np.isnan(values), ">f8")]
    if isinstance(kind, sa.Integer):
        missing = column.isna().to_numpy()
        values = column.to_numpy(dtype=np.int64, na_value=0) if missing.any() else column.to_numpy(dtype=np.int64)
        dtype = ">i8" if isinstance(kind, sa.BigInteger) else ">i4"
        limits = np.iinfo(dtype)
        if len(values) and (values.min() < limits.min or values.max() > limits.max):
            # The server would refuse such text; binary bytes would silently wrap around.
            raise ValueError(
                f"{column.name}: {values[(values < limits.min) | (values > limits.max)][0]} "
                f"is out of range for {kind} ({limits.min}..{limits.max})"
            )
        return [_fixed_width(values, missing, dtype)]
    text = pa.array(column, from_pandas=True)
    if pa.types.is_dictionary(text.type):
        text = text.dictionary_decode()
    text = text.cast(pa.large_string())
    missing = text.is_null().to_numpy(zero_copy_only=False)
    lengths = np.where(missing, -1, pc.binary_length(text).fill_null(0).to_numpy()).astype(">i4")
    prefix = _binary_array(lengths.view(np.uint8).reshape(len(text), 4), np.full(len(text), 4))
    return [prefix, text.cast(pa.large_binary()).fill_null(b"")]


def _fixed_width(values: np.ndarray, missing: np.ndarray, dtype: str) -> pa.Array:
    """Fields of a fixed-width type: the 4-byte length, then the value (nothing for NULL)."""
    width = np.dtype(dtype).itemsize
    fields = np.empty(len(values), [("length", ">i4"), ("value", dtype)])
    fields["length"] = np.where(missing, -1, width)
    fields["value"] = values
    return _binary_array(fields.view(np.uint8).reshape(len(values), 4 + width), np.where(missing, 4, 4 + width))


def _binary_array(rows: np.ndarray, sizes: np.ndarray) -> pa.Array:
    """Each row of a byte matrix, cut to its size, as one binary value."""
    whole = bool((sizes == rows.shape[1]).all())
    data = rows.reshape(-1) if whole else rows[np.arange(rows.shape[1]) < sizes[:, None]]
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(pa.large_binary(), len(rows), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
