"""The OpenAQ real-time bucket: an ``s3://bucket/prefix`` or a local folder with the same layout."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from sources.objects import ObjectInfo


class ObjectReadError(RuntimeError):
    """An object could not be read, after the client's retries; names the object."""

    def __init__(self, location: str, attempts: int, cause: Exception):
        super().__init__(f"could not read {location} after {attempts} attempt(s): {cause}")
        self.location = location


class OpenAQBucket(ConfigurableResource):
    """Lists and reads the objects of one fetch day (``<root>/YYYY-MM-DD/``).

    S3 goes through dagster-aws's client (unsigned requests by default, as the public
    ``openaq-fetches`` bucket allows; set ``endpoint_url`` for an S3-compatible store). A local
    folder gives content MD5s as ETags, which is what S3 reports for single-part uploads.
    """

    url: str = Field(description="s3://bucket/prefix, or a local folder holding YYYY-MM-DD/ subfolders")
    endpoint_url: Optional[str] = Field(default=None, description="S3-compatible endpoint (e.g. MinIO)")
    unsigned: bool = Field(default=True, description="anonymous S3 requests (public bucket)")
    max_attempts: int = Field(
        default=5, description="S3 client retries per request after the first try (botocore's max_attempts)"
    )

    _client: Any = PrivateAttr(default=None)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def list_day(self, day: str) -> list[ObjectInfo]:
        """Every object under the day's prefix, sorted by key."""
        if not self.is_s3:
            folder = self._root() / day
            if not folder.is_dir():
                return []
            paths = sorted(path for path in folder.iterdir() if path.is_file())
            # hashlib releases the GIL on large buffers: a day's objects hash on every core.
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                etags = list(pool.map(_md5, paths))
            return [ObjectInfo(key=f"{day}/{path.name}", size=path.stat().st_size, etag=etag)
                    for path, etag in zip(paths, etags)]
        bucket, prefix = self._bucket_and_prefix()
        objects = []
        pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{day}/")
        for page in pages:
            for item in page.get("Contents", []):
                objects.append(ObjectInfo(key=item["Key"], size=item["Size"], etag=item["ETag"].strip('"')))
        return sorted(objects, key=lambda o: o.key)

    def read(self, key: str) -> bytes:
        """The bytes of one object, by the key ``list_day`` returned.

        S3 requests are retried by the client (botocore's standard mode: exponential backoff
        with jitter on throttling, 5xx and connection errors, ``max_attempts`` retries); what
        still fails raises ``ObjectReadError`` naming the object.
        """
        if not self.is_s3:
            try:
                return (self._root() / key).read_bytes()
            except OSError as exc:
                raise ObjectReadError(str(self._root() / key), 1, exc) from exc
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _ = self._bucket_and_prefix()
        try:
            return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise ObjectReadError(f"s3://{bucket}/{key}", self.max_attempts + 1, exc) from exc

    def _root(self) -> Path:
        return Path(urlparse(self.url).path if self.url.startswith("file://") else self.url)

    def _bucket_and_prefix(self) -> tuple[str, str]:
        parsed = urlparse(self.url)
        prefix = parsed.path.strip("/")
        return parsed.netloc, f"{prefix}/" if prefix else ""

    def _s3(self):
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            self._client = S3Resource(
                use_unsigned_session=self.unsigned, endpoint_url=self.endpoint_url, max_attempts=self.max_attempts
            ).get_client()
        return self._client


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
