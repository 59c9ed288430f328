"""The per-partition mechanism every asset uses: measured work, metadata, one evaluation per check and partition."""

import time

import pytest
import sqlalchemy.exc
from dagster import DagsterInstance, IOManager, IOManagerDefinition, RetryPolicy, instance_for_test, materialize
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql, temp_workspace_file

from asset_base.partition_step import PartitionStep, materialize_partitions
from asset_base.partitions import daily_asset, partition_range_tags
from checks.core import Outcome, cost_spec, spec
from resources.qoa import QoAMonitor
from resources.quality_gates import QualityGates

DAYS = ["2014-01-01", "2014-01-02"]
SPECS = [spec("toy", "rows_valid", "the toy's rows are valid"), cost_spec("toy")]


class Recording(IOManager):
    """Keeps what the asset hands to its IO manager."""

    def __init__(self):
        self.stored = []

    def handle_output(self, context, obj):
        self.stored.append(obj)

    def load_input(self, context):
        raise AssertionError("nothing reads the toy")


def run(step, upstream=None, gates: QualityGates | None = None):
    @daily_asset(check_specs=SPECS)
    def toy(context, qoa: QoAMonitor, quality_gates: QualityGates):
        return materialize_partitions(context, SPECS, qoa, quality_gates, step, upstream)

    recording = Recording()
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [toy],
        instance=instance,
        tags=partition_range_tags(DAYS[0], DAYS[-1]),
        raise_on_error=False,
        resources={
            "qoa": QoAMonitor(),
            "quality_gates": gates or QualityGates(),
            "io_manager": IOManagerDefinition.hardcoded_io_manager(recording),
        },
    )
    metadata = {
        e.materialization.partition: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    checks: dict[str, dict] = {}  # {check name: {partition: evaluation}}
    for e in result.get_asset_check_evaluations():
        checks.setdefault(e.check_name, {})[e.partition] = e
    logs = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.dagster_event is None]
    return result, metadata, checks, recording.stored, logs


def scored_rows(day: str) -> PartitionStep:
    """Valid rows on the first day; on the second a mild failure (score 0.5, not severe)."""
    valid = (
        Outcome(True, {"data_quality_score": 1.0})
        if day == DAYS[0]
        else Outcome(False, {"data_quality_score": 0.5}, severe=False)
    )
    return PartitionStep(
        outcomes={"rows_valid": valid},
        metadata={"dagster/row_count": 3, "day": day},
        qoa={"rows_in": 4, "rows_out": 3},
        value=f"table of {day}",
        log=f"{day}: 3 rows",
    )


def test_each_partition_gets_its_metadata_with_the_measured_qoa_figures():
    result, metadata, _, _, logs = run(scored_rows)
    assert result.success and sorted(metadata) == DAYS
    for day in DAYS:
        m = metadata[day]
        assert m["dagster/row_count"] == 3 and m["day"] == day
        assert m["qoa/rows_in"] == 4 and m["qoa/rows_out"] == 3
        assert m["qoa/peak_rss_mb"] > 0 and m["qoa/cost_usd"] > 0
        # As people read them: milliseconds, MB to 0.1, cost to 6 significant digits.
        assert m["qoa/wall_seconds"] == round(m["qoa/wall_seconds"], 3) >= 0
        assert m["qoa/peak_rss_mb"] == round(m["qoa/peak_rss_mb"], 1)
        assert m["qoa/cost_usd"] == float(f"{m['qoa/cost_usd']:.6g}")
    # The score of the step's suites is a QoA figure too.
    assert [metadata[day]["qoa/data_quality_score"] for day in DAYS] == [1.0, 0.5]
    assert [line for line in logs if line.endswith("3 rows")] == [f"{day}: 3 rows" for day in DAYS]


def test_each_check_has_one_evaluation_per_partition():
    _, _, checks, _, _ = run(scored_rows)
    assert set(checks) == {"rows_valid", "cost_within_budget"}
    rows = checks["rows_valid"]
    assert sorted(rows) == DAYS
    assert rows[DAYS[0]].passed and rows[DAYS[0]].metadata["data_quality_score"].value == 1.0
    failed = rows[DAYS[1]]
    assert not failed.passed and failed.severity.value == "WARN"  # the failure was mild
    assert failed.metadata["data_quality_score"].value == 0.5
    assert all(e.passed for e in checks["cost_within_budget"].values())


