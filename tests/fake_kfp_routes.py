"""The endpoints of the FAKE KFP v2beta1 server (tests/fake_kfp_server.py): state and rules."""

import json
import re

import kfp_server_api

from tests.fake_kfp_server import (
    ALREADY_EXISTS,
    NOT_FOUND,
    ApiError,
    check_cron,
    check_model,
    invalid,
)

API = "/apis/v2beta1"
PREDICATE_OPERATIONS = kfp_server_api.models.V2beta1PredicateOperation.allowable_values


def route(fake, method, path, query, raw, headers, record):
    """Dispatch one request; return (HTTP status, JSON answer)."""
    parts = path.removeprefix(API).strip("/").split("/")
    key = (method, parts[0] if parts else "", len(parts))
    if not path.startswith(API + "/"):
        raise ApiError(404, NOT_FOUND, f"Not Found: {path}")
    if key == ("GET", "healthz", 1):
        return 200, {"multi_user": fake.multi_user, "pipeline_store": "database"}
    if parts[0] == "pipelines":
        return _pipelines(fake, method, parts, query, raw, headers)
    if parts[0] == "experiments":
        return _experiments(fake, method, parts, query, raw, record)
    if parts[0] == "runs":
        return _runs(fake, method, parts, query, raw, record)
    if parts[0] == "recurringruns":
        return _recurring(fake, method, parts, query, raw, record)
    raise ApiError(404, NOT_FOUND, f"Not Found: {method} {path}")


def _get(table: dict, key: str, kind: str) -> dict:
    if key not in table:
        raise ApiError(404, NOT_FOUND, f"{kind} {key} not found")
    return table[key]


def listing(items: list[dict], query: dict, kind: str, plural: str) -> dict:
    """Apply namespace, filter, sort and paging to a list, as the list endpoints do."""
    if query.get("namespace"):
        items = [i for i in items if i.get("namespace", "") in (query["namespace"], "")]
    if query.get("experiment_id"):
        items = [i for i in items if i.get("experiment_id") == query["experiment_id"]]
    if query.get("filter"):
        items = _filtered(items, query["filter"], kind)
    sort_by = (query.get("sort_by") or "created_at").split()
    if sort_by[0] not in {k for i in items for k in i} | {"created_at", "display_name"}:
        raise invalid(f"Invalid input error: invalid sorting field {sort_by[0]!r} on {kind}")
    items = sorted(
        items, key=lambda i: str(i.get(sort_by[0], "")), reverse=sort_by[-1:] == ["desc"]
    )
    size = int(query.get("page_size") or 20)
    start = int(query.get("page_token") or 0)
    page = items[start : start + size]
    answer = {plural: page, "total_size": len(items)}
    if start + size < len(items):
        answer["next_page_token"] = str(start + size)
    return answer if page else {"total_size": len(items)}


def _filtered(items: list[dict], text: str, kind: str) -> list[dict]:
    try:
        parsed = json.loads(text)
    except ValueError:
        raise invalid(f"Invalid input error: filter {text!r} is not JSON") from None
    check_model(parsed, "V2beta1Filter", "filter")
    for p in parsed.get("predicates", []):
        key, value = p.get("key"), p.get("string_value", p.get("stringValue"))
        op = p.get("operation")
        op = PREDICATE_OPERATIONS[op] if isinstance(op, int) else op
        if key not in ("display_name", "name", "pipeline_id", "experiment_id", "state"):
            raise invalid(f"Invalid input error: {kind} cannot be filtered by {key!r}")
        if op == "EQUALS":
            items = [i for i in items if i.get(key) == value]
        elif op == "IS_SUBSTRING":
            items = [i for i in items if value in str(i.get(key, ""))]
        else:
            raise invalid(f"Invalid input error: the fake does not support {op}")
    return items


