"""A FAKE Kubeflow Pipelines v2beta1 API server for tests: no real KFP API server runs here.

`FakeKfpServer` is a real HTTP server on 127.0.0.1 (a free port, served from a thread) that
answers the REST endpoints `kfp.Client` 2.17 calls for upload, run, schedule and listing:
healthz; pipelines upload / upload_version (multipart); list/get pipelines and versions;
experiments create/list/get; runs create/get/list; recurringruns create/list/get/delete.

It keeps state across calls and is strict:

- every JSON request body is checked against the `kfp_server_api` model of that endpoint
  (V2beta1Experiment, V2beta1Run, V2beta1RecurringRun and the models nested in them): an
  unknown field, a value of the wrong type or an enum value outside the model's allowed
  values is a 400, with a message shaped like the real server's (grpc-gateway JSON:
  `{"code": 3, "message": ...}`); so are the `filter` query parameters (V2beta1Filter);
- the fields the real server insists on (a display name; a pipeline version to run; a
  trigger; max_concurrency within 1..10) are required, with the real server's wording;
- a cron schedule must have 6 fields, seconds first, each in range (robfig/cron syntax:
  `*`, `?`, `a-b`, `*/n`, lists, month and weekday names), or an `@daily`-style descriptor;
  the real server's robfig/cron v1 parser would also read a 5-field expression (seconds
  first, weekday optional), so the fake is stricter here on purpose;
- with a token configured, every request without `Authorization: Bearer <token>` is a 401;
- duplicate pipeline names and duplicate version names within a pipeline are a 409.

Tests drive what the real backend would do on its own: `script_next_run` gives the next
created run a sequence of (state, {task: state}) steps, one step per GET of that run;
`set_run` sets a run's state and task details directly. `requests` records every request.
"""

import email.parser
import email.policy
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import yaml

from pipelines.descriptors import spec_task_names

# int64 proto fields: the generated models call them 'str', protojson takes a number or a string.
INT64_FIELDS = {"max_concurrency", "interval_second", "long_value", "execution_id"}
INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, UNAUTHENTICATED = 3, 5, 6, 16
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_CRON_FIELDS = [
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(WEEKDAYS)}),
]
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class ApiError(Exception):
    """An error answer: HTTP status, gRPC code and message."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT answer, as the real server gives for a bad request."""
    return ApiError(400, INVALID_ARGUMENT, message)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _model(name: str):
    return getattr(kfp_server_api.models, name, None)


def check_value(value: Any, type_name: str, path: str, field: str = "") -> None:
    """Raise ApiError when `value` does not fit the kfp_server_api type `type_name`."""

    def bad(expected: str) -> ApiError:
        got = type(value).__name__
        return ApiError(
            400,
            INVALID_ARGUMENT,
            f"proto: invalid value for {expected} field {path}: {json.dumps(value)[:80]} ({got})",
        )

    if value is None:
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            raise bad("repeated")
        for i, item in enumerate(value):
            check_value(item, type_name[5:-1], f"{path}[{i}]", field)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            raise bad("map")
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        for key, item in value.items():
            check_value(item, inner, f"{path}[{key!r}]", field)
        return
    if type_name == "str":
        if field in INT64_FIELDS:
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and value.lstrip("-").isdigit()
            )
            if not ok:
                raise bad("int64")
        elif not isinstance(value, str):
            raise bad("string")
        return
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("int32")
        return
    if type_name == "bool":
        if not isinstance(value, bool):
            raise bad("bool")
        return
    if type_name == "datetime":
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise bad("google.protobuf.Timestamp") from None
        return
    if type_name == "object":
        return  # google.protobuf.Struct / Value: any JSON
    check_model(value, type_name, path)


def check_model(body: Any, model_name: str, path: str = "") -> None:
    """Check a JSON object against a kfp_server_api model: fields known, types right."""
    model = _model(model_name)
    if model is None:
        raise AssertionError(f"the fake knows no model {model_name}")
    if not model.openapi_types and hasattr(model, "allowable_values"):  # an enum
        # protojson takes an enum's name or its number (kfp.Client sends filter operations as 1).
        values = model.allowable_values
        if isinstance(body, int) and not isinstance(body, bool) and 0 <= body < len(values):
            return
        if body not in values:
            raise ApiError(
                400,
                INVALID_ARGUMENT,
                f"proto: invalid value for enum type {model_name} at {path or 'body'}: "
                f"{json.dumps(body)}",
            )
        return
    if not isinstance(body, dict):
        raise ApiError(
            400, INVALID_ARGUMENT, f"proto: {path or 'body'} must be a JSON object ({model_name})"
        )
    # protojson accepts a field's proto name and its lowerCamelCase JSON name.
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    by_json |= {_camel(json_name): attr for json_name, attr in list(by_json.items())}
    for key, value in body.items():
        if key not in by_json:
            raise ApiError(
                400, INVALID_ARGUMENT, f'proto: unknown field "{key}" in {model_name} at {path}'
            )
        attr = by_json[key]
        check_value(value, model.openapi_types[attr], f"{path}.{key}".lstrip("."), attr)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def check_cron(expr: str) -> None:
    """Validate a cron expression as the fake's scheduler reads it (6 fields, seconds first)."""
    expr = expr.strip()
    if expr in _DESCRIPTORS:
        return
    fields = expr.split()
    if len(fields) != 6:
        raise ApiError(
            400,
            INVALID_ARGUMENT,
            "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). "
            f"Error: Expected 6 fields, found {len(fields)}: {expr}",
        )
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            _check_cron_part(part, name, low, high, names, expr)