def test_the_budget_rule_judges_every_partition_cost():
    result, metadata, checks, _, _ = run(scored_rows, gates=QualityGates(max_cost_usd_per_partition=0.0))
    cost = checks["cost_within_budget"]
    assert sorted(cost) == DAYS
    for day in DAYS:
        assert not cost[day].passed and cost[day].severity.value == "ERROR" and cost[day].blocking
        assert cost[day].metadata["cost_usd"].value == metadata[day]["qoa/cost_usd"]
    # A blocking check failed: the step fails, after its partitions were materialized.
    assert not result.success and sorted(metadata) == DAYS


def test_values_go_to_the_io_manager_by_partition_and_no_values_store_nothing():
    _, _, _, stored, _ = run(scored_rows)
    assert stored == [{day: f"table of {day}" for day in DAYS}]

    def nothing_to_store(day):
        return PartitionStep(outcomes={"rows_valid": Outcome(True)}, metadata={"day": day})

    result, metadata, _, stored, _ = run(nothing_to_store)
    assert result.success and sorted(metadata) == DAYS and stored == []


def test_an_upstream_partition_is_read_before_the_measurement():
    class SlowUpstream(dict):
        def __getitem__(self, day):
            time.sleep(0.3)  # as a Parquet read of the IO manager would take
            return f"raw {day}"

    seen = []

    def step(day, raw):
        seen.append(raw)
        return PartitionStep(outcomes={"rows_valid": Outcome(True)}, metadata={})

    _, metadata, _, _, _ = run(step, upstream=SlowUpstream())
    assert seen == [f"raw {day}" for day in DAYS]
    assert all(metadata[day]["qoa/wall_seconds"] < 0.3 for day in DAYS)


def test_an_outcome_for_a_check_the_asset_does_not_have_fails_the_step():
    def misnamed(day):
        return PartitionStep(outcomes={"row_valid": Outcome(True)}, metadata={})

    result, _, _, _, _ = run(misnamed)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "outcomes for ['cost_within_budget', 'row_valid']" in failure.event_specific_data.error.cause.message


@pytest.mark.parametrize("score, expected", [(None, None), (0.8, 0.8)])
def test_steps_without_a_suite_record_no_data_quality_score(score, expected):
    details = {} if score is None else {"data_quality_score": score}

    def step(day):
        return PartitionStep(outcomes={"rows_valid": Outcome(True, details)}, metadata={})

    _, metadata, _, _, _ = run(step)
    assert all(metadata[day].get("qoa/data_quality_score") == expected for day in DAYS)


def run_with_retries(step, raise_on_error: bool = True):
    """One partition of a toy asset whose steps the policy may retry twice."""

    @daily_asset(check_specs=SPECS, retry_policy=RetryPolicy(max_retries=2))
    def toy(context, qoa: QoAMonitor, quality_gates: QualityGates):
        return materialize_partitions(context, SPECS, qoa, quality_gates, step)

    return materialize(
        [toy],
        instance=DagsterInstance.ephemeral(),
        partition_key=DAYS[0],
        raise_on_error=raise_on_error,
        resources={"qoa": QoAMonitor(), "quality_gates": QualityGates()},
    )


def retries(result) -> int:
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_an_error_no_retry_can_cure_fails_at_once_naming_the_partition():
    def step(day):
        raise ValueError("a record the code cannot handle")

    result = run_with_retries(step, raise_on_error=False)
    assert not result.success and retries(result) == 0
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0].step_failure_data
    assert failure.user_failure_data.description == f"{DAYS[0]}: ValueError: a record the code cannot handle"
    assert failure.user_failure_data.metadata["partition"].value == DAYS[0]


def test_a_lost_database_connection_is_retried_by_the_policy():
    attempts = []

    def step(day):
        attempts.append(day)
        if len(attempts) < 3:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return PartitionStep(outcomes={"rows_valid": Outcome(True)}, metadata={})

    result = run_with_retries(step)
    assert result.success and retries(result) == 2 and len(attempts) == 3


