import hashlib

import boto3
import pytest
from moto import mock_aws

from resources.openaq_bucket import OpenAQBucket
from tests.openaq_fixtures import record, write_object


@pytest.fixture
def local_bucket(tmp_path):
    write_object(tmp_path, "2014-01-01", "1388578200_b.ndjson", [record()], gz=False)
    write_object(tmp_path, "2014-01-01", "1388577600.ndjson.gz", [record(), record(value=0.05)])
    write_object(tmp_path, "2014-01-02", "1388664000.ndjson.gz", [record()])
    return tmp_path


def test_local_folder_lists_a_day_with_sizes_and_content_hashes(local_bucket):
    bucket = OpenAQBucket(url=str(local_bucket))
    objects = bucket.list_day("2014-01-01")
    assert [o.key for o in objects] == ["2014-01-01/1388577600.ndjson.gz", "2014-01-01/1388578200_b.ndjson"]
    first = local_bucket / "2014-01-01" / "1388577600.ndjson.gz"
    assert objects[0].size == first.stat().st_size
    assert objects[0].etag == hashlib.md5(first.read_bytes()).hexdigest()
    assert bucket.read(objects[0].key) == first.read_bytes()


def test_local_folder_as_file_url_and_missing_day(local_bucket):
    bucket = OpenAQBucket(url=f"file://{local_bucket}")
    assert len(bucket.list_day("2014-01-02")) == 1
    assert bucket.list_day("2014-02-01") == []


@mock_aws
def test_s3_prefix_lists_keys_etags_and_reads_objects(local_bucket):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="openaq-fetches")
    for path in sorted(local_bucket.rglob("*.ndjson*")):
        key = f"realtime-gzipped/{path.parent.name}/{path.name}"
        s3.put_object(Bucket="openaq-fetches", Key=key, Body=path.read_bytes())
    s3.put_object(Bucket="openaq-fetches", Key="realtime-gzipped/2014-01-010/x.ndjson", Body=b"other day")

    bucket = OpenAQBucket(url="s3://openaq-fetches/realtime-gzipped", unsigned=False)
    objects = bucket.list_day("2014-01-01")
    assert [o.key for o in objects] == [
        "realtime-gzipped/2014-01-01/1388577600.ndjson.gz",
        "realtime-gzipped/2014-01-01/1388578200_b.ndjson",
    ]
    local = local_bucket / "2014-01-01" / "1388577600.ndjson.gz"
    assert objects[0].etag == hashlib.md5(local.read_bytes()).hexdigest()  # S3 ETag, quotes stripped
    assert objects[0].size == local.stat().st_size
    assert bucket.read(objects[0].key) == local.read_bytes()


@mock_aws
def test_s3_bucket_root_without_prefix():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="mirror")
    s3.put_object(Bucket="mirror", Key="2014-01-01/1388577600.ndjson", Body=b"{}\n")
    bucket = OpenAQBucket(url="s3://mirror", unsigned=False)
    assert [o.key for o in bucket.list_day("2014-01-01")] == ["2014-01-01/1388577600.ndjson"]
