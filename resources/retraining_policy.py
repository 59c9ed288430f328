"""When the champion is due for a successor: the retraining sensor's rules, one resource shown in the UI."""

from dagster import ConfigurableResource
from pydantic import Field


class RetrainingPolicy(ConfigurableResource):
    """When the champion is due for a successor."""

    min_new_partitions: int = Field(default=3, description="harmonized days after the champion's holdout day")
    drift_factor: float = Field(
        default=1.5, description="retrain when the RMSE on recent actuals exceeds the holdout RMSE by this factor"
    )
    drift_window_days: int = Field(default=2, description="days of recent forecasts scored for drift")
    min_scored_forecasts: int = Field(default=20, description="fewest scored forecasts for a drift verdict")
    max_age_days: int = Field(default=7, description="days of data after the champion's holdout day before it is old")
    min_days_for_first_model: int = Field(default=7, description="harmonized days needed to train a first model")
