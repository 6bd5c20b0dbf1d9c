"""Post a message to a webhook: redacted, never redirected, retried, never an exception.

`post_json` is the one way out of notify, and the one place its body is redacted: every
string in it (keys too) goes through `redact` and loses the webhook URL and its path just
before it is serialised, so no field, present or added later, leaves unmasked.
A redirect (3xx) is not followed: it would carry the message to an address nobody
configured; it is final, "not delivered". Connection errors, timeouts, 5xx and 429 are
retried (a 429's Retry-After is honoured up to a cap); any other 4xx is final (retrying a
wrong URL or a refused body cannot help). The webhook URL is a credential (a Slack URL
carries its token in the path): only its host is ever printed.
"""

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlparse

from components._shared.redact import redact

ATTEMPTS = 4
TIMEOUT_S = 5.0
BACKOFF_S = 1.0
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class SendResult:
    """How a post went.

    Attributes:
        sent: The receiver accepted it (2xx); False for anything else, a redirect included.
        attempts: How many requests were made.
        status: The last HTTP status (None when no answer came).
        detail: What happened, safe to print (host only, redacted): "sent to <host> (200)"
            or "not delivered (<why>): <what to do>".
        waits: The pauses taken between attempts, in seconds.
    """

    sent: bool
    attempts: int
    status: int | None
    detail: str
    waits: list[float] = field(default_factory=list)


def host_of(url: str) -> str:
    """The only part of a webhook URL that may be printed."""
    return urlparse(url).hostname or "(no host)"


def post_json(
    url: str,
    body: dict,
    *,
    attempts: int = ATTEMPTS,
    timeout_s: float = TIMEOUT_S,
    backoff_s: float = BACKOFF_S,
    max_wait_s: float = MAX_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """POST `body` as JSON to `url`; retry what may pass later; never raise.

    Args:
        url: The webhook URL (a secret).
        body: The JSON body.
        attempts: Requests at most (the first included).
        timeout_s: Per attempt: connect and each read.
        backoff_s: The first pause; it doubles after each retried attempt.
        max_wait_s: The longest pause, a Retry-After included.
        sleep: How to pause (tests pass a recorder).
    """
    host = host_of(url)

    def safe(text: str) -> str:
        return _masked(redact(text), url)

    if urlparse(url).scheme not in ("http", "https"):
        return SendResult(
            False, 0, None, f"not delivered (webhook URL for {host} is not http(s)): fix the URL"
        )
    data = json.dumps(_redacted(body, safe)).encode()
    waits: list[float] = []
    status, detail = None, ""
    for attempt in range(1, attempts + 1):
        status, retry_after, detail = _attempt(url, data, timeout_s)
        if status is not None and 200 <= status < 300:
            return SendResult(True, attempt, status, f"sent to {host} ({status})", waits)
        if status is not None and 300 <= status < 400:
            what = (
                f"not delivered (HTTP {status} from {host}, a redirect to {detail} refused): "
                "redirects are not followed; set the webhook URL to the address that answers"
            )
            return SendResult(False, attempt, status, safe(what), waits)
        if not _retryable(status):
            what = (
                f"not delivered (HTTP {status} from {host}: {detail}): not retried, "
                "fix the URL or the Secret"
            )
            return SendResult(False, attempt, status, safe(what), waits)
        if attempt < attempts:
            wait = min(max_wait_s, retry_after if retry_after is not None else backoff_s)
            waits.append(wait)
            sleep(wait)
            backoff_s *= 2
    failed = f"{host}: {detail}" if status is None else f"HTTP {status} from {host}: {detail}"
    what = f"not delivered ({failed}): gave up after {attempts} attempts"
    return SendResult(False, attempts, status, safe(what), waits)


def _redacted(value: object, safe: Callable[[str], str]) -> object:
    """`value` (a JSON body) with `safe` applied to every string in it, keys included."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, dict):
        return {safe(str(k)): _redacted(v, safe) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, safe) for v in value]
    return value  # numbers, booleans, None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No redirect is followed: urllib then raises the 3xx as an HTTPError."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _attempt(url: str, data: bytes, timeout_s: float) -> tuple[int | None, float | None, str]:
    """(status or None, Retry-After seconds or None, detail) of one POST."""
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return response.status, None, _snippet(response.read(2048))
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:  # only the target's host: its URL may carry a token
            return exc.code, None, host_of(urljoin(url, exc.headers.get("Location") or ""))
        return exc.code, _retry_after(exc.headers.get("Retry-After")), _snippet(exc.read(2048))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, None, f"{type(reason).__name__}: {reason}"


def _masked(text: str, url: str) -> str:
    """Text without the URL or its path (a receiver may echo either back)."""
    path = urlparse(url).path
    text = text.replace(url, "***")
    return text.replace(path, "***") if len(path) > 1 else text


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:200] or "(empty body)"


def warn(message: str) -> None:
    """A warning on stderr, redacted."""
    print(f"warning: {redact(message)}", file=sys.stderr)
