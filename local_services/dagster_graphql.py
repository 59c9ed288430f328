"""A Dagster webserver driven as the UI drives it, through its GraphQL API (tests, benchmarks)."""

import json
import urllib.request

_SENSORS = """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
  __typename ... on RepositoryLocation { repositories { sensors { name sensorState { id status } } } } } } } } }"""
_STOP_SENSOR = "mutation($id: String) { stopSensor(id: $id) { __typename } }"
_LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack } } }"""
_REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
_LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message stack } } }"""


def graphql(url: str, text: str, variables: dict | None = None) -> dict:
    """The ``data`` of one request to the webserver's ``/graphql``; its errors fail it."""
    body = json.dumps({"query": text, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise AssertionError(f"GraphQL error: {answer['errors']}")
    return answer["data"]


def loaded_sensors(url: str) -> list[dict] | None:
    """The code location's sensors once the webserver has loaded it; None before (or while it
    does not answer)."""
    try:
        workspace = graphql(url, _SENSORS)["workspaceOrError"]
    except OSError:
        return None
    entries = [entry["locationOrLoadError"] or {} for entry in workspace.get("locationEntries", [])]
    if not entries or any(entry.get("__typename") != "RepositoryLocation" for entry in entries):
        return None
    return [sensor for entry in entries for repository in entry["repositories"] for sensor in repository["sensors"]]


def stop_running_sensors(url: str, sensors: list[dict]) -> None:
    """Stop those of ``sensors`` that run, so that only the runs one launches run."""
    for sensor in sensors:
        if sensor["sensorState"]["status"] == "RUNNING":
            graphql(url, _STOP_SENSOR, {"id": sensor["sensorState"]["id"]})


def launch_backfill(url: str, partitions: list[str], assets: tuple[str, ...]) -> str:
    """Launch a backfill of ``assets`` over ``partitions`` as the UI's dialog does; its id."""
    params = {"partitionNames": partitions, "assetSelection": [{"path": [asset]} for asset in assets]}
    launched = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise AssertionError(f"launchPartitionBackfill failed: {launched}")
    return launched["backfillId"]


def launch_partition_run(url: str, partition: str, assets: tuple[str, ...]) -> str:
    """Launch one run of ``assets`` for ``partition`` as the UI's Materialize does; its run id."""
    (repository,) = graphql(url, _REPOSITORIES)["repositoriesOrError"]["nodes"]
    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": [asset]} for asset in assets],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = graphql(url, _LAUNCH_RUN, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise AssertionError(f"launchRun failed: {launched}")
    return launched["run"]["runId"]
