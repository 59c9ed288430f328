"""Helpers for tests that start servers on loopback."""

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
                raise AssertionError(f"{url} did not come up (exit code {process.poll()}): {detail}")
            time.sleep(0.5)
