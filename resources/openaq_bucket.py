"""An OpenAQ bucket: an ``s3://bucket/prefix`` or a local folder with the same layout.

The real-time bucket (v1) is listed by fetch day; the archive (v3, ``s3://openaq-data-archive``
or a mirror written by the sample generator) by location-month prefix below ``records/csv.gz/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from domain.secrets import mask_secrets
from sources.objects import ObjectInfo
from sources.openaq_v3.keys import month_prefix, parse_key

# The archive's data files, below the bucket's root: records/csv.gz/locationid={id}/year=.../
ARCHIVE_RECORDS = "records/csv.gz/"
_LOCATION_FOLDER = re.compile(r"locationid=(\d+)/?$")
# Location-months listed at once: a LIST mostly waits for the server, so several overlap.
ARCHIVE_LIST_THREADS = 4


class ObjectReadError(RuntimeError):
    """An object could not be read, after the client's retries; names the object."""

    def __init__(self, location: str, attempts: int, cause: Exception):
        super().__init__(f"could not read {location} after {attempts} attempt(s): {cause}")
        self.location = location


class OpenAQBucket(ConfigurableResource):
    """Lists and reads the objects of one fetch day (``<root>/YYYY-MM-DD/``), or of the archive's
    location-days (``<root>/records/csv.gz/locationid=.../``).

    S3 goes through dagster-aws's client (unsigned requests by default, as the public
    ``openaq-fetches`` bucket allows; set ``endpoint_url`` for an S3-compatible store). A local
    folder gives content MD5s as ETags, which is what S3 reports for single-part uploads, and is
    never left: only regular files inside it are listed and read (a link is followed only to a
    file in the folder); every other entry is listed as skipped, with why, and never opened.
    """

    url: str = Field(description="s3://bucket/prefix, or a local folder holding YYYY-MM-DD/ subfolders")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (e.g. MinIO)")
    unsigned: bool = Field(default=True, description="anonymous S3 requests (public bucket)")
    max_attempts: int = Field(
        default=5, description="S3 client retries per request after the first try (botocore's max_attempts)"
    )

    list_page_size: int = Field(default=1000, description="keys per S3 LIST request (S3 returns at most 1000)")

    _client: Any = PrivateAttr(default=None)
    # archive_month's listings, by (location id, year, month): each is listed once per instance.
    _months: dict[tuple[int, int, int], list[ObjectInfo]] = PrivateAttr(default_factory=dict)

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def list_day(self, day: str) -> list[ObjectInfo]:
        """Every object under the day's prefix, sorted by key."""
        return self.list_day_with_skipped(day)[0]

    def list_day_with_skipped(self, day: str) -> tuple[list[ObjectInfo], list[dict]]:
        """The day's objects sorted by key, and the entries of a local folder that are not
        objects (see ``list_prefix``)."""
        return self.list_prefix(f"{day}/")

    def list_prefix(self, prefix: str) -> tuple[list[ObjectInfo], list[dict]]:
        """The objects under ``prefix`` (relative to the bucket's root, ending with ``/``) sorted
        by key, with ETag, size and LastModified, and the entries of a local folder that are not
        objects, each ``{"key", "reason"}``.

        S3: every key starting with the prefix, ``list_page_size`` keys per LIST request.
        A local folder: the regular files of the folder the prefix names (a file's mtime as
        LastModified); directories, FIFOs, devices, sockets, dangling links and links pointing
        outside the bucket's folder are listed as skipped, and none of them is opened or followed.
        """
        if not self.is_s3:
            return self._list_local_folder(prefix)
        bucket, root = self._bucket_and_prefix()
        objects = []
        for page in self._pages(Bucket=bucket, Prefix=f"{root}{prefix}"):
            for item in page.get("Contents", []):
                objects.append(
                    ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        etag=item["ETag"].strip('"'),
                        last_modified=item["LastModified"],
                    )
                )
        return sorted(objects, key=lambda o: o.key), []

    def archive_month(self, location_id: int, year: int, month: int) -> list[ObjectInfo]:
        """The archive objects of one location and month, sorted by key.

        The prefix is listed once per resource instance and kept: a backfill run over a month's
        days lists each location's month once, not once a day (a run of N days over M locations
        makes M LIST requests per month it touches, one per page of 1000 keys). A new instance
        (a new run, a sensor tick) lists again, so patched files are seen with their new ETag.
        Local entries that are not regular files are not objects here (``list_prefix`` says why).
        """
        months = self._months
        if (location_id, year, month) not in months:
            months[(location_id, year, month)] = self.list_prefix(
                ARCHIVE_RECORDS + month_prefix(location_id, year, month)
            )[0]
        return months[(location_id, year, month)]

    def archive_day(self, location_ids: list[int], day: date) -> tuple[list[ObjectInfo], list[int]]:
        """The archive objects of ``day`` (a local day) for ``location_ids``, sorted by key, and
        the ids of the locations without one (no file for that day, as when a station is offline)."""
        found = dict(self.archive_day_by_location(location_ids, day))
        return [o for objects in found.values() for o in objects], [i for i in location_ids if not found[i]]

    def archive_day_by_location(
        self, location_ids: list[int], day: date, *, threads: int = ARCHIVE_LIST_THREADS
    ) -> Iterator[tuple[int, list[ObjectInfo]]]:
        """Each of ``location_ids`` (once) with its archive objects of ``day``, sorted by key, in
        the order of their keys, each as soon as its month is listed: ``threads`` location-months
        are listed at once (``archive_month``: once per instance), so a reader can fetch the first
        objects while later months are listed."""
        ids = sorted(set(location_ids), key=lambda i: month_prefix(i, day.year, day.month))  # "12/" < "123/"
        if self.is_s3:
            self._s3()  # one client, made before the threads share it
        with ThreadPoolExecutor(max_workers=threads) as pool:
            months = pool.map(lambda location_id: self.archive_month(location_id, day.year, day.month), ids)
            for location_id, month in zip(ids, months, strict=True):
                yield location_id, [o for o in month if parse_key(o.key) == (location_id, day)]

    def archive_day_listing(self, location_ids: list[int], day: date, missing: list[int]) -> Iterator[ObjectInfo]:
        """The objects of ``archive_day_by_location`` as one lazy listing, for a reader that
        fetches while later months are listed; the locations without a file that day are added
        to ``missing`` as the listing reaches them."""
        for location_id, found in self.archive_day_by_location(location_ids, day):
            if not found:
                missing.append(location_id)
            yield from found

    def archive_location_ids(self) -> list[int]:
        """The ids of every location in the archive, sorted, without a catalog or an API key:
        the ``locationid=N/`` folders below ``records/csv.gz/`` (S3: the common prefixes of a
        LIST with delimiter ``/``, page by page; a local mirror: its folders inside itself)."""
        if not self.is_s3:
            folder = self._root() / ARCHIVE_RECORDS
            if not folder.is_dir():
                return []
            names = []
            for name in os.listdir(folder):
                try:
                    if self._inside(ARCHIVE_RECORDS + name).is_dir():
                        names.append(name)
                except NotAnObject:
                    continue  # a link leading outside the mirror is not one of its locations
        else:
            bucket, root = self._bucket_and_prefix()
            pages = self._pages(Bucket=bucket, Prefix=f"{root}{ARCHIVE_RECORDS}", Delimiter="/")
            names = [item["Prefix"].rsplit("/", 2)[-2] for page in pages for item in page.get("CommonPrefixes", [])]
        return sorted(int(m[1]) for m in map(_LOCATION_FOLDER.fullmatch, names) if m is not None)

    def display_url(self) -> str:
        """The URL with any credential masked, for metadata and logs."""
        return mask_secrets(self.url)

    def read(self, key: str) -> bytes:
        """The bytes of one object, by the key ``list_day`` returned.

        S3 requests are retried by the client (botocore's standard mode: exponential backoff
        with jitter on throttling, 5xx and connection errors, ``max_attempts`` retries); what
        still fails raises ``ObjectReadError`` naming the object.
        """
        if not self.is_s3:
            try:
                return _read_regular_file(self._inside(key))
            except (OSError, NotAnObject) as exc:
                raise ObjectReadError(str(self._root() / key), 1, exc) from exc
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _ = self._bucket_and_prefix()
        try:
            return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise ObjectReadError(f"s3://{bucket}/{key}", self.max_attempts + 1, exc) from exc

    def _pages(self, **request):
        paginator = self._s3().get_paginator("list_objects_v2")
        return paginator.paginate(**request, PaginationConfig={"PageSize": self.list_page_size})

    def _list_local_folder(self, prefix: str) -> tuple[list[ObjectInfo], list[dict]]:
        name = prefix.rstrip("/")
        if not os.path.lexists(self._root() / name):
            return [], []
        try:
            folder = self._inside(name)
        except NotAnObject as exc:
            return [], [{"key": prefix, "reason": str(exc)}]
        if not folder.is_dir():
            return [], [{"key": prefix, "reason": "not a folder"}]
        entries, skipped = [], []
        for entry in sorted(os.listdir(folder)):
            key = f"{name}/{entry}"
            try:
                entries.append((key, self._inside(key)))
            except NotAnObject as exc:
                skipped.append({"key": key, "reason": str(exc)})
        # hashlib releases the GIL on large buffers: a day's objects hash on every core.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            hashed = list(pool.map(_md5_and_size, (path for _, path in entries)))
        objects = []
        for (key, _), result in zip(entries, hashed, strict=True):
            if isinstance(result, NotAnObject):
                skipped.append({"key": key, "reason": str(result)})
            else:
                etag, size, modified = result
                objects.append(ObjectInfo(key=key, size=size, etag=etag, last_modified=modified))
        return objects, sorted(skipped, key=lambda s: s["key"])

    def _inside(self, key: str) -> Path:
        """The real path of a key, if it stays in the bucket's folder: links are resolved and
        must point inside it, so a link (or a ``..``) never leads to a file elsewhere."""
        root = self._root().resolve()
        try:
            path = (root / key).resolve()
        except (RuntimeError, OSError):  # a loop of links (Python 3.11 raises RuntimeError)
            raise NotAnObject("symbolic link in a loop: not followed") from None
        if not path.is_relative_to(root):
            raise NotAnObject("points outside the bucket's folder (a symbolic link or ..): not followed")
        if not os.path.lexists(path) and os.path.islink(root / key):
            raise NotAnObject("dangling symbolic link: its target does not exist")
        return path

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


