"""Daily ozone forecasts: dma8eu 1 to 4 days ahead, judged by skill (no Dagster, no MLflow).

A feature row describes a station at the end of its local day D (the issue date: every hour
of D is known) and predicts the dma8eu of D+1 .. D+4. Inputs come from the daily metrics of D
and the days before (toar.daily_metrics); only the targets look ahead. One function builds the
rows for training, for the daily forecasts and for REST requests.

Two references score every model, per lead: persistence (D's dma8eu for every lead) and
climatology (the station's mean dma8eu near the target's day of year, from days before the
holdout only). Skill = 1 - MSE(model) / MSE(reference): above 0 the model beats the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from forecasting.plots import forecast_plot

LEADS = (1, 2, 3, 4)
LAG_DAYS = 3  # dma8eu of D, D-1, D-2
STATION_LEVEL_DAYS = 28  # the station's recent level: its mean dma8eu over these days up to D
CLIMATOLOGY_HALF_WIDTH_DAYS = 15  # climatology: valid days within this many days of the target's day of year

KEY_COLUMNS = ["station_id", "issue_date"]
FEATURE_COLUMNS = (
    [f"dma8eu_lag_{k}d" for k in range(LAG_DAYS)]
    + ["o3_mean", "o3_max", "o3_last8h_mean", "station_level"]
    + ["no2_mean", "has_no2", "temp_mean", "temp_max", "temp_change", "has_temp"]
    + ["doy_sin", "doy_cos", "latitude", "longitude"]
)
TARGETS = [f"dma8eu_lead_{d}d" for d in LEADS]
PERSISTENCE_FEATURE = "dma8eu_lag_0d"

# The daily metrics' columns the features read (toar.daily_metrics' table).
METRIC_COLUMNS = ["o3_dma8eu", "o3_mean", "o3_max", "o3_last8h_mean", "no2_mean", "temp_mean", "temp_max"]


def history_start(first_issue: date) -> date:
    """The first metrics day the rows of ``first_issue`` read."""
    return first_issue - timedelta(days=max(STATION_LEVEL_DAYS, LAG_DAYS) - 1)


def build_daily_features(metrics: pd.DataFrame, stations: pd.DataFrame, first_issue: date, last_issue: date):
    """Feature rows for issue dates first_issue .. last_issue (inclusive), with the targets.

    ``metrics``: daily metric rows (station_id, date, and METRIC_COLUMNS) covering
    history_start(first_issue) .. last_issue + 4 days (what is missing is a gap);
    ``stations``: station_id, latitude, longitude. A row needs a valid dma8eu on its issue
    date (persistence and the lags start there); older lags missing are carried from the
    newer ones. Targets are NaN where the target day's dma8eu is not (yet) valid.
    """
    columns = KEY_COLUMNS + FEATURE_COLUMNS + TARGETS
    if metrics.empty:
        return pd.DataFrame(columns=columns)
    days = pd.date_range(pd.Timestamp(history_start(first_issue)), pd.Timestamp(last_issue) + pd.Timedelta(days=4))
    frame = metrics.assign(date=pd.to_datetime(metrics["date"])).set_index(["station_id", "date"])[METRIC_COLUMNS]
    station_ids = sorted(frame.index.get_level_values("station_id").unique())
    grid = frame.reindex(pd.MultiIndex.from_product([station_ids, days], names=["station_id", "date"]))
    dma8 = grid["o3_dma8eu"].groupby(level="station_id")

    out = pd.DataFrame(index=grid.index)
    for k in range(LAG_DAYS):
        out[f"dma8eu_lag_{k}d"] = dma8.shift(k)
    lags = [f"dma8eu_lag_{k}d" for k in range(LAG_DAYS)]
    out[lags] = out[lags].ffill(axis=1)  # an older day missing: the newer value stands in
    for column in ("o3_mean", "o3_max", "o3_last8h_mean"):
        out[column] = grid[column]
    out["station_level"] = dma8.transform(lambda s: s.rolling(STATION_LEVEL_DAYS, min_periods=1).mean())
    out["has_no2"] = grid["no2_mean"].notna().astype(float)
    out["no2_mean"] = grid["no2_mean"].fillna(0.0)
    out["has_temp"] = grid["temp_mean"].notna().astype(float)
    out["temp_change"] = (grid["temp_mean"] - grid["temp_mean"].groupby(level="station_id").shift(1)).fillna(0.0)
    out["temp_mean"] = grid["temp_mean"].fillna(0.0)
    out["temp_max"] = grid["temp_max"].fillna(0.0)
    for lead, target in zip(LEADS, TARGETS, strict=True):
        out[target] = dma8.shift(-lead)

    out = out.reset_index().rename(columns={"date": "issue_date"})
    angle = 2 * np.pi * out["issue_date"].dt.dayofyear / 365.25
    out["doy_sin"], out["doy_cos"] = np.sin(angle), np.cos(angle)
    out = out.merge(stations[["station_id", "latitude", "longitude"]], on="station_id", how="left")
    in_window = (out["issue_date"] >= pd.Timestamp(first_issue)) & (out["issue_date"] <= pd.Timestamp(last_issue))
    complete = out[FEATURE_COLUMNS].notna().all(axis=1)
    rows = out.loc[in_window & complete, columns].reset_index(drop=True)
    rows["issue_date"] = rows["issue_date"].dt.date
    return rows


def climatology(history: pd.DataFrame, station_ids, target_dates) -> np.ndarray:
    """The climatological dma8eu of each (station, target date): the station's mean valid dma8eu
    over days of ``history`` within CLIMATOLOGY_HALF_WIDTH_DAYS of the target's day of year (any
    year); where it has none, its mean over all of ``history``; where it has no history, the
    mean of all stations. ``history`` must end before the holdout (no peeking)."""
    valid = history.dropna(subset=["o3_dma8eu"])
    targets = pd.DataFrame({"station_id": np.asarray(station_ids), "target": pd.to_datetime(pd.Series(target_dates))})
    overall = float(valid["o3_dma8eu"].mean()) if len(valid) else float("nan")
    if valid.empty:
        return np.full(len(targets), overall)
    days = valid.assign(doy=pd.to_datetime(valid["date"]).dt.dayofyear)[["station_id", "doy", "o3_dma8eu"]]
    targets["doy"] = targets["target"].dt.dayofyear
    pairs = targets.reset_index().merge(days, on="station_id", how="left", suffixes=("", "_h"))
    distance = (pairs["doy"] - pairs["doy_h"]).abs()
    pairs["near"] = np.minimum(distance, 366 - distance) <= CLIMATOLOGY_HALF_WIDTH_DAYS
    seasonal = pairs[pairs["near"]].groupby("index")["o3_dma8eu"].mean()
    station_mean = valid.groupby("station_id")["o3_dma8eu"].mean()
    result = targets.index.to_series().map(seasonal)
    result = result.fillna(targets["station_id"].map(station_mean)).fillna(overall)
    return result.to_numpy(dtype=float)


class NotEnoughDays(ValueError):
    """The window of daily metrics cannot train and score a model."""


@dataclass(frozen=True)
class DailyWindow:
    """A model's rows split in time: training rows whose every target was observed before the holdout."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: date
    references: dict[str, np.ndarray]  # persistence and climatology, rows of holdout x leads


