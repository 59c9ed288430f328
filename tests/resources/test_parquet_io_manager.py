import pyarrow as pa
import pytest
from dagster import AssetKey, build_input_context, build_output_context

from resources.parquet_io_manager import LazyPartitions, ParquetIOManager


def table(n: int) -> pa.Table:
    return pa.table({"x": list(range(n))})


def test_partitions_round_trip_as_lazy_mapping(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path / "lake"))
    written = {}
    for day, n in (("2014-01-01", 2), ("2014-01-02", 3)):
        context = build_output_context(asset_key=AssetKey(["raw"]), partition_key=day)
        manager.handle_output(context, {day: table(n)})
        written[day] = tmp_path / "lake" / "raw" / f"{day}.parquet"
        assert written[day].exists()
    assert not list((tmp_path / "lake" / "raw").glob("*.partial"))

    upstream = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-02")
    context = build_input_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-02", upstream_output=upstream)
    loaded = manager.load_input(context)
    assert isinstance(loaded, LazyPartitions)
    assert list(loaded) == ["2014-01-02"]
    assert loaded["2014-01-02"].column("x").to_pylist() == [0, 1, 2]
    with pytest.raises(KeyError):
        loaded["2014-01-01"]


def test_partitioned_output_must_name_its_partitions(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path))
    context = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
    with pytest.raises(TypeError, match="return {partition key: table}"):
        manager.handle_output(context, table(1))
    with pytest.raises(ValueError, match="targets"):
        manager.handle_output(context, {"2014-01-02": table(1)})


def test_unpartitioned_asset_and_pandas_frames(tmp_path):
    manager = ParquetIOManager(base_url=f"file://{tmp_path}")
    context = build_output_context(asset_key=AssetKey(["model", "features"]))
    manager.handle_output(context, table(4).to_pandas())
    assert (tmp_path / "model" / "features.parquet").exists()
    loaded = manager.load_input(build_input_context(asset_key=AssetKey(["model", "features"]), upstream_output=context))
    assert loaded.num_rows == 4
