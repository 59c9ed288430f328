"""The instance files of deploy/ (the one-host instance, Kubernetes, ECS) and the step pods' run
config, loaded with Dagster's own config machinery. No cluster or AWS account is at hand, so
each file is validated against the schemas of the classes it names, the classes are built where
that needs no cluster (moto stands in for ECS and S3), and the values a deployer relies on are
asserted."""

import importlib
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._serdes.config_class import ConfigurableClassData
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.job import UserDefinedDagsterK8sConfig
from moto import mock_aws

from sensors.new_objects import SOURCE_TAG

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ONE_HOST, K8S, ECS = DEPLOY / "dagster.yaml", DEPLOY / "k8s" / "dagster.yaml", DEPLOY / "ecs" / "dagster.yaml"
INSTANCES = [ONE_HOST, K8S, ECS]
# What the deployer's environment holds (dummy values): the files name variables, never values.
ENV = {
    "DAGSTER_POSTGRES_URL": "postgresql+psycopg2://dagster:secret@db/dagster",
    "DAGSTER_JOB_IMAGE": "registry.example/openaq-toar-lineage:1",
    "DAGSTER_COMPUTE_LOGS_BUCKET": "logs-bucket",
    "DAGSTER_COMPUTE_LOGS_PREFIX": "openaq-toar/compute-logs",
    "DAGSTER_ECS_TASK_DEFINITION": "openaq-toar-run",
    "DAGSTER_POSTGRES_URL_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagster-db",
    "TOAR_DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:toar-db",
}


@pytest.fixture(autouse=True)
def deployer_environment(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    # moto's fake account: no real credentials are read or needed
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def processed(section: dict) -> dict:
    """The config of a configurable-class section (module, class, config) as the class receives
    it: validated against its schema, env references resolved, defaults filled."""
    klass = getattr(importlib.import_module(section["module"]), section["class"])
    result = process_config(resolve_to_config_type(klass.config_type()), section.get("config", {}))
    assert result.success, result.errors
    return result.value


def build(section: dict):
    """The class a configurable-class section names, built from it as the instance builds it."""
    return ConfigurableClassData(section["module"], section["class"], yaml.safe_dump(section["config"])).rehydrate()


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_each_instance_file_passes_dagsters_instance_schema(path, tmp_path):
    (tmp_path / "dagster.yaml").write_text(path.read_text())
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None and config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_POSTGRES_URL"}


@pytest.mark.parametrize("path", [K8S, ECS], ids=["k8s", "ecs"])
def test_scale_out_instances_share_storage_queue_pools_and_monitoring_with_the_one_host_instance(path):
    one_host, scaled = load(ONE_HOST), load(path)
    assert {key: scaled.get(key) for key in one_host} == one_host
    assert set(scaled) - set(one_host) == {"run_launcher", "compute_logs"}


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_file_holds_a_credential(path):
    text = path.read_text()
    assert "@" not in text and "password" not in text.lower() and "secret:" not in text


def test_k8s_runs_start_in_pods_of_the_image_from_the_environment_with_the_locations_and_credentials():
    launcher_section = load(K8S)["run_launcher"]
    assert (launcher_section["module"], launcher_section["class"]) == ("dagster_k8s", "K8sRunLauncher")
    config = processed(launcher_section)
    assert config["job_image"] == ENV["DAGSTER_JOB_IMAGE"]
    assert config["job_namespace"] == "openaq-toar"
    assert config["instance_config_map"] == "dagster-instance"
    assert config["service_account_name"] == "openaq-toar-runs"  # the launcher cannot be built without one
    assert (config["env_config_maps"], config["env_secrets"]) == (["openaq-toar-env"], ["openaq-toar-secrets"])
    assert config["env_vars"] == ["DEPLOYMENT=production"]
    # a run's steps in its pod: a realistic day peaks at 0.92 GB in one process
    assert config["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1536Mi"}}


def test_the_k8s_launcher_builds_from_the_file_without_a_cluster(monkeypatch):
    # The only thing that needs a cluster is loading its credentials (in-cluster config).
    monkeypatch.setattr("dagster_k8s.launcher.load_kubernetes_config", lambda **_: None)
    section = load(K8S)["run_launcher"]
    launcher = build(section)
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "openaq-toar" and launcher.job_image == ENV["DAGSTER_JOB_IMAGE"]
    assert launcher.resources["limits"]["memory"] == "1536Mi"


def test_the_k8s_location_variables_put_the_lake_on_s3():
    configmap = load(DEPLOY / "k8s" / "env.yaml")
    assert (configmap["kind"], configmap["metadata"]["name"]) == (
        "ConfigMap",
        load(K8S)["run_launcher"]["config"]["env_config_maps"][0],
    )
    data = configmap["data"]
    assert data["DATA_LAKE_URL"].startswith("s3://")  # step pods share no disk
    assert data["DEPLOYMENT"] == "production"
    assert {"DAGSTER_COMPUTE_LOGS_BUCKET", "DAGSTER_COMPUTE_LOGS_PREFIX"} <= set(data)
    assert not {"DAGSTER_POSTGRES_URL", "TOAR_DATABASE_URL", "OPENAQ_API_KEY"} & set(data)  # the Secret's


