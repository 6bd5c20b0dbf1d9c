"""Reaching a Kubeflow Pipelines API server: host, bearer token, namespace, clear errors.

Host from `--host` or `KF_PIPELINES_ENDPOINT`; token from `--token`, `KF_PIPELINES_TOKEN`
or the service-account token file multi-user Kubeflow projects into pods
(`KF_PIPELINES_SA_TOKEN_PATH`, default /var/run/secrets/kubeflow/pipelines/token, the path
kfp.Client's own ServiceAccountTokenVolumeCredentials reads). A token is never printed:
messages name where it came from, not what it is.
"""

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from components._shared.errors import ServiceError
from components._shared.redact import redact_uri
from kfp_mlops.errors import AuthError, UsageError

ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
UI_ENDPOINT_ENV = "KF_PIPELINES_UI_ENDPOINT"
TOKEN_ENV = "KF_PIPELINES_TOKEN"
TOKEN_PATH_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
DEFAULT_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
TOKEN_HINT = (
    f"give one with --token or {TOKEN_ENV}, or mount a service-account token at "
    f"{DEFAULT_TOKEN_PATH} (path set by {TOKEN_PATH_ENV})"
)


@dataclass(frozen=True)
class Target:
    """Where the KFP API is and how to authenticate (the token stays out of repr)."""

    host: str
    token_source: str
    namespace: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def ui(self) -> str:
        """The base URL of the KFP UI (links to runs and pipelines), without user:password@.

        Links are printed; a host given as http://user:password@... must not be.
        """
        return redact_uri((os.environ.get(UI_ENDPOINT_ENV) or self.host).rstrip("/"))


def target(
    host: str | None = None, token: str | None = None, namespace: str | None = None
) -> Target:
    """Resolve host, token and namespace from flags first, then the environment."""
    host = (host or os.environ.get(ENDPOINT_ENV) or "").strip().rstrip("/")
    if not host:
        raise UsageError(
            f"no KFP API host: pass --host http://HOST:PORT or set {ENDPOINT_ENV} "
            "(e.g. after `kubectl port-forward -n kubeflow svc/ml-pipeline 8888:8888`)"
        )
    if "://" not in host:
        raise UsageError(f"KFP host {host!r} needs a scheme: http://{host} or https://{host}")
    if token:
        return Target(host, "--token", namespace, token)
    if os.environ.get(TOKEN_ENV):
        return Target(host, TOKEN_ENV, namespace, os.environ[TOKEN_ENV])
    path = Path(os.environ.get(TOKEN_PATH_ENV) or DEFAULT_TOKEN_PATH)
    if path.is_file():
        return Target(
            host, f"service-account token file {path}", namespace, path.read_text().strip()
        )
    return Target(host, "none (no --token, no KF_PIPELINES_TOKEN, no token file)", namespace)


def _api_message(exc) -> str:
    """The server's own message from an ApiException body, or its reason."""
    import json

    try:
        body = json.loads(exc.body or "{}")
        return str(body.get("message") or body.get("error") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.body or exc.reason)[:300]


class Kfp:
    """A kfp.Client whose failures become errors naming the host and the way out."""

    def __init__(self, where: Target):
        import kfp

        class _Client(kfp.Client):
            # kfp.Client retries healthz 5 times, 5 s apart, on any API error (a 401 too);
            # one attempt is enough to tell the user what is wrong.
            def get_kfp_healthz(self, sleep_duration: int = 5):
                return self._healthz_api.healthz_service_get_healthz()

        self.where = where
        with self.call("connecting"), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP >= 2.0.0b2"
            self.client = _Client(
                host=where.host,
                existing_token=where.token,
                namespace=where.namespace or "kubeflow",
            )
        with self.call("checking the API server's health"):
            self.client.get_kfp_healthz()

    @property
    def namespace(self) -> str | None:
        """The namespace for multi-user Kubeflow (None on standalone KFP)."""
        return self.where.namespace

    @contextlib.contextmanager
    def call(self, doing: str) -> Iterator[None]:
        """Run kfp.Client calls quietly (it prints links) and translate their failures."""
        import kfp_server_api
        import urllib3

        host = self.where.host
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        except kfp_server_api.ApiException as exc:
            if exc.status in (401, 403):
                raise AuthError(
                    f"KFP API at {host} refused authentication (HTTP {exc.status}) while "
                    f"{doing}: {_api_message(exc)}; token used: {self.where.token_source}; "
                    f"{TOKEN_HINT}"
                ) from None
            if exc.status == 0 or exc.status is None:
                raise self._unreachable(doing, exc.reason) from None
            raise ServiceError(
                f"KFP API at {host} answered HTTP {exc.status} while {doing}: {_api_message(exc)}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(doing, getattr(exc, "reason", None) or exc) from None

    def _unreachable(self, doing: str, reason) -> ServiceError:
        return ServiceError(
            f"KFP API at {self.where.host} is unreachable while {doing} ({reason}); check "
            f"--host / {ENDPOINT_ENV}, and that the API server is reachable (port-forward "
            "svc/ml-pipeline or the Kubeflow gateway)"
        )
