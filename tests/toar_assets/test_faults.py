"""Injected faults: flaky and failing S3 reads, and a database failure in the middle of a partition."""

import http.client
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

import toar.database
import toar.writer
from local_services.loopback import free_port
from resources.openaq_bucket import OpenAQBucket
from sample_data.generator import generate_bucket
from tests.conftest import project_resources
from tests.helpers import snapshot, with_stored_upstreams
from toar.harmonize import harmonize_in_parts
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

DAY = "2014-01-02"


class FlakyS3Proxy(ThreadingHTTPServer):
    """Forwards S3 requests to the real (moto) endpoint, failing some object GETs with 503/500."""

    def __init__(self, upstream: str, transient_failures: int = 0, always_fail: str | None = None):
        super().__init__(("127.0.0.1", free_port()), _Forward)
        self.upstream_port = int(upstream.rsplit(":", 1)[1])
        self.transient_failures = transient_failures
        self.always_fail = always_fail
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def should_fail(self, method: str, path: str) -> bool:
        if method != "GET" or ".ndjson" not in path:
            return False
        with self.lock:
            self.attempts[path] = self.attempts.get(path, 0) + 1
            return (self.always_fail is not None and self.always_fail in path) or self.attempts[
                path
            ] <= self.transient_failures


class _Forward(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.server.should_fail(self.command, self.path):
            error = b"<Error><Code>SlowDown</Code><Message>injected fault</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@pytest.fixture
def s3_bucket(s3_endpoint, tmp_path):
    generate_bucket(tmp_path / "mirror", date(2014, 1, 2), days=1, stations=6, seed=4, objects_per_day=6, faults=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="openaq-fetches")
    for path in sorted((tmp_path / "mirror" / DAY).iterdir()):
        client.put_object(Bucket="openaq-fetches", Key=f"realtime-gzipped/{DAY}/{path.name}", Body=path.read_bytes())
    return s3_endpoint


def serve(proxy: FlakyS3Proxy):
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


def bucket_through(proxy: FlakyS3Proxy, retries: int = 5) -> OpenAQBucket:
    return OpenAQBucket(
        url="s3://openaq-fetches/realtime-gzipped", endpoint_url=proxy.url, unsigned=False, max_attempts=retries
    )


def test_transient_s3_errors_are_retried_with_backoff(s3_bucket, tmp_path):
    proxy = serve(FlakyS3Proxy(s3_bucket, transient_failures=2))
    try:
        with project_resources(tmp_path, tmp_path / "unused", openaq_bucket=bucket_through(proxy)) as resources:
            result = materialize(
                [raw_openaq_measurements], resources=resources, instance=DagsterInstance.ephemeral(), partition_key=DAY
            )
    finally:
        proxy.shutdown()
    assert result.success
    objects = [path for path in proxy.attempts]
    assert len(objects) == 6 and all(proxy.attempts[p] == 3 for p in objects)  # two 503s, then the object


def test_an_object_that_keeps_failing_fails_the_partition_and_is_named(s3_bucket, tmp_path):
    broken = sorted(p.name for p in (tmp_path / "mirror" / DAY).iterdir())[2]
    proxy = serve(FlakyS3Proxy(s3_bucket, always_fail=broken))
    try:
        with project_resources(tmp_path, tmp_path / "unused", openaq_bucket=bucket_through(proxy, 1)) as resources:
            result = materialize(
                [raw_openaq_measurements],
                resources=resources,
                instance=DagsterInstance.ephemeral(),
                partition_key=DAY,
                raise_on_error=False,
            )
    finally:
        proxy.shutdown()
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2  # the step's RetryPolicy, after the client's own retry each time
    metadata = failures[-1].step_failure_data.user_failure_data.metadata
    assert metadata["failed_object"].value == f"s3://openaq-fetches/realtime-gzipped/{DAY}/{broken}"
    assert metadata["partition"].value == DAY
    assert proxy.attempts[f"/openaq-fetches/realtime-gzipped/{DAY}/{broken}"] == 3 * 2  # 3 step tries x 2 requests
    assert "after 2 attempt(s)" in failures[-1].step_failure_data.user_failure_data.description


def test_database_failure_mid_partition_leaves_nothing_and_a_rerun_repairs(postgres_url, tmp_path, monkeypatch):
    generate_bucket(tmp_path / "mirror", date(2014, 1, 2), days=1, stations=8, seed=4, objects_per_day=12)
    with project_resources(tmp_path, tmp_path / "mirror", postgres_url) as resources:
        assets = with_stored_upstreams([raw_openaq_measurements, harmonized_toar_series])
        instance = DagsterInstance.ephemeral()
        engine = toar.database.create_engine(postgres_url)
        toar.database.ensure_schema(engine)
        empty = snapshot(engine)

        # The fault strikes after stations, series and values were written, before quarantine.
        with monkeypatch.context() as patch:
            patch.setattr(toar.writer, "_WIDEN_SERIES_RANGES", "SELECT 1 FROM no_such_table")
            broken = materialize(
                assets,
                resources=resources,
                instance=instance,
                partition_key=DAY,
                raise_on_error=False,
            )
        assert not broken.success
        assert snapshot(engine) == empty  # no half partition

        repaired = materialize(assets, resources=resources, instance=instance, partition_key=DAY)
        assert repaired.success
        after_repair = snapshot(engine)
        assert after_repair["data"] and after_repair["quarantine"]
        again = materialize(assets, resources=resources, instance=instance, partition_key=DAY)
        assert again.success and snapshot(engine) == after_repair
        engine.dispose()


def test_a_failure_while_harmonizing_later_parts_rolls_back_the_parts_written(postgres_url, tmp_path, monkeypatch):
    generate_bucket(tmp_path / "mirror", date(2014, 1, 2), days=1, stations=8, seed=4, objects_per_day=12)
    with project_resources(tmp_path, tmp_path / "mirror", postgres_url) as resources:
        engine = toar.database.create_engine(postgres_url)
        toar.database.ensure_schema(engine)
        empty = snapshot(engine)
        monkeypatch.setattr("toar_assets.assets.ROWS_PER_PART", 100)
        harmonized_parts = []

        def fail_on_the_third_part(raw, rows_per_part):
            for part in harmonize_in_parts(raw, rows_per_part):
                if len(harmonized_parts) == 2:  # the writer has the first two parts by now
                    raise RuntimeError("harmonization failed on the third part")
                harmonized_parts.append(part)
                yield part

        monkeypatch.setattr("toar_assets.assets.harmonize_in_parts", fail_on_the_third_part)
        result = materialize(
            with_stored_upstreams([raw_openaq_measurements, harmonized_toar_series]),
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            partition_key=DAY,
            raise_on_error=False,
        )
        assert not result.success
        failure = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE][0]
        assert "third part" in str(failure.step_failure_data.error)
        assert len(harmonized_parts) == 2 and snapshot(engine) == empty  # no part of the partition stays
        engine.dispose()