def test_step_pods_run_config_passes_the_k8s_job_executors_schema_with_requests_from_measured_peaks():
    run_config = load(DEPLOY / "k8s" / "step_pods.yaml")

    @dg.op
    def step():
        pass

    @dg.job(executor_def=k8s_job_executor)
    def per_step_pods():
        step()

    execution = dg.validate_run_config(per_step_pods, run_config)["execution"]["k8s"]  # the executor's name
    assert execution["max_concurrent"] == 4
    step_resources = execution["step_k8s_config"]["container_config"]["resources"]
    assert step_resources == {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1536Mi"}}
    model = execution["per_step_k8s_config"]["ozone_forecast_model"]["container_config"]["resources"]
    assert model["requests"] == {"cpu": "2", "memory": "768Mi"}
    # The executor turns these into Kubernetes objects, which refuse a misspelt field.
    for k8s_config in [execution["step_k8s_config"], *execution["per_step_k8s_config"].values()]:
        assert UserDefinedDagsterK8sConfig.from_dict(k8s_config).container_config["resources"]["limits"]


def test_ecs_runs_start_as_tasks_of_the_registered_definition_with_secrets_by_arn():
    section = load(ECS)["run_launcher"]
    assert (section["module"], section["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    config = processed(section)
    assert config["task_definition"] == {"env": "DAGSTER_ECS_TASK_DEFINITION"}  # read by the launcher itself
    assert config["secrets"] == [
        {"name": "DAGSTER_POSTGRES_URL", "valueFrom": ENV["DAGSTER_POSTGRES_URL_SECRET_ARN"]},
        {"name": "TOAR_DATABASE_URL", "valueFrom": ENV["TOAR_DATABASE_URL_SECRET_ARN"]},
    ]
    assert config["secrets_tag"] is None and config["env_vars"] == ["DEPLOYMENT=production"]
    assert config["run_resources"] == {"cpu": "1024", "memory": "2048"}

    with mock_aws():
        boto3.client("ecs").register_task_definition(
            family=ENV["DAGSTER_ECS_TASK_DEFINITION"],
            containerDefinitions=[{"name": "run", "image": ENV["DAGSTER_JOB_IMAGE"], "memory": 2048}],
        )
        launcher = build(section)
    assert isinstance(launcher, EcsRunLauncher)
    assert launcher.task_definition.endswith(f"task-definition/{ENV['DAGSTER_ECS_TASK_DEFINITION']}:1")
    assert launcher.container_name == "run"


@pytest.mark.parametrize("path", [K8S, ECS], ids=["k8s", "ecs"])
def test_compute_logs_go_to_the_bucket_and_prefix_from_the_environment(path):
    section = load(path)["compute_logs"]
    config = processed(section)
    assert (config["bucket"], config["prefix"]) == (
        ENV["DAGSTER_COMPUTE_LOGS_BUCKET"],
        ENV["DAGSTER_COMPUTE_LOGS_PREFIX"],
    )
    with mock_aws():
        manager = build(section)
    assert isinstance(manager, S3ComputeLogManager)


@pytest.mark.parametrize("path", [K8S, ECS], ids=["k8s", "ecs"])
def test_an_unset_variable_of_the_file_stops_the_load(path, monkeypatch):
    monkeypatch.delenv("DAGSTER_COMPUTE_LOGS_BUCKET")
    with pytest.raises(dg.DagsterInvalidConfigError, match="DAGSTER_COMPUTE_LOGS_BUCKET"):
        build(load(path)["compute_logs"])


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_the_queue_holds_a_third_run_of_a_source_while_two_are_in_progress(path):
    """The daemon's own choice of runs to launch, on an instance with the file's queue settings."""
    settings = load(path)
    with dg.instance_for_test(overrides={"concurrency": settings["concurrency"]}) as instance:
        # where a queued run's job comes from (the daemon would load it from there to launch it)
        origin = RemoteJobOrigin(
            RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("definitions"), "__repository__"), "archive_logistics"
        )

        def run(status: dg.DagsterRunStatus, source: str | None) -> str:
            tags = {SOURCE_TAG: source} if source else {}
            return create_run_for_test(
                instance, job_name=origin.job_name, status=status, tags=tags, remote_job_origin=origin
            ).run_id

        for _ in range(2):
            run(dg.DagsterRunStatus.STARTED, "archive")
        held = run(dg.DagsterRunStatus.QUEUED, "archive")
        other_source = run(dg.DagsterRunStatus.QUEUED, "latest")
        untagged = run(dg.DagsterRunStatus.QUEUED, None)  # e.g. a backfill's run

        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        launched = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), fixed_iteration_time=None)
        assert {r.run_id for r in launched} == {other_source, untagged}
        assert held not in {r.run_id for r in launched}
