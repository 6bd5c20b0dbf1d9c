"""Every gate task in every compiled spec gets what pushing and recording need.

Read from the committed specs (what a cluster runs) and the descriptors (which tasks are
gates): the run id placeholder as `kfp_run_id`, `KFP_MLOPS_PIPELINE`, the Pushgateway
address from the ConfigMap mapped optional, and the S3 settings for the record.
"""

import pytest
import yaml

from pipelines.descriptors import PIPELINES
from pipelines.task_settings import CONFIG_MAP, S3_SECRET, step

GATE_TASKS = [(p.name, gate, task) for p in PIPELINES.values() for gate, task in p.gates.items()]
# The training gates keep their pipeline's label when monitoring runs them as its retrain.
GATE_PIPELINE = {"validation": "training", "evaluation": "training", "fairness": "training"}


def spec_of(name):
    spec, platform = yaml.safe_load_all(PIPELINES[name].compiled_path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def task_of(spec, key):
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return next(dag["tasks"][key] for dag in dags if key in dag["tasks"])


@pytest.mark.parametrize(("pipeline", "gate", "key"), GATE_TASKS)
def test_gate_task_gets_the_run_id_its_pipeline_and_the_pushgateway_address(pipeline, gate, key):
    spec, platform = spec_of(pipeline)
    task = task_of(spec, key)
    run_id = task["inputs"]["parameters"]["kfp_run_id"]["runtimeValue"]["constant"]
    assert run_id == "{{$.pipeline_job_uuid}}"  # dsl.PIPELINE_JOB_ID_PLACEHOLDER
    executor = spec["components"][task["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][executor]["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KFP_MLOPS_PIPELINE"] == GATE_PIPELINE.get(gate, pipeline)
    maps = platform[executor]["configMapAsEnv"]
    (pushgateway,) = [
        m for m in maps if {k["envVar"] for k in m["keyToEnv"]} == {"KFP_MLOPS_PUSHGATEWAY_URL"}
    ]
    assert pushgateway["configMapName"] == CONFIG_MAP and pushgateway["optional"] is True
    # The record goes to S3: endpoint from the ConfigMap (required), keys from the Secret.
    assert any(
        "AWS_ENDPOINT_URL_S3" in {k["envVar"] for k in m["keyToEnv"]} and not m.get("optional")
        for m in maps
    )
    assert [s["secretName"] for s in platform[executor]["secretAsEnv"]] == [S3_SECRET]


def test_a_gate_step_without_a_pipeline_name_is_refused():
    # Refused before the task is touched: no gate can push under pipeline="unknown".
    with pytest.raises(ValueError, match="gate step 'g': pass pipeline=<the pipeline's name>"):
        step(None, "g", gate=True)
