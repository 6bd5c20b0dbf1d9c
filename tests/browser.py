"""A real headless Chromium driven over the DevTools protocol: open a page, say what went wrong.

`make monitoring-tools` installs Debian's `chromium`. The browser starts on 127.0.0.1 with
`--remote-debugging-port=0` and writes the port it chose to `DevToolsActivePort` in its profile
folder (so parallel runs never clash on a port). The protocol client is `websocket-client`,
already locked as a dependency of the `kubernetes` client, so no browser driver is added.

What counts as a problem on a page (our report pages hold no script and load nothing):
an uncaught exception (`Runtime.exceptionThrown`), any console call
(`Runtime.consoleAPICalled`), a browser log entry of level warning or error (`Log.entryAdded`:
failed loads, blocked content), and any request beyond the page itself
(`Network.requestWillBeSent`). Protocol reference: https://chromedevtools.github.io/devtools-protocol/
"""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websocket
from PIL import Image  # matplotlib's own dependency, locked

CHROMIUM = "/usr/bin/chromium"
INSTALL = "run `make monitoring-tools` (apt-get install chromium)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1400,1000",
)
WAIT_S = 30.0


@dataclass
class Opened:
    """What the browser saw on one page."""

    problems: list[str] = field(default_factory=list)
    svgs: list[dict] = field(default_factory=list)  # per <svg>: width, height, shapes, label
    screenshot: np.ndarray | None = None  # RGB pixels of the viewport

    def pixels_near(self, colour: str, tolerance: int = 24) -> int:
        """Screenshot pixels within `tolerance` per channel of a #rrggbb colour."""
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        close = np.abs(self.screenshot.astype(int) - rgb) <= tolerance
        return int(np.count_nonzero(close.all(axis=2)))


class Chromium:
    """One headless Chromium process and a DevTools connection to its page."""

    def __init__(self, profile: Path):
        if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
            raise RuntimeError(f"{CHROMIUM} is not installed; {INSTALL}")
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers share our group id: stopped together
        )
        self.socket = websocket.create_connection(
            self._page_url(), timeout=WAIT_S, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _page_url(self) -> str:
        deadline = time.monotonic() + WAIT_S
        port_file = self.profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode} at start")
            if port_file.exists() and port_file.read_text().strip():
                port = port_file.read_text().split()[0]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as reply:
                    pages = [t for t in json.load(reply) if t["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise RuntimeError(f"chromium did not open its DevTools port within {WAIT_S} s")

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def _wait_for(self, event: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {event} within {WAIT_S} s")
            self.events.append(json.loads(self.socket.recv()))

    def open(self, page: Path) -> Opened:
        """Load a local page and report its problems, its SVG elements and a screenshot."""
        url = page.resolve().as_uri()
        self.events = []
        self.call("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        svgs = self.call(
            "Runtime.evaluate",
            expression=_SVGS,
            returnByValue=True,
        )["result"]["value"]
        shot = self.call("Page.captureScreenshot", format="png")["data"]
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot))).convert("RGB"))
        return Opened(problems(self.events, url), json.loads(svgs), pixels)

    def close(self) -> None:
        """Stop the browser and every helper process it started (its own process group)."""
        try:
            self.socket.close()
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)


# Each <svg>'s rendered size, its drawn shapes and its accessible name, as the page lays them out.
_SVGS = """JSON.stringify([...document.querySelectorAll('svg')].map(s => {
  const r = s.getBoundingClientRect();
  return {width: r.width, height: r.height, role: s.getAttribute('role'),
          shapes: s.querySelectorAll('path, polyline, circle, line, rect').length,
          label: s.getAttribute('aria-label')};
}))"""


def problems(events: list[dict], url: str) -> list[str]:
    """Exceptions, console calls, warning/error log entries and requests beyond `url`."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            found.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled":
            said = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            found.append(f"console.{params['type']}: {said}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("warning", "error"):
            entry = params["entry"]
            found.append(f"log {entry['level']}: {entry['text']} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent" and params["request"]["url"] != url:
            found.append(f"request beyond the page: {params['request']['url']}")
    return found
