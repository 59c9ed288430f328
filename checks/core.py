"""Running great-expectations suites and rules, and turning them into Dagster check results.

Suites are lists of ``(expectation class name, kwargs)``: plain data, so defining them costs
nothing at code-location load; great_expectations, slow to import (the first validation after
the code location's load takes 1.1-1.2 s: benchmarks/README.md, section 8), is imported on the
first validation, without loading the two libraries only its unused expectations need and with
the garbage collector paused. Every check
evaluates each partition the run materialized, and records one evaluation per partition:
Dagster's check history then reads Passed or Failed for each partition, even when one run
covers a range of them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import pandas as pd
from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetCheckSpec

from resources.qoa import freeze_long_lived_objects

SAMPLE_SIZE = 10  # bad values shown per failed expectation

# (GX expectation class name, its kwargs)
Expectation = tuple[str, dict]


@dataclass
class Outcome:
    """A partition's result for one check; a failure that is not ``severe`` only warns."""

    passed: bool
    details: dict = field(default_factory=dict)
    severe: bool = True


@dataclass
class SuiteOutcome:
    """A great-expectations suite's result on one partition."""

    evaluated: int
    failures: list[dict]

    @property
    def score(self) -> float:
        """Share of expectations passed: the data-quality score."""
        return 1.0 if self.evaluated == 0 else (self.evaluated - len(self.failures)) / self.evaluated

    def outcome(self, min_score: float) -> Outcome:
        """Failed if any expectation failed; blocking only when the score is under ``min_score``."""
        details = {
            "data_quality_score": self.score,
            "min_data_quality_score": min_score,
            "failed_expectations": self.failures,
        }
        return Outcome(not self.failures, details, severe=self.score < min_score)


_building = threading.Lock()  # one context, whichever of a run's threads validates first

# great_expectations imports all its expectations, and with them scipy.stats (KL divergence)
# and altair (charts): 0.8 of its 3 s import, for expectations no suite here uses. Imported
# while it imports, they are modules whose code runs on their first attribute access
# (importlib's LazyLoader): whatever does use them later gets them whole.
DEFERRED_IMPORTS = ("scipy.stats", "altair")


class _DeferredImports(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in DEFERRED_IMPORTS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def _deferring_imports() -> Iterator[None]:
    finder = _DeferredImports()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off for a block that only makes objects that live on: its full
    passes during great_expectations' import (hundreds of thousands of new objects, frozen right
    after) found nothing to free and took 0.6 of its 1.9-2.2 s."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _built_batch_definition():
    with _building:
        return _batch_definition()


@lru_cache(maxsize=1)
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # offline: no usage statistics
    with _deferring_imports(), _collector_paused():
        import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("partitions")
    batch_definition = source.add_dataframe_asset("partition").add_batch_definition_whole_dataframe("whole")
    freeze_long_lived_objects()  # the context lives as long as the process
    return batch_definition


def run_suite(name: str, frame: pd.DataFrame, expectations: list[Expectation]) -> SuiteOutcome:
    """Validate a frame with a suite; failures name the expectation, counts and sample values."""
    batch_definition = _built_batch_definition()  # the context must exist before a suite is made
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for kind, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
    # GX's pandas metrics (nulls, sets, regexes) work per distinct value on
    # categoricals: the same results in half the time on a day of records.
    frame = frame.astype({c: "category" for c in frame.columns if frame[c].dtype == object})
    # BASIC has all a failure reports (counts, observed value, sample values); SUMMARY would also
    # count every distinct unexpected value, which takes longer than some checks themselves.
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="BASIC")
    failures = []
    for r in result.results:
        if r.success:
            continue
        kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"}
        failure = {"expectation": r.expectation_config.type, **_plain(kwargs)}
        failure["unexpected_count"] = r.result.get("unexpected_count")
        failure["unexpected_percent"] = r.result.get("unexpected_percent")
        failure["observed_value"] = _plain(r.result.get("observed_value"))
        failure["sample"] = _plain((r.result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE])
        errors = _error_messages(r.exception_info)
        if errors:
            failure["error"] = "; ".join(errors)
        failures.append(failure)
    return SuiteOutcome(evaluated=len(result.results), failures=failures)


def _error_messages(info: dict | None) -> list[str]:
    """Why an expectation could not be evaluated: GX gives one exception, or (when a metric
    failed, e.g. a missing column) one per metric, keyed by the metric."""
    if not info:
        return []
    if "raised_exception" in info:
        return [info["exception_message"]] if info["raised_exception"] else []
    return sorted({m for nested in info.values() if isinstance(nested, dict) for m in _error_messages(nested)})


def spec(asset: str, name: str, description: str, blocking: bool = True) -> AssetCheckSpec:
    return AssetCheckSpec(name=name, asset=asset, description=description, blocking=blocking)


# The QoA budget rule's check: every asset has it, and asset_base.partition_step judges it.
COST_CHECK = "cost_within_budget"


def cost_spec(asset: str) -> AssetCheckSpec:
    """The QoA budget rule, the same on every asset."""
    return spec(asset, COST_CHECK, "QoA control rule: a partition's work costs at most the budget in USD.")


def cost_outcome(cost_usd: float, budget_usd: float) -> Outcome:
    return Outcome(cost_usd <= budget_usd, {"cost_usd": cost_usd, "budget_usd": budget_usd})


def check_evaluations(check: AssetCheckSpec, outcomes: dict[str, Outcome]) -> list[AssetCheckEvaluation]:
    """One evaluation per partition: its verdict, its severity, its details (the partition's
    own: the UI lists the evaluations by partition, so no evaluation repeats the others').

    A failure is ERROR when severe (if the check is blocking, the run's downstream assets then
    stop), WARN when mild.
    """
    return [
        AssetCheckEvaluation(
            asset_key=check.asset_key,
            check_name=check.name,
            partition=day,
            passed=outcome.passed,
            severity=AssetCheckSeverity.ERROR if outcome.severe else AssetCheckSeverity.WARN,
            blocking=check.blocking,
            metadata=_plain(outcome.details),
            description=None if outcome.passed else outcome.details.get("summary"),
        )
        for day, outcome in sorted(outcomes.items())
    ]


def _plain(value):
    """JSON-safe copies of numpy scalars, timestamps and containers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and value != value:
        return None  # NaN
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
