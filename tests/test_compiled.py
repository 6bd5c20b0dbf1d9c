"""compiled/ is what the code compiles to, and fit for a cluster: no secrets, right settings."""

import yaml

from pipelines.compile import compile_pipeline, stale
from pipelines.descriptors import compiled_path, pipelines


def _docs(path):
    return list(yaml.safe_load_all(path.read_text()))


def _body(spec):
    """The tasks of a pipeline's body: the DAG of the exit handler around it."""
    handler = spec["root"]["dag"]["tasks"]["exit-handler-1"]
    return spec["components"][handler["componentRef"]["name"]]["dag"]["tasks"]


def test_compiled_specs_are_current():
    assert stale(out=lambda _: None) == [], "run `kfp-mlops compile` and commit compiled/"


def test_every_registered_pipeline_is_compiled():
    for name in pipelines():
        assert compiled_path(name).exists()


def test_training_spec_caching_retries_and_resources():
    spec, _platform = _docs(compiled_path("training"))
    tasks = {
        k: t
        for c in [spec["root"], *list(spec["components"].values())]
        if "dag" in c
        for k, t in c["dag"]["tasks"].items()
    }
    for name in ("load-data", "evaluate-model", "register-model"):
        assert tasks[name]["cachingOptions"] == {}, (
            f"{name} reads outside state: caching must be off"
        )
        assert tasks[name]["retryPolicy"]["maxRetryCount"] >= 2, f"{name} does I/O: it retries"
    for name in ("validate-data", "train-model", "check-fairness"):
        assert tasks[name]["cachingOptions"] == {"enableCache": True}
    for executor in spec["deploymentSpec"]["executors"].values():
        resources = executor["container"]["resources"]
        assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0


def test_monitoring_spec_caching_retries_and_the_training_sub_pipeline():
    spec, platform = _docs(compiled_path("monitoring"))
    body = _body(spec)
    branches = spec["components"][body["condition-branches-2"]["componentRef"]["name"]]["dag"]
    one_pod = branches["tasks"]["condition-3"]  # shards=1 (sharded: tests/test_drift_sharded*)
    body = {**body, **spec["components"][one_pod["componentRef"]["name"]]["dag"]["tasks"]}
    # detect-drift loads the current champion for prediction drift: outside state too.
    names = ("resolve-reference", "load-data", "load-data-2", "detect-drift", "check-performance")
    for name in names:
        assert body[name]["cachingOptions"] == {}, f"{name} reads outside state: caching off"
        assert body[name]["retryPolicy"]["maxRetryCount"] >= 2, f"{name} does I/O: it retries"
    drifted = next(t for t in body.values() if t["taskInfo"]["name"] == "retrain needed")
    # One bool decides: check-performance returns drifted or below bound.
    assert "check-performance" in drifted["triggerPolicy"]["condition"]
    drifted_from = body["check-performance"]["inputs"]["parameters"]["drifted"]
    assert drifted_from["taskOutputParameter"]["producerTask"] == "condition-branches-2"
    oneof = branches["outputs"]["parameters"]["pipelinechannel--condition-branches-2-oneof-1"]
    selectors = oneof["valueFromOneof"]["parameterSelectors"]
    assert selectors[0]["outputParameterKey"] == "pipelinechannel--detect-drift-Output"
    needed = spec["components"][drifted["componentRef"]["name"]]["dag"]["tasks"]
    # The training set is built first (labels and the log grow: no cache); check_novelty then
    # decides, with one bool, whether the retrain can learn anything new ("" never is).
    build = needed["build-training-set"]
    assert build["cachingOptions"] == {} and build["retryPolicy"]["maxRetryCount"] >= 2
    novelty = needed["check-novelty"]
    assert novelty["cachingOptions"] == {}
    assert "build-training-set" in str(novelty["inputs"]["parameters"]["data_uri"])
    novel = next(t for t in needed.values() if t["taskInfo"]["name"] == "something new to learn")
    assert "check-novelty" in novel["triggerPolicy"]["condition"]
    retrain = spec["components"][novel["componentRef"]["name"]]["dag"]["tasks"]["training"]
    data_uri = retrain["inputs"]["parameters"]["data_uri"]
    assert data_uri["componentInputParameter"].startswith("pipelinechannel--build-training-set")
    training = spec["components"][retrain["componentRef"]["name"]]["dag"]["tasks"]
    for name in ("load-data", "evaluate-model"):
        assert training[name]["cachingOptions"] == {} and training[name]["retryPolicy"]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor in (
        "exec-resolve-reference",
        "exec-detect-drift",
        "exec-check-performance",
        "exec-check-novelty",
    ):
        assert "MLFLOW_TRACKING_URI" in {
            m["envVar"] for m in executors[executor]["configMapAsEnv"][0]["keyToEnv"]
        }


