"""Ozone forecasting: features from the TOAR database, training, evaluation, promotion rules and
scoring. Plain functions over pandas and scikit-learn; no Dagster."""