# What the check's page in the UI reads: its executions, with Dagster's resolved status (a
# planned evaluation a finished run never recorded reads SKIPPED, or EXECUTION_FAILED).
HISTORY = """
query ($checkName: String!) {
  assetCheckExecutions(assetKey: {path: ["toy"]}, checkName: $checkName, limit: 50) {
    runId partition status evaluation { severity description }
  }
}"""


def check_history(instance, check_name: str) -> list[dict]:
    """The check's executions through the UI's GraphQL API, in process (no code location needed)."""
    with temp_workspace_file([]) as workspace, define_out_of_process_context(workspace, None, instance) as context:
        return execute_dagster_graphql(context, HISTORY, {"checkName": check_name}).data["assetCheckExecutions"]


def run_with_downstream(days: list[str], bad_day: str | None):
    """The toy (rows invalid on ``bad_day``: a blocking failure) and a daily asset after it, in one run over ``days``."""

    def step(day):
        rows = Outcome(day != bad_day, {"summary": "3 rows out of range"} if day == bad_day else {})
        return PartitionStep(outcomes={"rows_valid": rows}, metadata={})

    @daily_asset(check_specs=SPECS)
    def toy(context, qoa: QoAMonitor, quality_gates: QualityGates):
        return materialize_partitions(context, SPECS, qoa, quality_gates, step)

    @daily_asset(deps=[toy])
    def after():
        pass

    # One day is a run of that partition (as the UI launches it), more a run over their range.
    selection = {"partition_key": days[0]} if len(days) == 1 else {"tags": partition_range_tags(days[0], days[-1])}
    with instance_for_test() as instance:
        result = materialize(
            [toy, after],
            instance=instance,
            raise_on_error=False,
            resources={
                "qoa": QoAMonitor(),
                "quality_gates": QualityGates(),
                "io_manager": IOManagerDefinition.hardcoded_io_manager(Recording()),
            },
            **selection,
        )
        history = {name: check_history(instance, name) for name in ("rows_valid", "cost_within_budget")}
    materialized = {
        (e.materialization.asset_key.path[-1], e.materialization.partition)
        for e in result.get_asset_materialization_events()
    }
    return result, history, materialized


THREE_DAYS = ["2014-01-01", "2014-01-02", "2014-01-03"]


@pytest.mark.parametrize(
    "days, bad_day",
    [(THREE_DAYS, "2014-01-02"), (THREE_DAYS, None), (["2014-01-05"], "2014-01-05"), (["2014-01-05"], None)],
)
def test_the_check_history_shows_each_partition_passed_or_failed_and_none_skipped(days, bad_day):
    result, history, materialized = run_with_downstream(days, bad_day)
    for name, executions in history.items():
        assert {e["runId"] for e in executions} == {result.run_id}
        # One execution per partition, Passed or Failed: none unpartitioned ("—" on the page), none skipped.
        shown = sorted((e["partition"] or "—", e["status"]) for e in executions)
        assert shown == [(day, "FAILED" if (name, day) == ("rows_valid", bad_day) else "SUCCEEDED") for day in days]
    if bad_day is None:
        assert result.success
        assert materialized == {(asset, day) for asset in ("toy", "after") for day in days}
    else:
        failed = next(e for e in history["rows_valid"] if e["partition"] == bad_day)["evaluation"]
        assert failed == {"severity": "ERROR", "description": "3 rows out of range"}
        # The blocking failure stops the run's downstream asset; the toy's partitions are still written.
        assert not result.success
        assert materialized == {("toy", day) for day in days}


def test_the_transient_retry_delay_is_read_from_the_environment_and_a_bad_one_is_named(monkeypatch):
    from asset_base.partition_step import transient_retry_delay

    monkeypatch.delenv("TRANSIENT_RETRY_DELAY_SECONDS", raising=False)
    assert transient_retry_delay() == 10.0
    monkeypatch.setenv("TRANSIENT_RETRY_DELAY_SECONDS", "2.5")
    assert transient_retry_delay() == 2.5
    monkeypatch.setenv("TRANSIENT_RETRY_DELAY_SECONDS", "ten")
    with pytest.raises(ValueError, match="TRANSIENT_RETRY_DELAY_SECONDS='ten': give a number of seconds"):
        transient_retry_delay()
