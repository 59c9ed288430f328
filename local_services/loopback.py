"""Servers on loopback: free ports, waiting for a server (or anything) to answer, moto's S3 server."""

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    condition: Callable, timeout: float = 60, what: str = "condition", log: Path | None = None, interval: float = 0.3
):
    """Poll ``condition`` until it returns something truthy, and return that; after ``timeout``
    seconds fail naming ``what`` (with the end of ``log``, the server's output, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:g} s: {what}" + (f"\n{log.read_text()[-3000:]}" if log else ""))


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                detail = process.stderr.read().decode()[-2000:] if process.stderr else ""
                raise AssertionError(f"{url} did not come up (exit code {process.poll()}): {detail}") from None
            time.sleep(0.5)


@contextlib.contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3 server on a loopback port, empty; yields its endpoint URL. Clients need
    credentials in the environment (any values do)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in process-wide state: start every server empty, so one test's
    # objects never show up in another's listing.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30)
    try:
        yield endpoint
    finally:
        server.stop()
