"""MLflow: the tracking run of a training step, and the model registry, as Dagster resources.

``mlflow_run`` wraps dagster-mlflow's ``MlFlow`` class (one MLflow run per Dagster run, found
again by its ``dagster_run_id`` tag, even across processes). We wrap it instead of using
``dagster_mlflow.mlflow_tracking`` directly for two reasons: importing dagster_mlflow imports
mlflow, slow to import (benchmarks/README.md, section 4), which the code location must not pay
at load time; and the experiment must exist with our artifact location before dagster-mlflow
calls ``set_experiment`` (which would otherwise put artifacts in ``./mlruns`` of whatever
folder the process runs in). The training asset ends the MLflow run itself, FINISHED or, when
training failed, FAILED (``forecasting.tracking.ending_active_run``), because dagster-mlflow's
end-of-run hook only fires for op jobs, not for assets materialized from the UI.

``ModelRegistry`` is ``forecasting.registry.RegisteredModel`` as a resource: its settings
shown in the UI, the registry logic below it, without Dagster.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from dagster import ConfigurableResource, Field, StringSource, resource
from pydantic import Field as PydanticField
from pydantic import PrivateAttr

from forecasting.registry import RegisteredModel
from forecasting.tracking import ensure_experiment
from resources.qoa import freeze_long_lived_objects


@resource(
    config_schema={
        "experiment_name": Field(StringSource, description="MLflow experiment of the training runs"),
        "mlflow_tracking_uri": Field(StringSource, description="MLflow tracking URI"),
        "extra_tags": Field(dict, is_required=False, default_value={}, description="tags on every MLflow run"),
    },
    description="An MLflow run for the Dagster run (dagster-mlflow's MlFlow, imported lazily).",
)
def mlflow_run(context):
    from dagster import BetaWarning

    mlflow = _mlflow()
    config = context.resource_config
    mlflow.set_tracking_uri(config["mlflow_tracking_uri"])
    ensure_experiment(config["mlflow_tracking_uri"], config["experiment_name"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # dagster-mlflow is beta; we use it knowingly
        from dagster_mlflow.resources import MlFlow

        return MlFlow(context)


@lru_cache(maxsize=1)
def _mlflow():
    """mlflow (with the scikit-learn flavor training logs), imported once per process when a
    run first needs it; then what the imports built is left out of full garbage collections."""
    import mlflow
    import mlflow.sklearn  # noqa: F401

    freeze_long_lived_objects()
    return mlflow


class ModelRegistry(ConfigurableResource):
    """The registered model in MLflow's registry, addressed by aliases (no stages)."""

    tracking_uri: str = PydanticField(description="MLflow tracking (and registry) URI")
    model_name: str = PydanticField(default="ozone-forecast", description="registered model name")

    _model: Any = PrivateAttr(default=None)

    def registered_model(self) -> RegisteredModel:
        if self._model is None:
            self._model = RegisteredModel(self.tracking_uri, self.model_name)
        return self._model

    # The registered model's operations, for the assets, sensors and tools that hold the resource.
    def client(self):
        return self.registered_model().client()

    def version(self, alias: str):
        return self.registered_model().version(alias)

    def load(self, version: str):
        _mlflow()  # imported once per process, then left out of full garbage collections
        return self.registered_model().load(version)

    def register(self, model_uri: str, run_id: str, tags: dict[str, str]):
        return self.registered_model().register(model_uri, run_id, tags)

    def register_challenger(self, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
        return self.registered_model().register_challenger(model_uri, run_id, tags)

    def promote(self, version: str) -> str | None:
        return self.registered_model().promote(version)

    def rollback(self) -> tuple[str, str]:
        return self.registered_model().rollback()