def split_window(rows: pd.DataFrame, metrics: pd.DataFrame, holdout_days: int) -> DailyWindow:
    """The last ``holdout_days`` issue dates with an observed lead-1 target are the holdout.

    Training rows need all four targets observed no later than the first holdout issue date:
    a model is never trained on a day it is scored on, nor on anything after its issue time.
    Climatology comes from the metrics before the holdout.
    """
    observed = rows[rows[TARGETS[0]].notna()]
    issue_dates = sorted(observed["issue_date"].unique())
    if len(issue_dates) < holdout_days + 1:
        raise NotEnoughDays(f"{len(issue_dates)} issue days with an observed next day; need more than {holdout_days}")
    start = issue_dates[-holdout_days]
    last_train_issue = start - timedelta(days=max(LEADS))
    train = rows[(rows["issue_date"] <= last_train_issue) & rows[TARGETS].notna().all(axis=1)]
    holdout = observed[observed["issue_date"] >= start]
    if train.empty:
        raise NotEnoughDays(f"no training rows with four observed targets before the holdout starting {start}")
    before = metrics[pd.to_datetime(metrics["date"]) < pd.Timestamp(start)]
    return DailyWindow(
        train.reset_index(drop=True),
        holdout.reset_index(drop=True),
        start,
        reference_forecasts(holdout.reset_index(drop=True), before),
    )