class NotAnObject(Exception):
    """A local entry that is not a regular file inside the bucket's folder; the message says what it is."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory, not an object"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file: not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file: not opened"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file: not opened"
    return "not a regular file: not opened"


def _open_regular(path: Path) -> int:
    """A read-only descriptor of a regular file. The entry is checked before it is opened (a
    FIFO's open would block, a device's could do anything) and the opened file is checked again,
    in case the entry was replaced in between; the path is already resolved, so no link is
    followed (O_NOFOLLOW) and a FIFO swapped in opens without blocking (O_NONBLOCK)."""
    kind = _kind(os.stat(path, follow_symlinks=False).st_mode)
    if kind is not None:
        raise NotAnObject(kind)
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    kind = _kind(os.fstat(descriptor).st_mode)
    if kind is not None:
        os.close(descriptor)
        raise NotAnObject(kind)
    return descriptor


def _read_regular_file(path: Path) -> bytes:
    with os.fdopen(_open_regular(path), "rb") as handle:
        return handle.read()


def _md5_and_size(path: Path) -> tuple[str, int, datetime] | NotAnObject:
    """The content MD5 (S3's ETag of a single-part upload), size and mtime (as S3's LastModified),
    or why it is not an object."""
    try:
        descriptor = _open_regular(path)
    except NotAnObject as exc:
        return exc
    except OSError as exc:
        return NotAnObject(f"unreadable: {exc.strerror}")
    digest = hashlib.md5()
    with os.fdopen(descriptor, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        status = os.fstat(handle.fileno())
        return digest.hexdigest(), status.st_size, datetime.fromtimestamp(status.st_mtime, UTC)
