"""Asset names: the keys of the lineage graph, kept stable once they exist."""

OPENAQ_BUCKET = "openaq_realtime_bucket"  # the external asset standing for the v1 S3 bucket
OPENAQ_ARCHIVE = "openaq_data_archive"  # the external asset standing for the v3 archive bucket
OPENAQ_API_LATEST = "openaq_api_latest"  # the external asset standing for the v3 API's latest values
LOCATIONS = "openaq_locations"  # the followed v3 locations (the catalog)
RAW_MEASUREMENTS = "raw_openaq_measurements"  # v1 objects, by fetch day
RAW_ARCHIVE = "raw_openaq_archive"  # v3 archive objects, by the locations' local day
RAW_LATEST = "raw_openaq_latest"  # v3 API latest values, by the poll's UTC day
HARMONIZED_SERIES = "harmonized_toar_series"
FEATURES = "ozone_features"
FORECAST_MODEL = "ozone_forecast_model"
FORECASTS = "ozone_forecasts"
DAILY_METRICS = "toar_daily_metrics"
DMA8EU_MODEL = "dma8eu_forecast_model"
DMA8EU_FORECASTS = "dma8eu_forecasts"

# Who answers for each group's assets (Dagster owners: "team:" names or e-mail addresses).
OWNERS_BY_GROUP = {
    "openaq": ["team:data-logistics"],
    "toar": ["team:data-logistics"],
    "ml": ["team:ozone-forecasting"],
}
