"""QoA control rules: the thresholds of the blocking checks, one resource shown in the UI."""

from dagster import ConfigurableResource
from pydantic import Field


class QualityGates(ConfigurableResource):
    """Limits that stop a partition's data from going downstream when crossed."""

    max_bad_record_share: float = Field(
        default=0.05,
        description="largest share of a day's raw records that may break one raw rule (not a record, a field "
        "missing, a parameter or unit OpenAQ does not publish, an odd or future time) before the day is blocked; "
        "fewer are quarantined one by one",
    )
    max_quarantined_share: float = Field(
        default=0.5, description="largest share of a partition's raw records that may be quarantined"
    )
    max_cost_usd_per_partition: float = Field(
        default=0.05, description="budget of one partition's work on one asset, in USD (QoA price model)"
    )
    min_data_quality_score: float = Field(
        default=1.0, description="smallest share of a suite's expectations that must pass"
    )
    min_model_r2: float = Field(default=0.5, description="smallest holdout R² a trained model may have")
    min_feature_rows: int = Field(default=24, description="fewest feature rows a day may have")
    max_data_age_hours: float = Field(
        default=3.0,
        description="oldest the newest hour a day's forecasts are issued from may be when they are made (the API's "
        "latest values are an hour or two old; the archive's, three days)",
    )
    min_hourly_continuity: float = Field(
        default=0.5, description="smallest share of station-hours of the day that have a feature row"
    )
    min_dma8eu_capture: float = Field(
        default=0.5, description="smallest share of a day's stations with a valid dma8eu (18 of 24 8-hour means)"
    )
