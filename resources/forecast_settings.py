"""The forecast's horizon, one resource shown in the UI (FORECAST_HORIZON_HOURS, see ``build_resources``)."""

from dagster import ConfigurableResource
from pydantic import Field

from forecasting.settings import FORECAST_HORIZON_HOURS


class ForecastSettings(ConfigurableResource):
    """What the feature rows forecast: the same for training, forecasts and served requests."""

    horizon_hours: int = Field(
        default=FORECAST_HORIZON_HOURS, description="hours between a feature row's issue time and its target time"
    )
