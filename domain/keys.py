"""Asset names: the keys of the lineage graph, kept stable once they exist."""

OPENAQ_BUCKET = "openaq_realtime_bucket"  # the external asset standing for the S3 bucket
RAW_MEASUREMENTS = "raw_openaq_measurements"
HARMONIZED_SERIES = "harmonized_toar_series"
FEATURES = "ozone_features"
FORECAST_MODEL = "ozone_forecast_model"
FORECASTS = "ozone_forecasts"
