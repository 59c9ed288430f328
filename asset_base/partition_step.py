"""One mechanism for every asset's partitions: measure the work, record it, judge the checks.

An asset hands ``materialize_partitions`` a function that does one partition's work (read,
transform, validate, write) and returns a ``PartitionStep``. For each partition of the run the
mechanism measures that function with the QoA monitor (an upstream partition the lake IO
manager loads is read before the measurement starts: the IO manager's work is not the asset's), judges the budget rule on its cost,
logs the step's line, and attaches the step's metadata plus the ``qoa/`` figures to the
partition's materialization. After the last partition it records each check's outcome for each
partition as that partition's evaluation (``checks.core.check_evaluations``), so a run over a range
of partitions leaves one Passed or Failed evaluation per partition in the check's history.

Only errors a retry may cure are retried (``TRANSIENT_ERRORS``, by the assets' ``TRANSIENT_RETRIES``
policy): an object that could not be read after the S3 client's own retries, and database errors
of the connection or the transaction (a lost connection, a deadlock, a serialization failure).
Any other error fails the step at once, naming the partition: retrying bad data or a bug
would only fail again, later.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.exc
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSpec,
    AssetExecutionContext,
    Backoff,
    Failure,
    MaterializeResult,
    Output,
    RetryPolicy,
)

from checks.core import COST_CHECK, Outcome, check_evaluations, cost_outcome
from resources.openaq_bucket import ObjectReadError
from resources.qoa import QoAMonitor, cost_figure
from resources.quality_gates import QualityGates

TRANSIENT_ERRORS = (ObjectReadError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


def transient_retry_delay() -> float:
    """Seconds before a transient error's first retry: TRANSIENT_RETRY_DELAY_SECONDS, default 10."""
    text = os.environ.get("TRANSIENT_RETRY_DELAY_SECONDS", "10")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"TRANSIENT_RETRY_DELAY_SECONDS={text!r}: give a number of seconds") from None


# After the clients' own retries, a step that met a transient error is tried twice more, 10 s and
# 20 s later by default (the second wait doubles the first). Read once, as the assets are defined.
TRANSIENT_RETRIES = RetryPolicy(max_retries=2, delay=transient_retry_delay(), backoff=Backoff.EXPONENTIAL)


@dataclass
class PartitionStep:
    """What one partition's work hands back."""

    outcomes: dict[str, Outcome]  # by check name: every check of the asset but the budget rule
    metadata: dict  # the partition's materialization metadata, without the qoa/ figures
    qoa: dict[str, float | int | None] = field(default_factory=dict)  # counts for qoa/: rows_in, rows_out, ...
    value: Any = None  # what the IO manager stores for the partition; None: the asset stores nothing
    log: str = ""  # a line for the run's log


def materialize_partitions(
    context: AssetExecutionContext,
    specs: list[AssetCheckSpec],
    qoa: QoAMonitor,
    gates: QualityGates,
    step: Callable[..., PartitionStep],
    upstream: Mapping[str, Any] | None = None,
) -> Any:  # the step's events (_events); Any: the assets' `-> MaterializeResult` is what Dagster reads
    """Run ``step(key)`` on each partition of the run, measured; one evaluation per check in ``specs``
    and partition.

    With ``upstream`` (an input's ``{partition key: table}``), it is ``step(key, upstream[key])``.
    The value is ``{partition key: step value}`` when the steps return values (for the IO
    manager), none otherwise. The work is done here; the asset returns what this returns.
    """
    outcomes: dict[str, dict[str, Outcome]] = {spec.name: {} for spec in specs}
    values = {}
    for key in context.partition_keys:
        inputs = () if upstream is None else (upstream[key],)
        try:
            with qoa.measure() as measured:
                done = step(key, *inputs)
        except (Failure, *TRANSIENT_ERRORS):
            raise  # a Failure says itself whether it may be retried
        except Exception as exc:
            raise Failure(
                f"{key}: {type(exc).__name__}: {exc}", metadata={"partition": key}, allow_retries=False
            ) from exc
        judged = {
            **done.outcomes,
            COST_CHECK: cost_outcome(cost_figure(measured.cost_usd), gates.max_cost_usd_per_partition),
        }
        if set(judged) != set(outcomes):
            raise ValueError(f"{key}: outcomes for {sorted(judged)}, but the asset's checks are {sorted(outcomes)}")
        for name, outcome in judged.items():
            outcomes[name][key] = outcome
        if done.log:
            context.log.info(done.log)
        context.add_asset_metadata(
            {**done.metadata, **measured.metadata(**done.qoa, data_quality_score=_data_quality_score(done.outcomes))},
            partition_key=key,
        )
        if done.value is not None:
            values[key] = done.value
    result = MaterializeResult(value=values) if values else MaterializeResult()
    selected = [spec for spec in specs if spec.key in context.selected_asset_check_keys]
    # Dagster requires each selected check's output from the step; AssetCheckResult would emit it.
    outputs = {spec.name: context.assets_def.get_output_name_for_asset_check_key(spec.key) for spec in selected}
    return _events(result, {outputs[spec.name]: check_evaluations(spec, outcomes[spec.name]) for spec in selected})


def _events(
    result: MaterializeResult, evaluations: dict[str, list[AssetCheckEvaluation]]
) -> Iterator[MaterializeResult | Output | AssetCheckEvaluation]:
    """The materialization, then each check's output and its evaluations, one per partition.

    An ``AssetCheckResult`` cannot name a partition: in a run over a range, Dagster records it
    once, unpartitioned, and shows each partition it planned for the check as Skipped. An
    ``AssetCheckEvaluation`` names its partition; yielded by the step, Dagster records it for
    that partition and, if a blocking one failed with ERROR, fails the step after the
    materialization, which stops downstream assets as a failed result would. Dagster iterates a
    generator an asset returns as if the asset had yielded its items.
    """
    yield result
    for output_name, partitions in evaluations.items():
        yield Output(None, output_name=output_name)
        yield from partitions


def _data_quality_score(outcomes: dict[str, Outcome]) -> float | None:
    """The lowest score of the step's great-expectations suites (None if it ran none)."""
    scores = [o.details["data_quality_score"] for o in outcomes.values() if "data_quality_score" in o.details]
    return min(scores) if scores else None
