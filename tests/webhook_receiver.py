"""A real HTTP webhook receiver on 127.0.0.1 (a thread), answering what a test scripts.

Notify's tests script its answers (a status, a redirect, a stall past the client's
timeout); the alerting tests wait for what Alertmanager posts.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A Slack-like path: the token is in it, so it must never be printed.
TOKEN = "T0000000/B0000000/notify-test-token-xyz123456"


def redirect(to: str, status: int = 302) -> tuple[int, dict[str, str], str]:
    """A scripted answer sending the client on to `to`."""
    return status, {"Location": to}, f"moved to {to}"


def stall(seconds: float) -> tuple[int, dict[str, str], str]:
    """A scripted answer that holds the request `seconds` (or until close), then hangs up."""
    return -1, {"stall": str(seconds)}, ""


class WebhookReceiver:
    """Records every POST; answers each with the next scripted (status, headers, body).

    Each record: path, JSON body, `time` (monotonic) and `arrived` (time.time()).
    """

    def __init__(self):
        self.requests: list[dict] = []
        self._script: list[tuple[int, dict[str, str], str]] = []
        self._lock = threading.Condition()
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "body": json.loads(raw),
                            "time": time.monotonic(),
                            "arrived": time.time(),
                        }
                    )
                    receiver._lock.notify_all()
                    status, headers, text = (
                        receiver._script.pop(0) if receiver._script else (200, {}, "ok")
                    )
                if status == -1:  # stall: no answer at all, then the connection is dropped
                    receiver._closing.wait(float(headers["stall"]))
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = f"/services/{TOKEN}") -> str:
        """The webhook URL (with the secret token in its path)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, *answers: tuple[int, dict[str, str], str]) -> None:
        """Answer the next requests with these, then 200."""
        with self._lock:
            self._script = list(answers)
            self.requests.clear()

    def wait(self, find, timeout_s: float):
        """Wait until `find(requests)` returns something other than None; return it.

        Raises:
            TimeoutError: Nothing found within timeout_s.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while (found := find(list(self.requests))) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"nothing found in {timeout_s} s")
                self._lock.wait(left)
            return found

    def close(self) -> None:
        """Stop serving (stalled requests are let go)."""
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
