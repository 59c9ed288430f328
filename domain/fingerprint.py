"""Content fingerprints: the data version of a partition, recorded as ``data_fingerprint`` metadata.

Dagster keeps one data version per run, but a batched run materializes several partitions; the
fingerprint identifies each partition's content on its own and is what provenance compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa


def objects_fingerprint(keys_and_etags: Iterable[tuple[str, str]]) -> str:
    """Of a set of source objects: their keys and ETags, order-independent."""
    digest = hashlib.sha256()
    for key, etag in sorted(keys_and_etags):
        digest.update(f"{key}\t{etag}\n".encode())
    return digest.hexdigest()[:16]


def table_fingerprint(table: pa.Table | pd.DataFrame) -> str:
    """Of a table's columns and values, independent of chunking and file encoding."""
    frame = table.to_pandas() if isinstance(table, pa.Table) else table.copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(lambda v: isinstance(v, (list, dict, np.ndarray))).any():
            frame[column] = frame[column].map(repr)  # nested values (e.g. attribution lists) are not hashable
    digest = hashlib.sha256("\t".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def combined_fingerprint(*parts: str) -> str:
    """Of inputs and the code that transformed them."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