def _check_cron_part(part, name, low, high, names, expr) -> None:
    def fail(why: str) -> ApiError:
        return ApiError(
            400,
            INVALID_ARGUMENT,
            "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron). "
            f"Error: {why} in {name} field of {expr!r}",
        )

    def number(token: str) -> int:
        value = names.get(token.upper()) if token.upper() in names else None
        if value is None:
            if not token.isdigit():
                raise fail(f"failed to parse int from {token!r}")
            value = int(token)
        if not low <= value <= high:
            raise fail(f"{value} out of range [{low}, {high}]")
        return value

    range_part, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise fail(f"bad step {step!r}")
    if range_part in ("*", "?"):
        if range_part == "?" and name not in ("day of month", "day of week"):
            raise fail("'?' only allowed for day fields")
        return
    start, _, end = range_part.partition("-")
    first = number(start)
    if end and number(end) < first:
        raise fail(f"beginning of range ({first}) beyond end of range")


class FakeKfpServer:
    """The fake KFP v2beta1 API server (see the module docstring for what it checks)."""

    def __init__(self, token: str | None = None, multi_user: bool = False):
        self.token, self.multi_user = token, multi_user
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}  # pipeline id -> versions
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self.requests: list[dict] = []
        self._scripts: dict[str, list] = {}
        self.run_specs: dict[str, dict] = {}  # run id -> the pipeline spec it runs
        self._next_script: list | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL (http://127.0.0.1:PORT)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeKfpServer":
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---- test controls ------------------------------------------------------------------
    def script_next_run(self, steps: list[tuple[str, dict[str, str]]]) -> None:
        """The next created run walks through these (state, {task key: state}) steps, one per GET.

        Task keys are the spec's DAG task keys (`register-model`); the run's task details
        name each task by its `taskInfo.name` (`register model`), as the KFP backend does.
        """
        self._next_script = list(steps)

    def set_run(self, run_id: str, state: str, tasks: dict[str, str] | None = None) -> None:
        """Set a run's state and its task details, as the backend would while it runs.

        `tasks` is keyed by task key; each detail carries the task's display name from the
        run's spec (an unknown key is a mistake in the test, refused).
        """
        check_model(state, "V2beta1RuntimeState")
        names = spec_task_names(self.run_specs[run_id]) if run_id in self.run_specs else {}
        if tasks is not None and names and not set(tasks) <= set(names):
            raise ValueError(f"tasks {sorted(set(tasks) - set(names))} are not in the spec")
        run = self.runs[run_id]
        run["state"] = state
        run["state_history"] = [
            *run.get("state_history", []),
            {"state": state, "update_time": _now()},
        ]
        if tasks is not None:
            run["run_details"] = {
                "task_details": [
                    {
                        "run_id": run_id,
                        "task_id": f"{run_id}-{name}",
                        "display_name": names.get(name, name),
                        "state": task_state,
                        "create_time": run["created_at"],
                    }
                    for name, task_state in tasks.items()
                ]
            }
        if state in ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"):
            run["finished_at"] = _now()

    # ---- request handling ---------------------------------------------------------------
    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = {"method": method, "path": parsed.path, "query": query, "body": None}
                with server._lock:
                    server.requests.append(record)
                    try:
                        server._authorize(self.headers.get("Authorization"))
                        status, answer = server._route(
                            method, parsed.path, query, raw, self.headers, record
                        )
                    except ApiError as exc:
                        status = exc.status
                        answer = {
                            "error": exc.message,
                            "code": exc.code,
                            "message": exc.message,
                            "details": [],
                        }
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        return Handler

    def _authorize(self, header: str | None) -> None:
        if self.token is None:
            return
        if header != f"Bearer {self.token}":
            raise ApiError(401, UNAUTHENTICATED, "Unauthenticated: missing or invalid bearer token")

    def _route(self, method, path, query, raw, headers, record):
        from tests.fake_kfp_routes import route

        return route(self, method, path, query, raw, headers, record)

    # ---- helpers the routes use ---------------------------------------------------------
    @staticmethod
    def json_body(raw: bytes, model_name: str, record: dict) -> dict:
        """Parse and strictly check a JSON request body."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise invalid(f"proto: syntax error: {exc}") from None
        record["body"] = body
        check_model(body, model_name)
        return body

    @staticmethod
    def uploaded_spec(raw: bytes, headers) -> dict:
        """The pipeline spec from a multipart upload (field `uploadfile`), parsed."""
        content_type = headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise invalid("Failed to read pipeline from file")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "uploadfile":
                try:
                    spec = next(yaml.safe_load_all(part.get_payload(decode=True)))
                except yaml.YAMLError as exc:
                    raise invalid(f"Failed to read a pipeline spec file: {exc}") from None
                if not isinstance(spec, dict) or "pipelineInfo" not in spec:
                    raise invalid("Failed to read a pipeline spec file: not a pipeline spec")
                return spec
        raise invalid("Failed to read pipeline from file")

    @staticmethod
    def new_id() -> str:
        """A resource id like the real server's (a UUID)."""
        return str(uuid.uuid4())

    @staticmethod
    def now() -> str:
        """An RFC 3339 timestamp."""
        return _now()