def reference_forecasts(rows: pd.DataFrame, history: pd.DataFrame) -> dict[str, np.ndarray]:
    """Persistence and climatology for each row and lead (rows x leads)."""
    persistence = np.repeat(rows[PERSISTENCE_FEATURE].to_numpy(float)[:, None], len(LEADS), axis=1)
    issue = pd.to_datetime(rows["issue_date"])
    clim = np.column_stack(
        [climatology(history, rows["station_id"], issue + pd.Timedelta(days=lead)) for lead in LEADS]
    )
    return {"persistence": persistence, "climatology": clim}


def train_daily_forest(
    train: pd.DataFrame,
    *,
    n_estimators: int,
    max_depth: int | None,
    min_samples_leaf: int,
    max_features: float,
    seed: int,
):
    """One random forest for the four leads (a multi-output regressor).

    One model, not four: the leads share their inputs and most of their structure, one fit is
    one artifact and one version to promote, and one REST call answers all four leads.
    """
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        max_features=max_features,
        random_state=seed,
        n_jobs=-1,
    )
    model.fit(train[FEATURE_COLUMNS], train[TARGETS])
    model.set_params(n_jobs=1)  # served rows are few: one thread (as the hourly model)
    return model


@dataclass(frozen=True)
class LeadScores:
    lead: int
    n: int
    rmse: float
    mae: float
    bias: float
    skill_persistence: float
    skill_climatology: float


def lead_scores(observed: np.ndarray, predicted: np.ndarray, references: dict[str, np.ndarray]) -> list[LeadScores]:
    """Per lead, on the rows whose target is observed: errors and skill against both references."""
    scores = []
    for i, lead in enumerate(LEADS):
        seen = np.isfinite(observed[:, i])
        obs, pred = observed[seen, i], predicted[seen, i]
        if len(obs) == 0:
            continue
        mse = float(np.mean((pred - obs) ** 2))
        skill = {name: _skill(mse, float(np.mean((values[seen, i] - obs) ** 2))) for name, values in references.items()}
        scores.append(
            LeadScores(
                lead=lead,
                n=int(seen.sum()),
                rmse=float(np.sqrt(mse)),
                mae=float(np.mean(np.abs(pred - obs))),
                bias=float(np.mean(pred - obs)),
                skill_persistence=skill["persistence"],
                skill_climatology=skill["climatology"],
            )
        )
    return scores


def _skill(mse: float, reference_mse: float) -> float:
    if reference_mse == 0:
        return 0.0 if mse == 0 else float("-inf")
    return 1.0 - mse / reference_mse


@dataclass(frozen=True)
class SkillRules:
    """What a dma8eu model must show to become champion (configurable per run)."""

    min_skill_persistence: float = 0.0  # at every lead
    min_skill_climatology: float = 0.0
    climatology_leads: tuple[int, ...] = (1, 2)  # where climatology must be beaten too
    shadow_days: int = 3  # with a champion: days of scored shadow forecasts needed before promoting

    def failures(self, scores: list[LeadScores]) -> list[str]:
        """Every rule a model's per-lead scores break, with the numbers."""
        broken = []
        by_lead = {s.lead: s for s in scores}
        for lead in LEADS:
            s = by_lead.get(lead)
            if s is None:
                broken.append(f"lead {lead}: not scored")
                continue
            if not s.skill_persistence > self.min_skill_persistence:
                broken.append(
                    f"lead {lead}: skill vs persistence {s.skill_persistence:.3f} <= {self.min_skill_persistence}"
                )
            if lead in self.climatology_leads and not s.skill_climatology > self.min_skill_climatology:
                broken.append(
                    f"lead {lead}: skill vs climatology {s.skill_climatology:.3f} <= {self.min_skill_climatology}"
                )
        return broken


@dataclass(frozen=True)
class DailyDecision:
    promote: bool
    evidence: str  # holdout, or shadow over which days
    reason: str
    numbers: dict = field(default_factory=dict)


def skill_summary(scores: list[LeadScores]) -> str:
    return "; ".join(
        f"lead {s.lead}: SS_pers {s.skill_persistence:.3f}, SS_clim {s.skill_climatology:.3f}" for s in scores
    )