def test_training_spec_takes_services_from_secret_and_config_map_names_only():
    spec, platform = _docs(compiled_path("training"))
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    load = executors["exec-load-data"]
    assert load["secretAsEnv"][0]["secretName"] == "kfp-mlops-s3"
    assert {m["envVar"] for m in load["secretAsEnv"][0]["keyToEnv"]} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert load["configMapAsEnv"][0]["configMapName"] == "kfp-mlops-config"
    for name in ("exec-evaluate-model", "exec-register-model"):
        assert "MLFLOW_TRACKING_URI" in {
            m["envVar"] for m in executors[name]["configMapAsEnv"][0]["keyToEnv"]
        }
    # Service values never appear as plain env in the spec.
    for executor in spec["deploymentSpec"]["executors"].values():
        names = {e["name"] for e in executor["container"].get("env", [])}
        assert not names & {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL_S3",
            "MLFLOW_TRACKING_URI",
        }


def test_compiling_with_credentials_in_the_environment_leaks_none(tmp_path, monkeypatch):
    secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-must-not-leak")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    for name in pipelines():
        out = tmp_path / f"{name}.yaml"
        compile_pipeline(name, out)
        text = out.read_text()
        assert (
            secret not in text
            and "AKIA-must-not-leak" not in text
            and "tracking.example" not in text
        )


def test_every_component_runs_the_project_image_without_pip_install():
    from components._shared.image import IMAGE

    for name in pipelines():
        spec, _ = _docs(compiled_path(name))
        for executor in spec["deploymentSpec"]["executors"].values():
            container = executor["container"]
            assert container["image"] == IMAGE and not IMAGE.endswith(":latest")
            assert "pip install" not in " ".join(container["command"])


def test_every_pipeline_ends_with_one_notify_exit_task_reading_optional_settings():
    for name in pipelines():
        spec, platform = _docs(compiled_path(name))
        root = spec["root"]["dag"]["tasks"]
        assert set(root) == {"exit-handler-1", "notify"}, f"{name}: body outside the handler"
        exit_task = root["notify"]
        assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
        assert exit_task["inputs"]["parameters"]["status"]["taskFinalStatus"] == {
            "producerTask": "exit-handler-1"
        }
        assert exit_task["inputs"]["parameters"]["pipeline"]["runtimeValue"]["constant"] == name
        # One notification per run: no other DAG (monitoring's retrain) holds a notify task.
        nested = [
            t
            for c in spec["components"].values()
            for t in c.get("dag", {}).get("tasks", {}).values()
        ]
        assert [t for t in nested if t["componentRef"]["name"] == "comp-notify"] == []
        settings = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-notify"]
        (webhook,) = [s for s in settings["secretAsEnv"] if s["secretName"] == "kfp-mlops-notify"]
        assert webhook["optional"] is True  # a namespace without the Secret still runs
        assert webhook["keyToEnv"] == [
            {"envVar": "KFP_MLOPS_WEBHOOK_URL", "secretKey": "webhook_url"}
        ]
        optional = [c for c in settings["configMapAsEnv"] if c["optional"]]
        assert {k["envVar"] for c in optional for k in c["keyToEnv"]} == {
            "KFP_MLOPS_UI_URL",
            "KFP_MLOPS_PUSHGATEWAY_URL",
        }
        assert "hooks.slack.com" not in compiled_path(name).read_text()
