"""The forecast model in MLflow's registry: versions addressed by aliases (no stages).

A new model version becomes the ``challenger``; it becomes the ``champion`` only when promoted,
and the version it replaces is kept in its ``previous_champion`` tag, so a rollback can give
the alias back. No Dagster here (the ``model_registry`` resource wraps this class); mlflow is
imported on first use.
"""

from __future__ import annotations

import contextlib
from typing import Any

from forecasting.tracking import masked

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegisteredModel:
    """One registered model of an MLflow registry (the tracking store's)."""

    def __init__(self, tracking_uri: str, model_name: str):
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client: Any = None

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
        import mlflow
        import mlflow.sklearn

        mlflow.set_tracking_uri(self.tracking_uri)  # models:/ URIs resolve through the global URI
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")

    def register(self, model_uri: str, run_id: str, tags: dict[str, str]):
        """A new version of the registered model (created on first use)."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        with contextlib.suppress(MlflowException):  # it exists already
            client.create_registered_model(self.model_name)
        return client.create_model_version(self.model_name, model_uri, run_id=run_id, tags=masked(tags))

    def register_challenger(self, model_uri: str, run_id: str, tags: dict[str, str]) -> str:
        """Register a logged model as a new version and make it the challenger; its version number."""
        version = str(self.register(model_uri, run_id, tags).version)
        self.set_alias(CHALLENGER, version)
        return version

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.model_name, alias, version)

    def promote(self, version: str) -> str | None:
        """Make a version the champion; the one it replaces is kept in its ``previous_champion`` tag."""
        previous = self.version(CHAMPION)
        previous_version = str(previous.version) if previous is not None else None
        self.client().set_model_version_tag(self.model_name, version, "previous_champion", previous_version or "none")
        self.set_alias(CHAMPION, version)
        return previous_version

    def rollback(self) -> tuple[str, str]:
        """Give the champion alias back to the version the current champion replaced."""
        champion = self.version(CHAMPION)
        if champion is None:
            raise RuntimeError(f"{self.model_name} has no champion to roll back")
        previous = champion.tags.get("previous_champion", "none")
        if previous == "none":
            raise RuntimeError(f"version {champion.version} of {self.model_name} replaced no earlier champion")
        self.set_alias(CHAMPION, previous)
        self.client().set_model_version_tag(self.model_name, champion.version, "rolled_back", "true")
        return str(champion.version), previous
