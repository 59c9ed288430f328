"""The code location: one Definitions object with the assets, jobs and resources."""

from dagster import AssetSelection, Definitions, define_asset_job

from resources.environment import apply_defaults

apply_defaults()  # before resources read their EnvVars

from resources import build_resources  # noqa: E402
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements  # noqa: E402

data_logistics_job = define_asset_job(
    "data_logistics",
    selection=AssetSelection.assets(raw_openaq_measurements, harmonized_toar_series),
    description="OpenAQ objects of a fetch day -> raw Parquet partition -> TOAR database.",
)

defs = Definitions(
    assets=[raw_openaq_measurements, harmonized_toar_series],
    jobs=[data_logistics_job],
    resources=build_resources(),
)
