import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, build_init_resource_context, build_input_context, build_output_context

from resources.parquet_io_manager import EncodedTable, LazyPartitions, ParquetIOManager


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


def test_s3_round_trip_through_dagster_aws(monkeypatch):
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="lake")
        manager = ParquetIOManager(base_url="s3://lake/intermediates")
        context = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
        manager.handle_output(context, {"2014-01-01": table(3)})
        keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="lake")["Contents"]]
        assert keys == ["intermediates/raw/2014-01-01.parquet"]
        assert manager.existing_partition(AssetKey(["raw"]), "2014-01-01").num_rows == 3
        assert manager.existing_partition(AssetKey(["raw"]), "2014-01-02") is None
        loaded = manager.load_input(
            build_input_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01", upstream_output=context)
        )
        assert loaded["2014-01-01"].column("x").to_pylist() == [0, 1, 2]


def test_a_downstream_step_in_the_same_process_takes_the_table_without_reading_it_back(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path))
    upstream = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
    manager.handle_output(upstream, {"2014-01-01": pa.table({"x": [1, 2], "y": ["a", "b"]})})
    stored = tmp_path / "raw" / "2014-01-01.parquet"
    stored.rename(tmp_path / "elsewhere.parquet")  # the handoff must not touch the file
    context = build_input_context(
        asset_key=AssetKey(["raw"]),
        partition_key="2014-01-01",
        upstream_output=upstream,
        definition_metadata={"columns": ["y"]},
    )
    assert manager.load_input(context)["2014-01-01"].to_pydict() == {"y": ["a", "b"]}
    with pytest.raises(FileNotFoundError):  # handed off once; later loads read the stored file
        manager.load_input(context)["2014-01-01"]


def test_a_table_encoded_ahead_is_stored_like_a_table(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path))
    context = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
    manager.handle_output(context, {"2014-01-01": EncodedTable(table(5))})
    assert pq.read_table(tmp_path / "raw" / "2014-01-01.parquet").equals(table(5))


def test_a_later_run_reads_the_stored_file_not_a_table_kept_from_an_earlier_run(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path))
    upstream = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
    manager.handle_output(upstream, {"2014-01-01": table(2)})
    manager.setup_for_execution(build_init_resource_context())  # the next run
    pq.write_table(table(3), tmp_path / "raw" / "2014-01-01.parquet")  # written since, by another process
    context = build_input_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01", upstream_output=upstream)
    assert manager.load_input(context)["2014-01-01"].num_rows == 3


def test_numbers_and_times_carry_min_max_statistics_so_readers_can_skip_files(tmp_path):
    manager = ParquetIOManager(base_url=str(tmp_path))
    frame = pa.table(
        {
            "datetime": pa.array([0, 3_600_000_000], pa.timestamp("us")),
            "value": [1.5, 2.5],
            "station": ["a", "b"],  # a day's strings span their vocabulary: min/max would prune nothing
        }
    )
    manager.handle_output(build_output_context(asset_key=AssetKey(["features"])), frame)
    stored = pq.ParquetFile(tmp_path / "features.parquet")
    columns = {c.path_in_schema: c for c in (stored.metadata.row_group(0).column(i) for i in range(3))}
    assert columns["value"].statistics.min == 1.5 and columns["value"].statistics.max == 2.5
    assert columns["datetime"].is_stats_set
    assert not columns["station"].is_stats_set
    assert stored.read().equals(frame)


def test_the_storage_metadata_shows_no_credential(tmp_path):
    """An S3-compatible lake reached with a signed or user:password URL shows it masked."""
    manager = ParquetIOManager(base_url=f"file://{tmp_path}")
    context = build_output_context(asset_key=AssetKey(["raw"]), partition_key="2014-01-01")
    manager.handle_output(context, {"2014-01-01": table(3)})
    assert context.get_logged_metadata()["storage"].value == f"file://{tmp_path}/raw/"
    assert ParquetIOManager(base_url="s3://lake/intermediates").display_url() == "s3://lake/intermediates"
    assert ParquetIOManager(base_url="https://lake:p@ss/w0rd@minio.example/intermediates?token=t0k").display_url() == (
        "https://lake:***@minio.example/intermediates?token=***"
    )
