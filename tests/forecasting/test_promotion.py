"""A model's way from a window of feature days to the registry: split, evaluation, MLflow run,
registration as challenger, promotion to champion."""

import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest

from forecasting.features import FEATURE_COLUMNS, TARGET
from forecasting.registry import RegisteredModel
from forecasting.tracking import ending_active_run, ensure_experiment, log_decision, log_training_run
from forecasting.training import (
    ChampionModel,
    Decision,
    NotEnoughData,
    evaluate,
    holdout_plot,
    train_forest,
    training_window,
    withhold_promotion,
)

DAYS = ["2014-01-01", "2014-01-02", "2014-01-03"]


def feature_day(day: str, stations: int = 2, seed: int = 0) -> pd.DataFrame:
    """A day of hourly feature rows whose target is a function of the current ozone."""
    rng = np.random.default_rng(seed)
    issue = pd.date_range(day, periods=24, freq="h")
    rows = []
    for station in range(stations):
        for t in issue:
            values = {c: rng.normal() for c in FEATURE_COLUMNS}
            rows.append(
                {
                    "station_id": station,
                    "issue_time": t,
                    "target_time": t + pd.Timedelta(hours=1),
                    **values,
                    TARGET: values["o3_lag_0h"] * 2 + 1,
                }
            )
    return pd.DataFrame(rows)


def window_days(days=DAYS) -> dict[str, pd.DataFrame]:
    return {day: feature_day(day, seed=n) for n, day in enumerate(days)}


class Exact:
    """A model that knows the target's formula."""

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return features["o3_lag_0h"].to_numpy() * 2 + 1


class Off(Exact):
    def __init__(self, by: float):
        self.by = by

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return super().predict(features) + self.by


def test_the_window_trains_on_the_days_before_the_holdout_day_and_holds_that_day_out():
    window = training_window(window_days(reversed(DAYS)), DAYS[-1])
    assert window.days == DAYS
    assert (window.holdout["issue_time"].dt.strftime("%Y-%m-%d") == DAYS[-1]).all()
    assert window.train["target_time"].max() < pd.Timestamp(DAYS[-1])
    assert len(window.holdout) == 48 and len(window.train) == 2 * 48 - 2  # the seam's last hour per station


def test_a_window_without_its_holdout_day_or_observed_targets_is_refused():
    with pytest.raises(NotEnoughData, match=f"ozone_features for {DAYS[-1]} is not materialized"):
        training_window(window_days(DAYS[:2]), DAYS[-1])
    with pytest.raises(NotEnoughData, match="is not materialized"):
        training_window({}, DAYS[-1])
    unobserved = window_days()
    unobserved[DAYS[-1]][TARGET] = np.nan  # the holdout day's targets are not measured yet
    with pytest.raises(NotEnoughData, match="94 training and 0 holdout rows .* need both"):
        training_window(unobserved, DAYS[-1])


def test_evaluation_scores_candidate_persistence_and_champion_on_the_holdout():
    holdout = training_window(window_days(), DAYS[-1]).holdout
    first = evaluate(Exact(), holdout, margin=0.02)
    assert set(first.predictions) == {"candidate", "persistence"}
    assert first.candidate.rmse == pytest.approx(0) and first.baseline.rmse > 1
    assert first.champion is None and first.decision.promote
    assert first.decision.reason.endswith("beats persistence by at least 2%")

    against = evaluate(Off(0.5), holdout, margin=0.02, champion=ChampionModel("3", Exact()))
    assert set(against.predictions) == {"candidate", "persistence", "champion v3"}
    assert against.candidate.rmse == pytest.approx(0.5) and against.champion.rmse == pytest.approx(0)
    assert not against.decision.promote and "does not beat the champion" in against.decision.reason


def test_a_failed_vetoing_check_withholds_a_promotion():
    won = Decision(True, "RMSE 1.000 beats persistence by at least 2%")
    withheld = withhold_promotion(won, ["predictions_valid", "quality_floor"])
    assert not withheld.promote
    assert withheld.reason == "RMSE 1.000 beats persistence by at least 2%, but failed predictions_valid, quality_floor"
    assert withhold_promotion(won, []) == won
    lost = Decision(False, "RMSE 3.000 does not beat persistence 2.000 by 2%")
    assert withhold_promotion(lost, ["quality_floor"]) == lost


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ARTIFACT_LOCATION", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.sqlite'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.end_run()  # in case a test failed inside a run


