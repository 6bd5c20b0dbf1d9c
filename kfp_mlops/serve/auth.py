"""Bearer tokens for the server and the sink where no mesh authenticates their callers.

The tokens live in a file (a Kubernetes Secret mounted as a volume: the kubelet swaps it in
place when the Secret changes), one per line, so a rotation can overlap: write old and new,
move the callers, then write the new alone. The file is read again when it changes (looked
at no more than once a second), so a rotation needs no restart and a removed token is
refused from the next look on. Every route but health and metrics needs
`Authorization: Bearer <token>`; a request without one, or with one that is not in the file,
gets 401. Tokens are compared in constant time (`hmac.compare_digest`).
"""

import hmac
import logging
import os
import threading
import time
from pathlib import Path

from starlette.responses import JSONResponse

from components._shared.errors import ConfigError
from kfp_mlops.serve.metrics import Metrics

log = logging.getLogger("kfp_mlops.serve")
# What Kubernetes probes and Prometheus call, without credentials.
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/healthz", "/metrics"})
MIN_TOKEN_CHARS = 16
LOOK_SECONDS = 1.0


class TokenError(ConfigError):
    """The token file cannot be used: missing, unreadable, empty or holding a short token."""


def _read(path: Path) -> tuple[bytes, ...]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read the token file {path}: {exc}") from None
    tokens = tuple(line.strip().encode() for line in lines if line.strip())
    if not tokens:
        raise TokenError(
            f"the token file {path} holds no token; write one per line (e.g. `openssl rand "
            "-hex 32`)"
        )
    short = [k for k, t in enumerate(tokens, 1) if len(t) < MIN_TOKEN_CHARS]
    if short:
        raise TokenError(
            f"the token file {path} has token(s) shorter than {MIN_TOKEN_CHARS} characters on "
            f"line(s) {short}; use long random tokens (e.g. `openssl rand -hex 32`)"
        )
    return tokens


class Tokens:
    """The accepted tokens, read again when their file changes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._tokens = _read(self.path)  # a bad file ends the command before a port is bound
        self._stamp = self._stat()
        self._looked = time.monotonic()
        self._lock = threading.Lock()

    def _stat(self) -> tuple:
        try:
            st = os.stat(self.path)
        except OSError:
            return ()
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> tuple[bytes, ...]:
        """The tokens, re-read if the file changed since the last look (a second ago or more)."""
        now = time.monotonic()
        if now - self._looked < LOOK_SECONDS:
            return self._tokens
        with self._lock:
            self._looked = now
            stamp = self._stat()
            if stamp != self._stamp:
                try:
                    self._tokens = _read(self.path)
                    self._stamp = stamp
                    log.info("auth: token file %s read again (%d token(s))", self.path,
                             len(self._tokens))  # fmt: skip
                except TokenError as exc:  # mid-rotation or broken: refuse everyone meanwhile
                    self._tokens = ()
                    log.error("auth: %s; refusing every request until it is fixed", exc)
        return self._tokens

    def accepts(self, header: str | None) -> bool:
        """Whether an Authorization header carries one of the tokens (constant-time compare)."""
        if not header or header[:7].lower() != "bearer ":
            return False
        given = header[7:].strip().encode("latin-1", "replace")
        # Every token compared, whatever matched: the time does not say which one did.
        return any([hmac.compare_digest(given, token) for token in self.current()])


class BearerAuth:
    """ASGI middleware: 401 unless the request carries an accepted bearer token."""

    def __init__(self, app, tokens: Tokens, metrics: Metrics):
        self.app, self.tokens, self.metrics = app, tokens, metrics

    async def __call__(self, scope, receive, send):
        """Pass health, metrics and authenticated requests on; answer the others 401."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if self.tokens.accepts(header.decode("latin-1") if header else None):
            await self.app(scope, receive, send)
            return
        self.metrics.errors.labels("unauthorized").inc()
        response = JSONResponse(
            {"error": "this endpoint needs Authorization: Bearer <token> (--auth-token-file)"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="kfp-mlops"'},
        )
        await response(scope, receive, send)
