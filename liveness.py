"""The code server's liveness probe: exit 0 when its code location is loaded, 1 when it is not.

    python -m liveness [--host HOST] [--port PORT]

It asks the code server (``dagster code-server start``) over gRPC for its repositories, as the
webserver and the daemon do. A location that failed to load (in production mode, an unset
location variable) answers with its load error, which is printed; an unreachable server, or one
whose code process has died, fails the request. Dagster's own ``dagster api grpc-health-check``
answers "SERVING" in all three cases, so it cannot tell a restart is needed (README, "Deploying").

Host and port default to ``DAGSTER_CODE_SERVER_HOST`` and ``DAGSTER_CODE_SERVER_PORT`` (what
deploy/workspace.yaml reads), else localhost:4000. It needs none of the location variables.
"""

from __future__ import annotations

import argparse
import os
import sys

HOST_VARIABLE, PORT_VARIABLE = "DAGSTER_CODE_SERVER_HOST", "DAGSTER_CODE_SERVER_PORT"
DEFAULT_HOST, DEFAULT_PORT = "localhost", 4000


def load_error(host: str, port: int) -> str | None:
    """The code location's load error (its messages, cause last), or None when it is loaded."""
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import ListRepositoriesResponse
    from dagster._serdes import deserialize_value
    from dagster._utils.error import SerializableErrorInfo

    try:
        answer = DagsterGrpcClient(port=port, host=host).list_repositories()
    except Exception as error:  # unreachable, or its code process gone
        return f"{type(error).__name__}: {error}"
    result = deserialize_value(answer, (ListRepositoriesResponse, SerializableErrorInfo))
    if isinstance(result, SerializableErrorInfo):  # the load error the code server kept
        messages = []
        info: SerializableErrorInfo | None = result
        while info is not None:
            messages.append(info.message.strip())
            info = info.cause or info.context
        return "\n".join(messages)
    if not result.repository_symbols:
        return "the code server lists no repository"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m liveness",
        description="Exit 0 if the code server has loaded its code location, 1 (printing why) if not.",
    )
    parser.add_argument("--host", default=os.environ.get(HOST_VARIABLE) or DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=int(os.environ.get(PORT_VARIABLE) or DEFAULT_PORT))
    args = parser.parse_args(argv)
    error = load_error(args.host, args.port)
    if error is not None:
        print(f"code location at {args.host}:{args.port} not loaded: {error}", file=sys.stderr)
        return 1
    print(f"code location at {args.host}:{args.port} loaded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
