"""Print where a table column comes from, back to the OpenAQ fields, as the code location records it.

    python -m column_lineage ozone_features.o3_lag_1h
    python -m column_lineage harmonized_toar_series        # every column of the asset

Each table asset carries ``dagster/column_lineage`` metadata (asset_base/table_metadata.py). The
open-source Dagster UI keeps that metadata but does not draw it (column lineage is drawn by
Dagster+ only); this command walks it instead, upstream until a column has no recorded origin
(a field of an external source: a bucket's objects or the locations catalog's API).
"""

from __future__ import annotations

import argparse
import sys

from dagster import AssetKey


def lineage_lines(graph, asset: str, column: str, depth: int = 0, seen: frozenset = frozenset()) -> list[str]:
    """``asset.column`` and, indented below it, each upstream column it is computed from."""
    lines = [f"{'  ' * depth}{'<- ' if depth else ''}{asset}.{column}"]
    if (asset, column) in seen:
        return lines  # a cycle cannot happen in an asset graph, but a typo'd lineage must not hang
    node = graph.get(AssetKey(asset)) if graph.has(AssetKey(asset)) else None
    lineage = None if node is None else node.metadata.get("dagster/column_lineage")
    for dep in [] if lineage is None else lineage.deps_by_column.get(column, []):
        upstream = dep.asset_key.to_user_string()
        lines += lineage_lines(graph, upstream, dep.column_name, depth + 1, seen | {(asset, column)})
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m column_lineage",
        description="Print the recorded column lineage of ASSET.COLUMN (or of every column of ASSET), "
        "upstream to the OpenAQ fields: what the open-source UI records but only Dagster+ draws.",
    )
    parser.add_argument("target", help="ASSET.COLUMN or ASSET, e.g. ozone_features.o3_lag_1h")
    args = parser.parse_args(argv)

    from definitions import defs

    graph = defs().resolve_asset_graph()
    asset, _, column = args.target.partition(".")
    if not graph.has(AssetKey(asset)):
        parser.error(f"no asset {asset!r}")
    schema = graph.get(AssetKey(asset)).metadata.get("dagster/column_schema")
    columns = [c.name for c in schema.columns] if schema is not None else []
    if column and column not in columns:
        parser.error(f"{asset} has no column {column!r}; its columns: {', '.join(columns) or 'none recorded'}")
    for name in [column] if column else columns:
        print("\n".join(lineage_lines(graph, asset, name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