def test_a_training_run_logs_parameters_scores_lineage_datasets_plot_and_model(tracking_uri):
    window = training_window(window_days(), DAYS[-1])
    model = train_forest(window.train, n_estimators=5, max_depth=3, min_samples_leaf=2, seed=0)
    evaluation = evaluate(model, window.holdout, margin=0.02, champion=ChampionModel("1", Exact()))
    mlflow.start_run(experiment_id=ensure_experiment(tracking_uri, "t"))
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ending_active_run() as run_id:
            info = log_training_run(
                model,
                window,
                evaluation,
                settings={"n_estimators": 5, "horizon_hours": 1},
                tags={"dagster_partition": DAYS[-1]},
                plot_png=holdout_plot(window.holdout, evaluation.predictions),
            )
            log_decision(evaluation.decision, "4")
    assert mlflow.active_run() is None
    assert not [w for w in caught if "Inferred schema contains integer" in str(w.message)]
    assert warnings.filters == filters  # the hint is silenced for the logging only

    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "n_estimators": "5",
        "horizon_hours": "1",
        "features": str(len(FEATURE_COLUMNS)),
        "train_rows": str(len(window.train)),
        "holdout_rows": str(len(window.holdout)),
    }
    assert run.data.metrics["candidate_rmse"] == pytest.approx(evaluation.candidate.rmse)
    assert {"baseline_rmse", "baseline_r2", "champion_rmse", "champion_mae"} <= set(run.data.metrics)
    tags = run.data.tags
    assert tags["dagster_partition"] == DAYS[-1] and tags["model_version"] == "4"
    assert tags["promoted"] == str(evaluation.decision.promote) and tags["decision"] == evaluation.decision.reason
    datasets = {
        i.dataset.name: [t.value for t in i.tags if t.key == "mlflow.data.context"] for i in run.inputs.dataset_inputs
    }
    assert datasets == {
        f"ozone_features {DAYS[0]}..{DAYS[-1]}": ["training"],
        f"ozone_features {DAYS[-1]} holdout": ["evaluation"],
    }
    artifacts = {a.path for a in mlflow.MlflowClient(tracking_uri).list_artifacts(run_id)}
    assert {"holdout_forecasts.png"} <= artifacts
    assert [c.name for c in info.signature.inputs] == FEATURE_COLUMNS
    logged = mlflow.sklearn.load_model(info.model_uri)
    assert np.array_equal(logged.predict(window.holdout[FEATURE_COLUMNS]), evaluation.predictions["candidate"])


def test_the_run_is_ended_when_logging_fails(tracking_uri):
    mlflow.start_run(experiment_id=ensure_experiment(tracking_uri, "t"))
    with pytest.raises(RuntimeError, match="registry down"), ending_active_run():
        raise RuntimeError("registry down")
    assert mlflow.active_run() is None
    with pytest.raises(RuntimeError, match="no active MLflow run"), ending_active_run():
        pass


def test_a_new_version_is_the_challenger_and_promotion_keeps_the_champion_it_replaced(tracking_uri):
    from sklearn.linear_model import LinearRegression

    registry = RegisteredModel(tracking_uri, "ozone-forecast")
    experiment = ensure_experiment(tracking_uri, "t")
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0]})

    def logged_run():
        with mlflow.start_run(experiment_id=experiment) as run:
            info = mlflow.sklearn.log_model(
                LinearRegression().fit(x, x["a"]),
                name="model",
                serialization_format="skops",
                pip_requirements=["scikit-learn"],
            )
        return info.model_uri, run.info.run_id

    first = registry.register_challenger(*logged_run(), {"dagster_partition": DAYS[0]})
    assert first == "1" and str(registry.version("challenger").version) == "1"
    assert registry.version("champion") is None  # registered is not promoted
    assert registry.client().get_model_version("ozone-forecast", "1").tags == {"dagster_partition": DAYS[0]}
    assert registry.promote(first) is None

    second = registry.register_challenger(*logged_run(), {})
    assert second == "2" and str(registry.version("challenger").version) == "2"
    assert str(registry.version("champion").version) == "1"
    assert registry.promote(second) == "1"
    champion = registry.version("champion")
    assert str(champion.version) == "2" and champion.tags["previous_champion"] == "1"
    assert registry.load("2").predict(pd.DataFrame({"a": [2.0]}))[0] == pytest.approx(2.0)


def test_mlflow_tags_and_errors_never_carry_a_password(tmp_path):
    from forecasting.tracking import ensure_experiment, masked

    tags = masked({"toar_database": "postgresql://toar:S3cr3t@db.example/toar", "rows": 12})
    assert tags == {"toar_database": "postgresql://toar:***@db.example/toar", "rows": 12}
    unreachable = "postgresql+psycopg2://mlflow:p@ss:w/rd@127.0.0.1:9/mlflow"
    with pytest.raises(RuntimeError) as raised:
        ensure_experiment(unreachable, "ozone-forecast")
    assert "p@ss" not in str(raised.value) and "w/rd" not in str(raised.value) and "***" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None
