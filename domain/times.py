"""Timestamps of records: ISO 8601 strings to naive UTC, computed once per distinct string."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa


def per_distinct(column: pa.ChunkedArray | pd.Series, convert, missing) -> np.ndarray:
    """``convert`` (a function of a pandas Series) applied to a column's distinct values only,
    spread back to every row; nulls become ``missing``. Vocabularies, names and times repeat
    a lot in a day of records. The column is an Arrow column, or a pandas categorical (whose
    distinct values are known already)."""
    if isinstance(column, pd.Series):
        distinct, codes = column.cat.categories.to_series(index=None), column.cat.codes.to_numpy()
    else:
        encoded = column.combine_chunks().dictionary_encode()
        distinct, codes = encoded.dictionary.to_pandas(), encoded.indices.fill_null(-1).to_numpy()
    return np.append(np.asarray(convert(distinct)), missing)[codes]  # code -1 reads ``missing``


def parse_utc_times(column: pa.ChunkedArray | pd.Series) -> np.ndarray:
    """ISO 8601 strings as naive UTC ``datetime64[ns]``; NaT where missing or unparseable."""
    return per_distinct(
        column,
        lambda s: pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce").dt.tz_convert(None),
        np.datetime64("NaT", "ns"),
    )
