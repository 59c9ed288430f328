"""Walk from a model version back to the S3 objects it learned from.

    python -m ml_assets.provenance                 # the champion
    python -m ml_assets.provenance --version 3 --json

The chain: MLflow model version -> MLflow run -> Dagster run -> feature partitions (with their
fingerprints and runs) -> TOAR series -> raw partitions of each source (v1 objects, v3 archive
files, v3 API polls) -> object keys and ETags. Every link
is read, none is inferred: MLflow tags name the Dagster run and feature partitions, feature
metadata names the TOAR series and measurement window, the database names the objects each
value came from, and the raw partitions' metadata confirms their ETags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import sqlalchemy as sa
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from domain.keys import FEATURES, HARMONIZED_SERIES, RAW_ARCHIVE, RAW_LATEST, RAW_MEASUREMENTS
from resources.mlflow_resources import ModelRegistry
from sources.openaq_v3.keys import parse_key
from sources.openaq_v3.latest import is_poll_key
from toar.schema import data, raw_object, stationmeta_core, timeseries

RAW_ASSETS = (RAW_MEASUREMENTS, RAW_ARCHIVE, RAW_LATEST)


def raw_asset_of(key: str) -> str:
    """The raw asset that read an object: archive files and API polls have keys of their own."""
    if parse_key(key) is not None:
        return RAW_ARCHIVE
    return RAW_LATEST if is_poll_key(key) else RAW_MEASUREMENTS


def latest_materializations(instance: DagsterInstance, asset: str, partitions: list[str]) -> dict[str, dict]:
    """Per materialized partition: the run and metadata of its latest materialization."""
    latest: dict[str, dict] = {}
    for partition in partitions:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
        ).records  # newest first
        materialization = records[0].asset_materialization if records else None
        if materialization is not None:
            metadata = materialization.metadata
            latest[partition] = {"run_id": records[0].run_id, "metadata": {k: v.value for k, v in metadata.items()}}
    return latest


def provenance_chain(registry: ModelRegistry, version: str, instance: DagsterInstance, engine) -> dict:
    """Everything between a model version and its raw objects, as one dict."""
    client = registry.client()
    model_version = client.get_model_version(registry.model_name, version)
    run = client.get_run(model_version.run_id)
    tags = run.data.tags
    dagster_run = instance.get_run_by_id(tags["dagster_run_id"])
    feature_days = tags["feature_partitions"].split(",")
    recorded = dict(item.split("=", 1) for item in tags["feature_fingerprints"].split(","))

    # The hourly model learned from ozone_features, the dma8eu model from toar_daily_metrics: both
    # record the TOAR series and measurement window they read, so the walk below serves both.
    feature_asset = tags.get("feature_asset", FEATURES)
    features = latest_materializations(instance, feature_asset, feature_days)
    feature_links = []
    series_ids: set[int] = set()
    windows = []
    for day in feature_days:
        meta = features.get(day, {}).get("metadata", {})
        series_ids.update(meta.get("timeseries_ids", []))
        window = meta.get("measurement_window", "")
        if window:
            windows.append(window.split(" .. "))
        feature_links.append(
            {
                "partition": day,
                "fingerprint_at_training": recorded.get(day, ""),
                "fingerprint_now": meta.get("data_fingerprint", ""),
                "run_id": features.get(day, {}).get("run_id", ""),
                "rows": meta.get("dagster/row_count"),
                "measurement_window": window,
            }
        )

    with engine.connect() as conn:
        series = (
            conn.execute(
                sa.select(
                    timeseries.c.id,
                    timeseries.c.variable,
                    timeseries.c.provider,
                    timeseries.c.sampling_frequency,
                    stationmeta_core.c.id.label("station_id"),
                    stationmeta_core.c.name,
                )
                .join(stationmeta_core)
                .where(timeseries.c.id.in_(sorted(series_ids)))
                .order_by(timeseries.c.id)
            )
            .mappings()
            .all()
        )
        start, end = min(w[0] for w in windows), max(w[1] for w in windows)
        objects = (
            conn.execute(
                sa.select(raw_object.c.partition_date, raw_object.c.key, raw_object.c.etag)
                .distinct()
                .select_from(data.join(raw_object, data.c.source_object_id == raw_object.c.id))
                .where(data.c.timeseries_id.in_(sorted(series_ids)), data.c.datetime > start, data.c.datetime <= end)
                .order_by(raw_object.c.partition_date, raw_object.c.key)
            )
            .mappings()
            .all()
        )

    raw_days = sorted({o["partition_date"] for o in objects})
    raw = {asset: latest_materializations(instance, asset, raw_days) for asset in RAW_ASSETS}
    harmonized = latest_materializations(instance, HARMONIZED_SERIES, raw_days)
    raw_links = []
    for day in raw_days:
        for asset in RAW_ASSETS:
            day_objects = [dict(o) for o in objects if o["partition_date"] == day and raw_asset_of(o["key"]) == asset]
            if not day_objects:
                continue
            materialized = raw[asset].get(day, {})
            listed = {o["key"]: o["etag"] for o in materialized.get("metadata", {}).get("source_objects", [])}
            for o in day_objects:
                o["etag_in_raw_metadata"] = listed.get(o["key"])
            raw_links.append(
                {
                    "partition": day,
                    "raw_asset": asset,
                    "raw_run_id": materialized.get("run_id", ""),
                    "harmonized_run_id": harmonized.get(day, {}).get("run_id", ""),
                    "bucket": materialized.get("metadata", {}).get("bucket", ""),
                    "objects": [{k: o[k] for k in ("key", "etag", "etag_in_raw_metadata")} for o in day_objects],
                }
            )

    return {
        "model": {
            "name": registry.model_name,
            "version": str(model_version.version),
            "aliases": list(model_version.aliases),
            "source": model_version.source,
        },
        "mlflow_run": {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "metrics": dict(run.data.metrics),
            "git_commit": tags.get("git_commit", ""),
        },
        "dagster_run": {
            "run_id": tags["dagster_run_id"],
            "job": dagster_run.job_name if dagster_run else "",
            "status": dagster_run.status.value if dagster_run else "not in this instance",
            "partition": tags.get("dagster_partition", ""),
            "code_version": tags.get("dagster_code_version", ""),
        },
        "feature_asset": feature_asset,
        "feature_partitions": feature_links,
        "toar_series": [dict(s) for s in series],
        "raw_partitions": raw_links,
    }


def gaps(chain: dict) -> list[str]:
    """What keeps the chain from being complete (empty when every link resolves)."""
    problems = []
    if chain["dagster_run"]["job"] == "":
        problems.append(f"Dagster run {chain['dagster_run']['run_id']} is not in this instance")
    for f in chain["feature_partitions"]:
        if not f["run_id"]:
            problems.append(f"{chain['feature_asset']} partition {f['partition']} has no materialization")
        elif f["fingerprint_at_training"] != f["fingerprint_now"]:
            problems.append(f"{chain['feature_asset']} partition {f['partition']} changed since training")
    if not chain["toar_series"]:
        problems.append("no TOAR series recorded for the features")
    if not chain["raw_partitions"]:
        problems.append("no raw objects found for the series")
    for r in chain["raw_partitions"]:
        if not r["raw_run_id"]:
            problems.append(f"raw partition {r['partition']} of {r['raw_asset']} has no materialization")
        for o in r["objects"]:
            if o["etag_in_raw_metadata"] != o["etag"]:
                problems.append(
                    f"{o['key']}: ETag {o['etag']} in the database, {o['etag_in_raw_metadata']} in raw metadata"
                )
    return problems


def render(chain: dict) -> str:
    m, run, dag = chain["model"], chain["mlflow_run"], chain["dagster_run"]
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in sorted(run["metrics"].items()) if k.endswith("rmse"))
    lines = [
        f"model {m['name']} version {m['version']} {('@' + ', @'.join(m['aliases'])) if m['aliases'] else ''}".rstrip(),
        f"  MLflow run {run['run_id']} (experiment {run['experiment_id']}, git {run['git_commit'][:12]}) {metrics}",
        f"  Dagster run {dag['run_id']} ({dag['job']}, {dag['status']}) partition {dag['partition']}, code version {dag['code_version']}",
        f"  {chain['feature_asset']} partitions:",
    ]
    for f in chain["feature_partitions"]:
        lines.append(
            f"    {f['partition']}  fingerprint {f['fingerprint_at_training']}  run {f['run_id']}  "
            f"rows {f['rows']}  window {f['measurement_window']}"
        )
    variables: dict[str, int] = {}
    for s in chain["toar_series"]:
        variables[s["variable"]] = variables.get(s["variable"], 0) + 1
    lines.append(
        f"  TOAR series: {len(chain['toar_series'])} "
        f"({', '.join(f'{v} {n}' for v, n in sorted(variables.items()))}) "
        f"at {len({s['station_id'] for s in chain['toar_series']})} stations"
    )
    lines.append("  raw partitions and objects:")
    for r in chain["raw_partitions"]:
        lines.append(
            f"    {r['partition']}  {r['raw_asset']} run {r['raw_run_id']}  harmonized run {r['harmonized_run_id']}  "
            f"{len(r['objects'])} objects in {r['bucket']}"
        )
        lines += [f"      {o['key']}  etag {o['etag']}" for o in r["objects"]]
    problems = gaps(chain)
    lines.append("chain complete" if not problems else "chain INCOMPLETE:\n  " + "\n  ".join(problems))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml_assets.provenance",
        description="Print the lineage of a model version: MLflow run -> Dagster run -> feature partitions "
        "-> TOAR series -> raw partitions -> S3 object keys and ETags. Reads MLFLOW_TRACKING_URI, "
        "DAGSTER_HOME and TOAR_DATABASE_URL. Exit status 1 if a link is missing.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", help="model version number")
    which.add_argument("--alias", default="champion", help="model alias (default %(default)s)")
    parser.add_argument("--model", default="ozone-forecast", help="registered model name (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the chain as JSON")
    args = parser.parse_args(argv)

    from resources.environment import prepare_process
    from resources.toar_database import ToarDatabase

    prepare_process()
    registry = ModelRegistry(tracking_uri=os.environ["MLFLOW_TRACKING_URI"], model_name=args.model)
    version = args.version
    if version is None:
        found = registry.version(args.alias)
        if found is None:
            print(f"{args.model} has no version with alias {args.alias}", file=sys.stderr)
            return 1
        version = found.version
    with DagsterInstance.get() as instance:
        chain = provenance_chain(
            registry, str(version), instance, ToarDatabase(url=os.environ["TOAR_DATABASE_URL"]).engine()
        )
    print(json.dumps(chain, indent=2, default=str) if args.json else render(chain))
    return 0 if not gaps(chain) else 1


if __name__ == "__main__":
    sys.exit(main())
