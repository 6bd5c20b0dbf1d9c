"""A FAKE Kubernetes API server for InferenceServices, for tests: no cluster runs here.

Shaped from the real kube-apiserver (kubernetes/kubernetes staging/src/k8s.io/apiserver and
apiextensions-apiserver, API conventions): errors are `Status` objects (`kind: Status`,
`status: Failure`, `reason`, `code`, `details{name, group, kind, causes}`) with 404
NotFound, 409 AlreadyExists, 403 Forbidden, 422 Invalid, 400 BadRequest (fieldValidation=
Strict and an unknown field), 415 for a patch type it does not take; POST creates, PATCH takes
`application/merge-patch+json` (RFC 7386: null removes) and `application/apply-patch+yaml`
(needs fieldManager); `fieldManager` is recorded in `managedFields`; every write bumps a
global `resourceVersion`; `metadata.generation` rises only when `spec` changes; the status
subresource is the only way to change `status`. GET with `?watch=true` streams
newline-delimited `{"type": "ADDED|MODIFIED|DELETED", "object": ...}` events (chunked), from
after `resourceVersion` or, without one, starting with an ADDED per existing object; it honours
`fieldSelector=metadata.name=...` and `timeoutSeconds`.

Every stored object is validated against KServe's CRD v1beta1 schema made strict
(tests/kserve_schema.py). A small simulated KServe controller sets `status` after a delay:
`ready` (Ready=True), `never` (Ready=False, the predictor crash-loops) or `canary-fails`
(Ready=True without a canary, Ready=False with one). `forbid` makes it answer 403 to chosen
verbs, as RBAC would.
"""

import copy
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import yaml

from tests import kserve_schema

GROUP, VERSION, PLURAL, KIND = (
    "serving.kserve.io",
    "v1beta1",
    "inferenceservices",
    "InferenceService",
)
PREFIX = f"/apis/{GROUP}/{VERSION}/namespaces/"
TOKEN = "fake-service-account-token"
USER = "system:serviceaccount:kubeflow:pipeline-runner"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, name: str = "", causes=None) -> dict:
    """A metav1.Status the way the API server writes one."""
    details = {"name": name, "group": GROUP, "kind": PLURAL} if name else {}
    if causes:
        details["causes"] = causes
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return body | {"message": message, "reason": reason, "details": details, "code": code}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Refused(Exception):
    """An API error to answer with."""

    def __init__(self, code: int, reason: str, message: str, name: str = "", causes=None):
        super().__init__(message)
        self.body = status_body(code, reason, message, name, causes)