def _pipelines(fake, method, parts, query, raw, headers):
    if method == "POST" and parts[1:] == ["upload"]:
        spec = fake.uploaded_spec(raw, headers)
        name = query.get("display_name") or query.get("name") or spec["pipelineInfo"]["name"]
        namespace = query.get("namespace", "")
        if any(p["name"] == name and p["namespace"] == namespace for p in fake.pipelines.values()):
            raise ApiError(
                409, ALREADY_EXISTS, "Failed to create a pipeline and a pipeline version"
            )
        pipeline = {
            "pipeline_id": fake.new_id(),
            "name": name,
            "display_name": name,
            "description": query.get("description", ""),
            "namespace": namespace,
            "created_at": fake.now(),
        }
        fake.pipelines[pipeline["pipeline_id"]] = pipeline
        fake.versions[pipeline["pipeline_id"]] = []
        _add_version(fake, pipeline["pipeline_id"], name, pipeline["description"], spec)
        return 200, pipeline
    if method == "POST" and parts[1:] == ["upload_version"]:
        spec = fake.uploaded_spec(raw, headers)
        pipeline_id = query.get("pipelineid")
        if not pipeline_id or pipeline_id not in fake.pipelines:
            raise invalid("Failed to create a pipeline version")
        name = query.get("display_name") or query.get("name") or spec["pipelineInfo"]["name"]
        if any(v["name"] == name for v in fake.versions[pipeline_id]):
            raise ApiError(409, ALREADY_EXISTS, "Failed to create a pipeline version")
        return 200, _add_version(fake, pipeline_id, name, query.get("description", ""), spec)
    if method == "GET" and len(parts) == 1:
        return 200, listing(list(fake.pipelines.values()), query, "pipelines", "pipelines")
    pipeline = _get(fake.pipelines, parts[1], "Pipeline")
    if method == "GET" and len(parts) == 2:
        return 200, pipeline
    versions = fake.versions[pipeline["pipeline_id"]]
    if method == "GET" and len(parts) == 3 and parts[2] == "versions":
        return 200, listing(versions, query, "pipeline versions", "pipeline_versions")
    if method == "GET" and len(parts) == 4 and parts[2] == "versions":
        found = [v for v in versions if v["pipeline_version_id"] == parts[3]]
        if not found:
            raise ApiError(404, NOT_FOUND, f"Pipeline version {parts[3]} not found")
        return 200, found[0]
    raise ApiError(404, NOT_FOUND, f"Not Found: {method} /pipelines/{'/'.join(parts[1:])}")


def _add_version(fake, pipeline_id, name, description, spec) -> dict:
    version = {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": fake.new_id(),
        "name": name,
        "display_name": name,
        "description": description,
        "created_at": fake.now(),
        "pipeline_spec": spec,
    }
    fake.versions[pipeline_id].append(version)
    return version


def _experiments(fake, method, parts, query, raw, record):
    if method == "POST" and len(parts) == 1:
        body = fake.json_body(raw, "V2beta1Experiment", record)
        name = body.get("display_name", "")
        if not name:
            raise invalid(
                "Invalid input error: Experiment name is empty. "
                "Please specify a valid experiment name"
            )
        if fake.multi_user and not body.get("namespace"):
            raise invalid(
                "Invalid input error: In multi-user mode, experiment namespace must be set"
            )
        namespace = body.get("namespace", "")
        if any(
            e["display_name"] == name and e["namespace"] == namespace
            for e in fake.experiments.values()
        ):
            raise ApiError(409, ALREADY_EXISTS, f"Already exist error: experiment {name!r} exists")
        exp = {
            **body,
            "experiment_id": fake.new_id(),
            "created_at": fake.now(),
            "namespace": namespace,
            "storage_state": "AVAILABLE",
        }
        fake.experiments[exp["experiment_id"]] = exp
        return 200, exp
    if method == "GET" and len(parts) == 1:
        return 200, listing(list(fake.experiments.values()), query, "experiments", "experiments")
    if method == "GET" and len(parts) == 2:
        return 200, _get(fake.experiments, parts[1], "Experiment")
    raise ApiError(404, NOT_FOUND, f"Not Found: {method} /experiments/{'/'.join(parts[1:])}")


def _version_of(fake, body: dict, kind: str) -> dict:
    """The pipeline version a run or recurring run refers to (must exist)."""
    ref = body.get("pipeline_version_reference") or {}
    if body.get("pipeline_spec"):
        return {"pipeline_spec": body["pipeline_spec"]}
    if not ref.get("pipeline_id") or not ref.get("pipeline_version_id"):
        raise invalid(
            f"Invalid input error: {kind} must reference a pipeline version "
            "(pipeline_id and pipeline_version_id) or carry a pipeline spec"
        )
    versions = fake.versions.get(ref["pipeline_id"], [])
    found = [v for v in versions if v["pipeline_version_id"] == ref["pipeline_version_id"]]
    if not found:
        raise ApiError(404, NOT_FOUND, f"Pipeline version {ref['pipeline_version_id']} not found")
    return found[0]


