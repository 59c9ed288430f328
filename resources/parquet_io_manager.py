"""Table IO manager: Arrow tables as Parquet files under ``DATA_LAKE_URL``.

Layout: ``<base>/<asset key path>/<partition key>.parquet`` (``<asset>.parquet`` when the
asset is not partitioned). The base is a local folder or ``s3://bucket/prefix``.

Partitioned assets hand over a mapping ``{partition key: table}`` (one entry per partition of
the run) and receive one back. Loading is lazy: a run over many partitions reads each file
only when its partition is processed, so memory holds one partition at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Optional

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from dagster import AssetKey, ConfigurableIOManager, InputContext, OutputContext
from pydantic import Field


class LazyPartitions(Mapping):
    """Read-only mapping of partition key -> table that reads a file on each access."""

    def __init__(self, keys: list[str], read):
        self._keys = list(keys)
        self._read = read

    def __getitem__(self, key: str) -> pa.Table:
        if key not in self._keys:
            raise KeyError(key)
        return self._read(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class ParquetIOManager(ConfigurableIOManager):
    """Stores Arrow tables (or pandas frames) as Parquet, one file per partition."""

    base_url: str = Field(description="local folder or s3://bucket/prefix for Parquet intermediates")
    s3_endpoint_url: Optional[str] = Field(default=None, description="S3-compatible endpoint override")

    def handle_output(self, context: OutputContext, obj) -> None:
        if obj is None:
            return
        if context.has_asset_partitions:
            if not isinstance(obj, Mapping):
                raise TypeError(
                    f"{context.asset_key.to_user_string()} is partitioned: return {{partition key: table}}"
                )
            expected = set(context.asset_partition_keys)
            if set(obj) != expected:
                raise ValueError(f"returned partitions {sorted(obj)} but the run targets {sorted(expected)}")
            items = obj.items()
        else:
            items = [(None, obj)]
        for partition, table in items:
            table = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
            self._write(self._path(context, partition), table)
        context.add_output_metadata({"storage": self._location(context, None if len(items) != 1 else partition)})

    def load_input(self, context: InputContext):
        """``{partition key: table}`` for partitioned assets, else the table.

        An input declared with metadata ``allow_missing_partitions`` gets only the partitions
        that exist (e.g. a rolling window reaching before the first materialized day).
        """
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if (context.definition_metadata or {}).get("allow_missing_partitions"):
                filesystem, _ = self._filesystem()
                paths = [self._path(context, key) for key in keys]
                found = filesystem.get_file_info(paths)
                keys = [key for key, info in zip(keys, found) if info.type == pafs.FileType.File]
            return LazyPartitions(keys, lambda key: self._read(self._path(context, key)))
        return self._read(self._path(context, None))

    def existing_partition(self, asset_key: AssetKey, partition: str) -> Optional[pa.Table]:
        """A partition's stored table, or None if it was never written (for incremental reads)."""
        filesystem, root = self._filesystem()
        path = f"{root}/{'/'.join(asset_key.path)}/{partition}.parquet"
        if filesystem.get_file_info(path).type != pafs.FileType.File:
            return None
        return self._read(path)

    def _filesystem(self) -> tuple[pafs.FileSystem, str]:
        if self.base_url.startswith("s3://"):
            filesystem, root = pafs.FileSystem.from_uri(self.base_url)
            if self.s3_endpoint_url:
                filesystem = pafs.S3FileSystem(endpoint_override=self.s3_endpoint_url)
            return filesystem, root
        return pafs.LocalFileSystem(), self.base_url.removeprefix("file://")

    def _path(self, context: InputContext | OutputContext, partition: Optional[str]) -> str:
        _, root = self._filesystem()
        asset_path = "/".join(context.asset_key.path)
        return f"{root}/{asset_path}/{partition}.parquet" if partition else f"{root}/{asset_path}.parquet"

    def _location(self, context: OutputContext, partition: Optional[str]) -> str:
        asset_path = "/".join(context.asset_key.path)
        base = self.base_url.rstrip("/")
        return f"{base}/{asset_path}/{partition}.parquet" if partition else f"{base}/{asset_path}/"

    def _write(self, path: str, table: pa.Table) -> None:
        filesystem, _ = self._filesystem()
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        # Write beside and move into place: a crash never leaves a half-written partition.
        partial = f"{path}.{uuid.uuid4().hex}.partial"
        pq.write_table(table, partial, filesystem=filesystem, compression="zstd")
        filesystem.move(partial, path)

    def _read(self, path: str) -> pa.Table:
        filesystem, _ = self._filesystem()
        return pq.read_table(path, filesystem=filesystem)