def decide_on_holdout(
    candidate: list[LeadScores], champion: list[LeadScores] | None, rules: SkillRules
) -> DailyDecision:
    """The training-time decision: the skill rules on the holdout; with a champion, the candidate
    is its challenger and must prove itself in shadow (rules.shadow_days > 0) or, without shadow
    scoring, beat the champion on the same holdout (``beats_champion``)."""
    broken = rules.failures(candidate)
    numbers = {"candidate": skill_summary(candidate)}
    if broken:
        return DailyDecision(False, "holdout", "skill rules not met: " + "; ".join(broken), numbers)
    if champion is None:
        return DailyDecision(
            True, "holdout", f"no champion yet and the skill rules hold ({skill_summary(candidate)})", numbers
        )
    numbers["champion"] = skill_summary(champion)
    if rules.shadow_days > 0:
        return DailyDecision(
            False,
            "holdout",
            f"skill rules hold; stays challenger until {rules.shadow_days} days of shadow forecasts are scored",
            numbers,
        )
    better, reason = beats_champion(candidate, champion, rules)
    return DailyDecision(better, "holdout", reason, numbers)


def decide_on_shadow(
    challenger: list[LeadScores], champion: list[LeadScores], days_scored: int, rules: SkillRules
) -> DailyDecision:
    """The rendezvous decision: after rules.shadow_days days of forecasts scored side by side on
    the same stations and targets, the challenger replaces the champion if it meets the skill
    rules and beats the champion (``beats_champion``)."""
    evidence = f"shadow, {days_scored} scored target days"
    numbers = {"challenger": skill_summary(challenger), "champion": skill_summary(champion)}
    if days_scored < rules.shadow_days:
        return DailyDecision(False, evidence, f"needs {rules.shadow_days} scored days", numbers)
    broken = rules.failures(challenger)
    if broken:
        return DailyDecision(False, evidence, "skill rules not met: " + "; ".join(broken), numbers)
    better, reason = beats_champion(challenger, champion, rules)
    return DailyDecision(better, evidence, reason, numbers)


def beats_champion(mine: list[LeadScores], theirs: list[LeadScores], rules: SkillRules) -> tuple[bool, str]:
    """Whether a model replaces the champion: a lower MSE at each of the leads where climatology
    must be beaten too (the near days, which users act on most) and a lower mean MSE over all
    leads, so that winning the far leads never buys a worse next day."""
    own, other = {s.lead: s.rmse**2 for s in mine}, {s.lead: s.rmse**2 for s in theirs}
    for lead in rules.climatology_leads:
        if lead in own and lead in other and own[lead] >= other[lead]:
            return False, f"MSE at lead {lead} {own[lead]:.3f} does not beat the champion's {other[lead]:.3f}"
    mean_own, mean_other = float(np.mean(list(own.values()))), float(np.mean(list(other.values())))
    if mean_own >= mean_other:
        return False, f"mean MSE over leads {mean_own:.3f} does not beat the champion's {mean_other:.3f}"
    near = ", ".join(str(lead) for lead in rules.climatology_leads)
    return True, f"MSE beats the champion's at leads {near} and over all leads ({mean_own:.3f} < {mean_other:.3f})"


def lead_plot(holdout: pd.DataFrame, predicted: np.ndarray, references: dict[str, np.ndarray], lead: int) -> bytes:
    """PNG: for one lead, observed dma8eu against the model and both references, for the holdout
    station with the most rows (all its issue dates)."""
    i = LEADS.index(lead)
    station = holdout["station_id"].value_counts().idxmax()
    rows = (holdout["station_id"] == station).to_numpy()
    target_days = (pd.to_datetime(holdout.loc[rows, "issue_date"]) + pd.Timedelta(days=lead)).to_numpy()
    order = np.argsort(target_days)
    return forecast_plot(
        target_days[order],
        holdout.loc[rows, TARGETS[i]].to_numpy()[order],
        {"model": predicted[rows, i][order]},
        references={name: values[rows, i][order] for name, values in references.items()},
        ylabel="dma8eu (nmol/mol)",
        title=f"Lead {lead} day{'s' if lead > 1 else ''}, station {station}",
        size=(6, 2.6),
        dpi=80,
        marker="o",
    )