class FakeKube:
    """The fake's state, its simulated controller and its HTTP server on 127.0.0.1."""

    def __init__(self, controller: str = "ready", delay_s: float = 0.2):
        self.controller, self.delay_s = controller, delay_s
        self.forbid: set[str] = set()  # verbs RBAC refuses: get, list, watch, create, patch
        self.objects: dict[tuple[str, str], dict] = {}
        self.events: list[tuple[int, str, dict]] = []
        self.requests: list[tuple[str, str, dict, str]] = []  # method, path, query, content type
        self.rv = 100
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeKube":
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path, namespace: str = "kubeflow") -> str:
        """Write a kubeconfig pointing at this server (token auth) and return its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "runner", "user": {"token": TOKEN}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "runner", "namespace": namespace},
                }
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return str(path)

    # -- storage -----------------------------------------------------------------------------

    def _store(self, key, obj: dict, event: str) -> dict:
        with self.changed:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.objects[key] = obj
            self.events.append((self.rv, event, copy.deepcopy(obj)))
            self.changed.notify_all()
        return copy.deepcopy(obj)

    def _validate(self, obj: dict, strict: bool) -> list[str]:
        """Refuse a schema violation (422) or, under Strict, an unknown field (400)."""
        name = obj["metadata"].get("name", "")
        found = kserve_schema.problems(obj)
        invalid = [(f, m) for kind, f, m in found if kind == "invalid"]
        unknown = [f for kind, f, _ in found if kind == "unknown"]
        if invalid:
            causes = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in invalid]
            detail = ", ".join(f"{f}: Invalid value: {m}" for f, m in invalid)
            raise Refused(
                422, "Invalid", f'{KIND}.{GROUP} "{name}" is invalid: {detail}', name, causes
            )
        if unknown and strict:
            listed = ", ".join(f'unknown field "{f}"' for f in unknown)
            raise Refused(400, "BadRequest", f"strict decoding error: {listed}")
        for path in unknown:  # Warn/Ignore: the server drops the field
            parts = path.replace("[", ".[").split(".")
            node = obj
            for part in parts[:-1]:
                node = node[int(part[1:-1])] if part.startswith("[") else node[part]
            node.pop(parts[-1], None)
        return unknown

    def create(self, ns: str, body: dict, manager: str | None, strict: bool) -> dict:
        """POST: a new object at generation 1."""
        meta = body.get("metadata") or {}
        name = meta.get("name", "")
        if body.get("kind") != KIND or body.get("apiVersion") != f"{GROUP}/{VERSION}":
            raise Refused(400, "BadRequest", f"the body is not a {KIND} {GROUP}/{VERSION}")
        if (ns, name) in self.objects:
            raise Refused(409, "AlreadyExists", f'{PLURAL}.{GROUP} "{name}" already exists', name)
        obj = copy.deepcopy(body)
        obj.pop("status", None)  # status subresource: ignored on the main resource
        obj["metadata"] = dict(meta) | {
            "namespace": ns, "uid": str(uuid.uuid4()), "generation": 1,
            "creationTimestamp": _now(), "managedFields": self._managed(manager, "Update"),
        }  # fmt: skip
        self._validate(obj, strict)
        stored = self._store((ns, name), obj, "ADDED")
        self._reconcile_later(ns, name, 1)
        return stored

    def patch(self, ns, name, patch: dict, manager, strict: bool, apply: bool) -> dict:
        """PATCH: merge (or apply) onto the stored object; generation +1 only if spec changed."""
        old = self._get(ns, name)
        patch = dict(patch)
        patch.pop("status", None)
        new = merge_patch(old, patch)
        new["metadata"]["generation"] = old["metadata"]["generation"]
        new["metadata"]["managedFields"] = old["metadata"]["managedFields"] + self._managed(
            manager, "Apply" if apply else "Update"
        )
        self._validate(new, strict)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] += 1
        stored = self._store((ns, name), new, "MODIFIED")
        if new.get("spec") != old.get("spec"):
            self._reconcile_later(ns, name, new["metadata"]["generation"])
        return stored

    def _managed(self, manager, operation) -> list[dict]:
        if not manager:
            return []
        entry = {"manager": manager, "operation": operation, "apiVersion": f"{GROUP}/{VERSION}"}
        return [entry | {"time": _now(), "fieldsType": "FieldsV1"}]

    def _get(self, ns: str, name: str) -> dict:
        if (ns, name) not in self.objects:
            raise Refused(404, "NotFound", f'{PLURAL}.{GROUP} "{name}" not found', name)
        return copy.deepcopy(self.objects[(ns, name)])

    def set_status(self, ns: str, name: str, status: dict) -> dict:
        """The status subresource: only status changes, generation stays."""
        obj = self._get(ns, name)
        obj["status"] = status
        self._validate(obj, strict=True)
        return self._store((ns, name), obj, "MODIFIED")

    # -- the simulated controller -------------------------------------------------------------

    def _reconcile_later(self, ns: str, name: str, generation: int) -> None:
        timer = threading.Timer(self.delay_s, self._reconcile, (ns, name, generation))
        timer.daemon = True
        timer.start()

    def _reconcile(self, ns: str, name: str, generation: int) -> None:
        obj = self.objects.get((ns, name))
        if obj is None or obj["metadata"]["generation"] != generation:
            return  # a newer spec will be reconciled by its own timer
        spec = obj["spec"]
        canary = bool(spec.get("canary")) or bool(spec["predictor"].get("canaryTrafficPercent"))
        fails = self.controller == "never" or (self.controller == "canary-fails" and canary)
        ready = {
            "type": "Ready",
            "status": "False" if fails else "True",
            "lastTransitionTime": _now(),
        }
        if fails:
            ready |= {
                "reason": "RevisionFailed",
                "message": f'Revision "{name}-predictor-{generation:05d}" failed with message: '
                "Container kserve-container is waiting: CrashLoopBackOff.",
            }
        status = {"observedGeneration": generation, "conditions": [ready]}
        status["components"] = {"predictor": self._traffic(name, generation, spec)}
        self.set_status(ns, name, status)

    def _traffic(self, name: str, generation: int, spec: dict) -> dict:
        latest = f"{name}-predictor-{generation:05d}"
        percent = spec["predictor"].get("canaryTrafficPercent")
        traffic = [{"revisionName": latest, "percent": 100 if percent is None else percent,
                    "latestRevision": True}]  # fmt: skip
        if percent is not None and percent < 100:
            traffic.append({"revisionName": f"{name}-predictor-prev", "percent": 100 - percent,
                            "tag": "prev", "latestRevision": False})  # fmt: skip
        return {"latestCreatedRevision": latest, "latestReadyRevision": latest, "traffic": traffic}


def _handler(fake: FakeKube):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet test output
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str):
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            ctype = self.headers.get("Content-Type", "")
            # Read the body first: a refusal must not leave it on the kept-alive connection.
            length = int(self.headers.get("Content-Length") or 0)
            self.raw = self.rfile.read(length) if length else b""
            fake.requests.append((method, url.path, query, ctype))
            try:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    raise Refused(401, "Unauthorized", "Unauthorized")
                if not url.path.startswith(PREFIX):
                    raise Refused(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                parts = url.path.removeprefix(PREFIX).split("/")
                if len(parts) < 2 or parts[1] != PLURAL or len(parts) > 3:
                    raise Refused(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                ns, name = parts[0], parts[2] if len(parts) == 3 else ""
                self._serve(method, ns, name, query, ctype)
            except Refused as exc:
                self._send(exc.body["code"], exc.body)

        def _check(self, verb: str, ns: str, name: str) -> None:
            if verb in fake.forbid:
                what = f'{PLURAL}.{GROUP} "{name}"' if name else f"{PLURAL}.{GROUP}"
                raise Refused(
                    403, "Forbidden",
                    f'{what} is forbidden: User "{USER}" cannot {verb} resource "{PLURAL}" in API '
                    f'group "{GROUP}" in the namespace "{ns}"',
                    name,
                )  # fmt: skip

        def _body(self):
            try:
                return yaml.safe_load(self.raw) if self.raw else {}
            except yaml.YAMLError as exc:
                raise Refused(400, "BadRequest", f"the body is not JSON or YAML: {exc}") from None

        def _serve(self, method, ns, name, query, ctype):
            manager = query.get("fieldManager")
            strict = query.get("fieldValidation") == "Strict"
            if method == "GET" and name:
                self._check("get", ns, name)
                self._send(200, fake._get(ns, name))
            elif method == "GET" and query.get("watch") in ("true", "True", "1"):
                self._check("watch", ns, "")
                self._watch(ns, query)
            elif method == "GET":
                self._check("list", ns, "")
                items = [copy.deepcopy(o) for (n, _), o in fake.objects.items() if n == ns]
                meta = {"resourceVersion": str(fake.rv)}
                self._send(200, {"apiVersion": f"{GROUP}/{VERSION}", "kind": f"{KIND}List",
                                 "metadata": meta, "items": items})  # fmt: skip
            elif method == "POST" and not name:
                self._check("create", ns, "")
                self._send(201, fake.create(ns, self._body(), manager, strict))
            elif method == "PATCH" and name:
                self._check("patch", ns, name)
                apply = ctype.startswith("application/apply-patch+yaml")
                if not (apply or ctype.startswith("application/merge-patch+json")):
                    raise Refused(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media "
                        "types include: application/merge-patch+json, "
                        f"application/apply-patch+yaml (got {ctype})",
                    )
                if apply and not manager:
                    raise Refused(
                        422,
                        "Invalid",
                        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                        "is required for apply patch",
                    )
                self._send(200, fake.patch(ns, name, self._body(), manager, strict, apply))
            else:
                raise Refused(
                    405,
                    "MethodNotAllowed",
                    f"the server does not allow this method on the requested resource ({method})",
                )

        def _watch(self, ns: str, query: dict) -> None:
            selector = query.get("fieldSelector", "")
            only = selector.removeprefix("metadata.name=") if selector else None
            deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
            since = query.get("resourceVersion")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def matches(obj):
                meta = obj["metadata"]
                return meta["namespace"] == ns and (only is None or meta["name"] == only)

            with fake.changed:
                if since:
                    last, backlog = int(since), []
                else:
                    last = fake.rv
                    backlog = [("ADDED", o) for o in fake.objects.values() if matches(o)]
            try:
                for kind, obj in backlog:
                    self._chunk({"type": kind, "object": obj})
                while time.monotonic() < deadline:
                    with fake.changed:
                        new = [(rv, k, o) for rv, k, o in fake.events if rv > last]
                        if not new:
                            fake.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
                            continue
                    for rv, kind, obj in new:
                        last = rv
                        if matches(obj):
                            self._chunk({"type": kind, "object": obj})
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

        def _chunk(self, event: dict) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def do_GET(self):  # http.server's naming
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_PATCH(self):
            self._route("PATCH")

        def do_PUT(self):
            self._route("PUT")

        def do_DELETE(self):
            self._route("DELETE")

    return Handler