def _check_parameters(version: dict, body: dict) -> None:
    declared = version["pipeline_spec"].get("root", {}).get("inputDefinitions", {})
    declared = declared.get("parameters", {})
    given = (body.get("runtime_config") or {}).get("parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise invalid(f"Invalid input error: unknown pipeline parameter(s) {unknown}")


def _common(fake, body: dict, kind: str) -> dict:
    if not body.get("display_name"):
        raise invalid(f"Invalid input error: {kind} name cannot be empty")
    if body.get("experiment_id"):
        _get(fake.experiments, body["experiment_id"], "Experiment")
    version = _version_of(fake, body, kind)
    _check_parameters(version, body)
    return {"namespace": fake.experiments.get(body.get("experiment_id"), {}).get("namespace", "")}


def _runs(fake, method, parts, query, raw, record):
    if method == "POST" and len(parts) == 1:
        body = fake.json_body(raw, "V2beta1Run", record)
        extra = _common(fake, body, "Run")
        run = {
            **body,
            **extra,
            "run_id": fake.new_id(),
            "created_at": fake.now(),
            "state": "PENDING",
            "storage_state": "AVAILABLE",
            "state_history": [{"state": "PENDING", "update_time": fake.now()}],
        }
        fake.runs[run["run_id"]] = run
        fake.run_specs[run["run_id"]] = _version_of(fake, body, "Run")["pipeline_spec"]
        if fake._next_script is not None:
            fake._scripts[run["run_id"]], fake._next_script = fake._next_script, None
        return 200, run
    if method == "GET" and len(parts) == 1:
        return 200, listing(list(fake.runs.values()), query, "runs", "runs")
    if method == "GET" and len(parts) == 2:
        run = _get(fake.runs, parts[1], "Run")
        script = fake._scripts.get(run["run_id"])
        if script:
            state, tasks = script.pop(0)
            fake.set_run(run["run_id"], state, tasks)
        return 200, run
    raise ApiError(404, NOT_FOUND, f"Not Found: {method} /runs/{'/'.join(parts[1:])}")


def _recurring(fake, method, parts, query, raw, record):
    if method == "POST" and len(parts) == 1:
        body = fake.json_body(raw, "V2beta1RecurringRun", record)
        extra = _common(fake, body, "Recurring run")
        trigger = body.get("trigger") or {}
        if not trigger.get("cron_schedule") and not trigger.get("periodic_schedule"):
            raise invalid(
                "Invalid input error: a recurring run needs a trigger "
                "(cron_schedule or periodic_schedule)"
            )
        if trigger.get("cron_schedule"):
            check_cron(trigger["cron_schedule"].get("cron") or "")
        concurrency = int(body.get("max_concurrency") or 0)
        if not 1 <= concurrency <= 10:
            raise invalid(
                "Invalid input error: Max concurrency of a recurring run must be at least 1 "
                f"and at most 10. Received {concurrency}"
            )
        recurring = {
            **body,
            **extra,
            "recurring_run_id": fake.new_id(),
            "created_at": fake.now(),
            "updated_at": fake.now(),
            "status": "DISABLED" if body.get("mode") == "DISABLE" else "ENABLED",
        }
        fake.recurring_runs[recurring["recurring_run_id"]] = recurring
        return 200, recurring
    if method == "GET" and len(parts) == 1:
        items = list(fake.recurring_runs.values())
        return 200, listing(items, query, "recurring runs", "recurringRuns")
    if len(parts) == 2 and re.fullmatch(r"[\w-]+", parts[1]):
        recurring = _get(fake.recurring_runs, parts[1], "RecurringRun")
        if method == "GET":
            return 200, recurring
        if method == "DELETE":
            del fake.recurring_runs[parts[1]]
            return 200, {}
    raise ApiError(404, NOT_FOUND, f"Not Found: {method} /recurringruns/{'/'.join(parts[1:])}")
