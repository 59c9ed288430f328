"""Table IO manager: Arrow tables as Parquet files under ``DATA_LAKE_URL``.

Layout: ``<base>/<asset key path>/<partition key>.parquet`` (``<asset>.parquet`` when the
asset is not partitioned). The base is a local folder or ``s3://bucket/prefix``; S3 goes
through dagster-aws's client, like the OpenAQ bucket (same credentials chain, endpoint
override and retries).

Partitioned assets hand over a mapping ``{partition key: table}`` (one entry per partition of
the run) and receive one back. Loading is lazy: a run over many partitions reads each file
only when its partition is processed, so memory holds one partition at a time.

The last table a run wrote is also kept in memory until it is loaded once in that run: a
downstream step in the same process (the in-process executor) takes it without reading the
file back. Steps in other processes, and later runs, read the file, as always.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetKey, ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field, PrivateAttr

from domain.secrets import mask_secrets


class EncodedTable:
    """A table whose Parquet bytes are made in a background thread (Arrow releases the GIL)
    from the moment it is created: an asset that wraps its table before its remaining work
    (checks, metadata) returns it in place of the table, and the encoding overlaps that work."""

    def __init__(self, table: pa.Table):
        self.table = table
        self._encoded = _encoder().submit(_parquet_bytes, table)

    def parquet_bytes(self) -> bytes:
        return self._encoded.result()


@lru_cache(maxsize=1)
def _encoder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-encoder")


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=_statistics_columns(table.schema))
    return buffer.getvalue()


def _statistics_columns(schema: pa.Schema) -> list[str]:
    """Columns worth min/max statistics: numbers, times and flags, which readers use to skip
    files and row groups. A day's strings span their whole vocabulary (parameters, units,
    station names), so their min/max would prune nothing; they cost a fifth of the encoding of
    a raw day."""

    def comparable(kind: pa.DataType) -> bool:
        return (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_temporal(kind)
            or pa.types.is_boolean(kind)
        )

    return [field.name for field in schema if comparable(field.type)]


class LazyPartitions(Mapping):
    """Read-only mapping of partition key -> table that reads a file on each access."""

    def __init__(self, keys: Sequence[str], read):
        self._keys = list(keys)
        self._read = read

    def __getitem__(self, key: str) -> pa.Table:
        if key not in self._keys:
            raise KeyError(key)
        return self._read(key)

    def __contains__(self, key: object) -> bool:  # without reading the file (Mapping's would)
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class LocalStore:
    """Files under a folder; a write lands beside its target and is renamed into place, so a
    crash never leaves a half-written partition."""

    def __init__(self, root: str):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()


class S3Store:
    """Objects under ``s3://bucket/prefix``; a PUT is atomic, so no partial object is ever seen."""

    def __init__(self, url: str, endpoint_url: str | None):
        from dagster_aws.s3 import S3Resource

        parsed = urlparse(url)
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.client = S3Resource(endpoint_url=endpoint_url, max_attempts=5).get_client()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise


class ParquetIOManager(ConfigurableIOManager):
    """Stores Arrow tables (or pandas frames, or EncodedTables) as Parquet, one file per partition."""

    base_url: str = Field(description="local folder or s3://bucket/prefix for Parquet intermediates")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint override")

    _store: Any = PrivateAttr(default=None)
    _handoff: dict = PrivateAttr(default_factory=dict)  # storage key -> the last table written

    def setup_for_execution(self, context) -> None:
        # A run starts with nothing to hand over: a table kept from an earlier run in this
        # process could be older than the file another process wrote since.
        self._handoff = {}

    def handle_output(self, context: OutputContext, obj) -> None:
        if obj is None:
            return
        if context.has_asset_partitions:
            if not isinstance(obj, Mapping):
                raise TypeError(f"{context.asset_key.to_user_string()} is partitioned: return {{partition key: table}}")
            expected = set(context.asset_partition_keys)
            if set(obj) != expected:
                raise ValueError(f"returned partitions {sorted(obj)} but the run targets {sorted(expected)}")
            items = list(obj.items())
        else:
            items = [(None, obj)]
        for partition, value in items:
            if isinstance(value, EncodedTable):
                table, data = value.table, value.parquet_bytes()
            else:
                table = value if isinstance(value, pa.Table) else pa.Table.from_pandas(value, preserve_index=False)
                data = _parquet_bytes(table)
            key = self._key(context.asset_key, partition)
            self.store().put(key, data)
            self._handoff = {key: table}
        folder = f"{self.display_url().rstrip('/')}/{'/'.join(context.asset_key.path)}"
        context.add_output_metadata({"storage": folder + ("/" if context.has_asset_partitions else ".parquet")})

    def load_input(self, context: InputContext):
        """``{partition key: table}`` for partitioned assets, else the table.

        An input declared with metadata ``allow_missing_partitions`` gets only the partitions
        that exist (e.g. a rolling window reaching before the first materialized day); one
        declared with ``columns`` gets only those columns (Parquet reads no other bytes).
        """
        key = context.asset_key
        declared = context.definition_metadata or {}
        columns = declared.get("columns")
        if not context.has_asset_partitions:
            if not self.store().exists(self._key(key, None)) and self._key(key, None) not in self._handoff:
                raise FileNotFoundError(
                    f"{key.to_user_string()} was never materialized (nothing at {self.display_url()}): materialize it first"
                )
            return self._read(self._key(key, None), columns)
        partitions = context.asset_partition_keys
        if declared.get("allow_missing_partitions"):
            partitions = [p for p in partitions if self.store().exists(self._key(key, p))]
        return LazyPartitions(partitions, lambda partition: self._read(self._key(key, partition), columns))

    def existing_partition(self, asset_key: AssetKey, partition: str | None) -> pa.Table | None:
        """A partition's stored table (the asset's, for ``None``), or None if it was never
        written (for incremental reads)."""
        key = self._key(asset_key, partition)
        return self._read(key) if self.store().exists(key) else None

    def display_url(self) -> str:
        """The base URL with any credential masked, for metadata and logs."""
        return mask_secrets(self.base_url)

    def store(self) -> LocalStore | S3Store:
        if self._store is None:
            if self.base_url.startswith("s3://"):
                self._store = S3Store(self.base_url, self.s3_endpoint_url)
            else:
                self._store = LocalStore(self.base_url.removeprefix("file://"))
        return self._store

    @staticmethod
    def _key(asset_key: AssetKey, partition: str | None) -> str:
        path = "/".join(asset_key.path)
        return f"{path}/{partition}.parquet" if partition else f"{path}.parquet"

    def _read(self, key: str, columns: list[str] | None = None) -> pa.Table:
        table = self._handoff.pop(key, None)
        if table is not None:
            return table.select(columns) if columns else table
        return pq.read_table(io.BytesIO(self.store().get(key)), columns=columns)
