"""MLflow: the tracking run of a training step, and the model registry.

``mlflow_run`` wraps dagster-mlflow's ``MlFlow`` class (one MLflow run per Dagster run, found
again by its ``dagster_run_id`` tag, even across processes). We wrap it instead of using
``dagster_mlflow.mlflow_tracking`` directly for two reasons: importing dagster_mlflow imports
mlflow (about 1.5 s), which the code location must not pay at load time; and the experiment
must exist with our artifact location before dagster-mlflow calls ``set_experiment`` (which
would otherwise put artifacts in ``./mlruns`` of whatever folder the process runs in).
The training asset ends the MLflow run itself, because dagster-mlflow's end-of-run hook
only fires for op jobs, not for assets materialized from the UI.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from dagster import ConfigurableResource, Field, StringSource, resource
from pydantic import Field as PydanticField
from pydantic import PrivateAttr

from resources.qoa import freeze_long_lived_objects


def artifact_location(tracking_uri: str) -> Optional[str]:
    """Where a new experiment keeps artifacts: ``MLFLOW_ARTIFACT_LOCATION``, else beside a
    SQLite tracking store, else (a tracking server) wherever the server decides."""
    if os.environ.get("MLFLOW_ARTIFACT_LOCATION"):
        return os.environ["MLFLOW_ARTIFACT_LOCATION"]
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlflow-artifacts").as_uri()
    return None


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """The experiment's id; created (with ``artifact_location``) if it does not exist yet."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))


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

    _client: Any = PrivateAttr(default=None)

    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def version(self, alias: str):
        """The model version behind an alias, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    def load(self, version: str):
        """The scikit-learn model of a version (by number)."""
        mlflow = _mlflow()
        mlflow.set_tracking_uri(self.tracking_uri)  # models:/ URIs resolve through the global URI
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")

    def register(self, model_uri: str, run_id: str, tags: dict[str, str]):
        """A new version of the registered model (created on first use)."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(self.model_name)
        except MlflowException:
            pass  # exists already
        return client.create_model_version(self.model_name, model_uri, run_id=run_id, tags=tags)

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, version)

    def promote(self, version: str) -> Optional[str]:
        """Make a version the champion; the one it replaces is kept in its ``previous_champion`` tag."""
        previous = self.version("champion")
        previous_version = str(previous.version) if previous is not None else None
        self.client().set_model_version_tag(self.model_name, version, "previous_champion", previous_version or "none")
        self.set_alias("champion", version)
        return previous_version

    def rollback(self) -> tuple[str, str]:
        """Give the champion alias back to the version the current champion replaced."""
        champion = self.version("champion")
        if champion is None:
            raise RuntimeError(f"{self.model_name} has no champion to roll back")
        previous = champion.tags.get("previous_champion", "none")
        if previous == "none":
            raise RuntimeError(f"version {champion.version} of {self.model_name} replaced no earlier champion")
        self.set_alias("champion", previous)
        self.client().set_model_version_tag(self.model_name, champion.version, "rolled_back", "true")
        return str(champion.version), previous
