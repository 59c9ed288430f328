"""Timestamps of records: ISO 8601 strings to naive UTC, computed once per distinct string.

Rules:

- A time with an offset (``Z``, ``+02:00``, ``-0300``, ``+05``) is converted to UTC by its own
  offset.
- A time without an offset is read by the rule of its field, never by another record's
  offset: ``parse_utc_times`` is for fields the source defines as UTC (OpenAQ v1 ``date.utc``),
  so a time without an offset there is UTC. (pandas, given naive and offset times in one
  call, reads the naive ones with an offset seen before them; each naive string therefore
  gets an explicit ``Z`` before pandas sees it.)
- A string that is not an ISO 8601 date with a time (a date alone, words, an offset the
  parser does not know, a time outside 1677..2262) is NaT.
- ``floor_times`` truncates parsed times to a resolution (the TOAR tables store whole seconds,
  see ``toar.harmonize``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

# An offset at the end of an ISO 8601 time: Z, +HH, +HHMM or +HH:MM. Looked for after the
# date (its first 10 characters), so the day of "2018-06-07" is not taken for an offset.
_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_DATE_CHARS = 10


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


def _utc_strings_to_times(strings: pd.Series) -> np.ndarray:
    strings = strings.astype(object)
    naive = ~strings.str.slice(_DATE_CHARS).str.contains(_OFFSET, regex=True).fillna(False).astype(bool)
    strings = strings.where(~naive, strings + "Z")  # no offset: UTC, said explicitly (see the module docstring)
    times = pd.to_datetime(strings, utc=True, format="ISO8601", errors="coerce").dt.tz_convert(None)
    return times.to_numpy("datetime64[ns]")


def parse_utc_times(column: pa.ChunkedArray | pd.Series) -> np.ndarray:
    """ISO 8601 strings of a UTC field as naive UTC ``datetime64[ns]``; a time without an offset
    is UTC; NaT where missing or unparseable (see the module docstring)."""
    return per_distinct(column, _utc_strings_to_times, np.datetime64("NaT", "ns"))


def floor_times(times: np.ndarray, resolution: np.timedelta64) -> np.ndarray:
    """``datetime64[ns]`` times truncated (towards the past) to a multiple of ``resolution``
    since 1970; NaT stays NaT."""
    step = int(resolution / np.timedelta64(1, "ns"))
    ticks = times.view(np.int64)
    floored = np.where(np.isnat(times), ticks, ticks // step * step)
    return floored.view("datetime64[ns]")
