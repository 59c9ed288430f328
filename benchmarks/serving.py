"""Serving latency of the champion over REST, against the same model in process.

    python -m benchmarks.serving            # 1,000 single-row requests per mode
    python -m benchmarks.serving --help

Builds a champion in a scratch project (the main job over 2014-01-01..2014-01-10 of the
40-station sample mirror), serves it as the README says (`mlflow models serve -m
models:/ozone-forecast@champion --env-manager local`) on a free loopback port, and sends
single-row /invocations requests made from real feature rows, one after the other: over one
keep-alive connection, then with a new connection per request. The in-process reference is
the same registered model loaded with mlflow.pyfunc.load_model, predicting the same rows.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, generate_bucket, percentile, print_table, scratch_project, stopwatch

TARGET_P99_MS = 50.0
MODEL_URI = "models:/ozone-forecast@champion"
START, END = date(2014, 1, 1), date(2014, 1, 10)  # the README's default window
BIN = Path(sys.executable).parent


def build_champion(root: Path) -> None:
    """Run the main job in a fresh process (its Dagster logs go to a file) and require a champion."""
    log = root / "main_job.log"
    with log.open("w") as out:
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "main_job",
                "--source",
                "realtime",
                "--start",
                START.isoformat(),
                "--end",
                END.isoformat(),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    text = log.read_text()
    if finished.returncode != 0 or "promoted to champion" not in text:
        raise SystemExit(f"the main job did not produce a champion (exit code {finished.returncode}); see {log}")
    summary = text[text.index("\nModel ") :].split("\n\n")[0].strip()
    print(f"champion built by `python -m main_job` (log: {log.relative_to(ROOT)}):\n{summary}\n", flush=True)


@contextlib.contextmanager
def served_champion(tracking_uri: str, timeout: float) -> Iterator[int]:
    """`mlflow models serve` on a free loopback port; yields the port. The server is stopped
    whatever happens: it runs in a session of its own, and the whole session (mlflow's CLI and
    the uvicorn it starts) gets SIGTERM, then SIGKILL if it lingers."""
    from local_services.loopback import free_port, wait_until_serving

    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            MODEL_URI,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ping", server, timeout=timeout)
        yield port
    finally:
        stop_session(server)
        server.stderr.close()


def stop_session(leader: subprocess.Popen, grace: float = 30) -> None:
    """Stop every process of the session ``leader`` started: SIGTERM, then SIGKILL after
    ``grace`` seconds. Waits until none is left, not only the leader (uvicorn outlives the
    mlflow CLI that started it while it shuts down)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(leader.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            leader.poll()  # reap the leader, or its zombie keeps the group alive
            try:
                os.killpg(leader.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def prediction(response: http.client.HTTPResponse) -> float:
    """The one prediction of a single-row answer; anything else is an error."""
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"/invocations answered {response.status}: {body[:500]!r}")
    answer = json.loads(body)["predictions"]
    if len(answer) != 1 or not isinstance(answer[0], (int, float)) or not math.isfinite(answer[0]):
        raise SystemExit(f"/invocations did not answer one finite prediction: {answer!r}")
    return float(answer[0])


def timed_requests(send: Callable[[int], float], count: int, warmup: int) -> tuple[list[float], list[float]]:
    """Call ``send(i)`` for warm-up then timed request numbers; returns latencies (ms) and answers."""
    for i in range(warmup):
        send(i)
    latencies, answers = [], []
    for i in range(count):
        with stopwatch() as t:
            answers.append(send(i))
        latencies.append(t["seconds"] * 1000)
    return latencies, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.serving",
        description=(
            "Build a champion in a scratch project (main job over 2014-01-01..2014-01-10 of the 40-station "
            "sample mirror), serve it with `mlflow models serve --env-manager local` on loopback, and time "
            "single-row /invocations requests sent one after the other over one keep-alive connection and "
            "with a new connection each, against mlflow.pyfunc's predict in process on the same rows. "
            f"Target: p99 under {TARGET_P99_MS:g} ms over the keep-alive connection."
        ),
    )
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per mode (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first (default %(default)s)")
    parser.add_argument(
        "--startup-timeout", type=float, default=120, help="seconds to wait for the server (default %(default)s)"
    )
    args = parser.parse_args(argv)

    bucket = generate_bucket(RESULTS / "bucket_serving", START.isoformat(), (END - START).days + 1, 40, 2014)
    with scratch_project("serving", bucket) as root:
        build_champion(root)

        import mlflow.pyfunc
        import numpy as np

        import toar.database
        from forecasting.features import FEATURE_COLUMNS, features_for_window
        from ml_assets.serving import invocation_payload

        engine = toar.database.create_engine(os.environ["TOAR_DATABASE_URL"])
        day = datetime.combine(END, datetime.min.time())
        features, _ = features_for_window(engine, day, day + timedelta(days=1), 1)
        engine.dispose()
        rows = [features.iloc[[i]][FEATURE_COLUMNS] for i in range(len(features))]
        bodies = [json.dumps(invocation_payload(row)).encode() for row in rows]
        headers = {"Content-Type": "application/json"}
        print(
            f"{len(rows)} feature rows of {END} ({features['station_id'].nunique()} stations), cycled; "
            f"a request body is {len(bodies[0])} bytes",
            flush=True,
        )

        model = mlflow.pyfunc.load_model(MODEL_URI)
        in_process, expected = timed_requests(
            lambda i: float(model.predict(rows[i % len(rows)])[0]), args.requests, args.warmup
        )

        with served_champion(os.environ["MLFLOW_TRACKING_URI"], args.startup_timeout) as port:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def keep_alive(i: int) -> float:
                connection.request("POST", "/invocations", body=bodies[i % len(bodies)], headers=headers)
                return prediction(connection.getresponse())

            def new_connection(i: int) -> float:
                fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    fresh.request("POST", "/invocations", body=bodies[i % len(bodies)], headers=headers)
                    return prediction(fresh.getresponse())
                finally:
                    fresh.close()

            try:
                kept, kept_answers = timed_requests(keep_alive, args.requests, args.warmup)
            finally:
                connection.close()
            fresh_latencies, fresh_answers = timed_requests(new_connection, args.requests, warmup=10)

    # Same rows, same model: the server must answer what the model predicts in process.
    for answers in (kept_answers, fresh_answers):
        if not np.allclose(answers, expected, rtol=0, atol=1e-9):
            raise SystemExit("the served predictions differ from the in-process model's")

    def figures(label: str, latencies: list[float]) -> list:
        return [
            label,
            len(latencies),
            percentile(latencies, 0.5),
            percentile(latencies, 0.9),
            percentile(latencies, 0.99),
            max(latencies),
            float(np.mean(latencies)),
            1000 / float(np.mean(latencies)),
        ]

    print(
        f"\nSingle-row requests, sequential, after {args.warmup} warm-up requests; every answer is one finite "
        f"prediction equal to the in-process model's"
    )
    print_table(
        ["mode", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "requests/s"],
        [
            figures("HTTP, one keep-alive connection", kept),
            figures("HTTP, new connection per request", fresh_latencies),
            figures("in process: pyfunc predict", in_process),
        ],
    )
    base50, base_mean = percentile(in_process, 0.5), float(np.mean(in_process))
    print(
        f"served / in process: keep-alive p50 {percentile(kept, 0.5) / base50:.2f}x, mean {np.mean(kept) / base_mean:.2f}x "
        f"(HTTP, JSON and request handling add {percentile(kept, 0.5) - base50:.2f} ms at p50); "
        f"new connection p50 {percentile(fresh_latencies, 0.5) / base50:.2f}x"
    )
    p99 = percentile(kept, 0.99)
    print(
        f"{'PASS' if p99 < TARGET_P99_MS else 'FAIL'}: p99 {p99:.2f} ms over {len(kept)} keep-alive requests; "
        f"target < {TARGET_P99_MS:g} ms (new connection per request: p99 {percentile(fresh_latencies, 0.99):.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
