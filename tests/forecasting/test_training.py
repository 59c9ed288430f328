import numpy as np
import pandas as pd
import pytest

from forecasting.features import FEATURE_COLUMNS, TARGET
from forecasting.tracking import ensure_experiment
from forecasting.training import Scores, decide_promotion, holdout_plot, score, time_ordered_split, train_forest
from ml_assets.registry import main as registry_main
from resources.mlflow_resources import ModelRegistry


def scores(rmse: float) -> Scores:
    return Scores(rmse=rmse, mae=rmse, r2=0.5, n=10)


def test_score_is_rmse_mae_r2():
    s = score([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert s.rmse == pytest.approx(1.0) and s.mae == pytest.approx(0.5)
    assert s.r2 == pytest.approx(1 - 4 / 5)
    with pytest.raises(ValueError, match="empty"):
        score([], [])


@pytest.mark.parametrize(
    ("candidate", "baseline", "champion", "promote", "words"),
    [
        (2.0, 1.9, None, False, "does not beat persistence"),
        (2.0, 2.01, None, False, "does not beat persistence"),  # better, but not by the margin
        (1.8, 2.0, None, True, "beats persistence"),
        (1.8, 2.0, 1.81, False, "does not beat the champion"),
        (1.5, 2.0, 1.8, True, "beats persistence and the champion"),
    ],
)
def test_promotion_rule(candidate, baseline, champion, promote, words):
    decision = decide_promotion(scores(candidate), scores(baseline), scores(champion) if champion else None, 0.02)
    assert decision.promote is promote
    assert words in decision.reason


def frame(n_hours=96, stations=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    issue = pd.date_range("2014-01-01", periods=n_hours, freq="h")
    rows = []
    for s in range(stations):
        for t in issue:
            values = {c: rng.normal() for c in FEATURE_COLUMNS}
            rows.append(
                {
                    "station_id": s,
                    "issue_time": t,
                    "target_time": t + pd.Timedelta(hours=1),
                    **values,
                    TARGET: values["o3_lag_0h"] * 2 + 1,
                }
            )
    return pd.DataFrame(rows)


def test_time_ordered_split_keeps_holdout_targets_out_of_training():
    features = frame()
    features.loc[5, TARGET] = np.nan
    train, holdout = time_ordered_split(features, pd.Timestamp("2014-01-04"))
    assert train["target_time"].max() < pd.Timestamp("2014-01-04")
    assert holdout["issue_time"].min() == pd.Timestamp("2014-01-04")
    assert (
        train[TARGET].notna().all() and len(train) + len(holdout) == len(features) - 1 - 3
    )  # NaN, and 3 rows at the seam


def test_forest_learns_and_plot_is_a_png():
    train, holdout = time_ordered_split(frame(), pd.Timestamp("2014-01-04"))
    model = train_forest(train, n_estimators=30, max_depth=None, min_samples_leaf=1, seed=0)
    predicted = model.predict(holdout[FEATURE_COLUMNS])
    assert score(holdout[TARGET], predicted).r2 > 0.8
    png = holdout_plot(holdout, {"candidate": predicted, "persistence": holdout["o3_lag_0h"].to_numpy()})
    assert png.startswith(b"\x89PNG")


@pytest.fixture
def registry(tmp_path):
    """A real MLflow registry (SQLite) with three versions of a tiny model."""
    import mlflow
    from sklearn.linear_model import LinearRegression

    uri = f"sqlite:///{tmp_path / 'mlflow.sqlite'}"
    mlflow.set_tracking_uri(uri)
    experiment = ensure_experiment(uri, "t")
    registry = ModelRegistry(tracking_uri=uri, model_name="ozone-forecast")
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    for slope in (1.0, 2.0, 3.0):
        with mlflow.start_run(experiment_id=experiment) as run:
            info = mlflow.sklearn.log_model(
                LinearRegression().fit(x, x["a"] * slope),
                name="model",
                serialization_format="skops",
                pip_requirements=["scikit-learn"],
            )
        registry.register(info.model_uri, run.info.run_id, {"slope": str(slope)})
    return registry


def test_promotion_keeps_the_previous_champion_and_rollback_restores_it(registry, monkeypatch, capsys):
    assert registry.version("champion") is None
    assert registry.promote("1") is None
    assert registry.promote("3") == "1"
    champion = registry.version("champion")
    assert str(champion.version) == "3" and champion.tags["previous_champion"] == "1"
    assert registry.load("3").predict(pd.DataFrame({"a": [1.0]}))[0] == pytest.approx(3.0)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    assert registry_main(["rollback"]) == 0  # the documented one-command rollback
    assert "champion is version 1 again" in capsys.readouterr().out
    assert str(registry.version("champion").version) == "1"
    assert registry.client().get_model_version("ozone-forecast", "3").tags["rolled_back"] == "true"
    # Version 1 replaced nothing: a second rollback is refused, the champion stays.
    assert registry_main(["rollback"]) == 1
    assert str(registry.version("champion").version) == "1"


def test_rollback_without_champion_is_refused(registry):
    with pytest.raises(RuntimeError, match="no champion"):
        registry.rollback()


def test_artifacts_of_a_sqlite_store_live_beside_it(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_ARTIFACT_LOCATION", raising=False)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.sqlite'}"
    (tmp_path / "store").mkdir()
    experiment = MlflowClient(tracking_uri=uri).get_experiment(ensure_experiment(uri, "e"))
    assert experiment.artifact_location == (tmp_path / "store" / "mlflow-artifacts").as_uri()
    monkeypatch.setenv("MLFLOW_ARTIFACT_LOCATION", "s3://bucket/artifacts")
    assert ensure_experiment(uri, "e") == experiment.experiment_id  # existing experiments are kept
    assert (
        MlflowClient(tracking_uri=uri).get_experiment(ensure_experiment(uri, "f")).artifact_location
        == "s3://bucket/artifacts"
    )
