"""uvicorn's h11 protocol with deadlines for headers, bodies and idle keep-alive, and a cap.

uvicorn 0.54 only closes a connection that stays idle after a response (`timeout_keep_alive`),
and cancels even that at the first byte: a client that connects and sends nothing, or sends
its headers or its body a byte at a time, holds a socket and its buffers for ever. And its
`limit_concurrency` does not bound sockets: it answers 503 to *requests* once that many
connections are open, so idle sockets make every real client's request fail. This subclass
gives each connection one deadline per phase and keeps at most `max_connections` open.
"""

import contextlib
import json
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from kfp_mlops.serve.metrics import Metrics

HEADERS, IDLE, BODY = "header_timeout", "keep_alive_timeout", "body_timeout"
CAP = "max_connections"


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send each part of a request, and how many may connect."""

    header_seconds: float = 10.0  # request line and headers, from connect or first byte
    body_seconds: float = 30.0  # the whole body, from the end of the headers
    keep_alive_seconds: float = 5.0  # idle between requests on one connection
    max_connections: int = 1000


def guarded_protocol(limits: ConnectionLimits, metrics: Metrics | None) -> type[H11Protocol]:
    """The protocol class for `uvicorn.Config(http=...)`, counting closes in `metrics`."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits, "metrics": metrics})


class GuardedH11Protocol(H11Protocol):
    """One connection, with a deadline for the phase it is in: headers, idle or body.

    The phase is read from h11's state of the client after each event; while the app
    answers there is no deadline (the request is in; the app takes what it needs).
    """

    limits = ConnectionLimits()
    metrics: Metrics | None = None

    def connection_made(self, transport) -> None:
        """Start the header deadline; past the cap, close the connection idle longest."""
        super().connection_made(transport)
        self.phase, self.since, self.timer = None, self.loop.time(), None
        self._arm(HEADERS)
        if self.metrics is not None:
            self.metrics.connections.inc()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop this connection's deadline."""
        self._cancel()
        if self.metrics is not None:
            self.metrics.connections.dec()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed h11; the first byte after an idle spell starts the header deadline."""
        if self.phase == IDLE:
            self._arm(HEADERS)
        super().data_received(data)

    def handle_events(self) -> None:
        """Let uvicorn handle what arrived, then move the deadline to the phase it left."""
        super().handle_events()
        self._watch()

    def timeout_keep_alive_handler(self) -> None:
        """Close as uvicorn's own idle timer would, and count it."""
        self._close(IDLE)

    def _watch(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self.phase != BODY:
                self._arm(BODY)
        elif state is not h11.IDLE:
            self._cancel()
            self.phase = None
        elif self.phase not in (HEADERS, IDLE):
            self._arm(IDLE)  # a response went out (or the body ended after it)

    def _arm(self, phase: str) -> None:
        self._cancel()
        seconds = {
            HEADERS: self.limits.header_seconds,
            IDLE: self.limits.keep_alive_seconds,
            BODY: self.limits.body_seconds,
        }[phase]
        handler = self._body_timed_out if phase == BODY else self._close
        self.phase, self.since = phase, self.loop.time()
        self.timer = self.loop.call_later(seconds, handler, phase)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _close(self, reason: str) -> None:
        self._cancel()
        if self.transport.is_closing():
            return
        with contextlib.suppress(h11.LocalProtocolError):  # mid-message: just close
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()
        if self.metrics is not None:
            self.metrics.connections_closed.labels(reason).inc()

    def _body_timed_out(self, reason: str) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.transport.is_closing():
            self._send_408()
            # As connection_lost would: the app's next receive() is a disconnect, and its
            # own answer, if any, goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        self._close(reason)

    def _send_408(self) -> None:
        body = json.dumps({"error": (
            f"the request body did not arrive within {self.limits.body_seconds:g} s of its "
            "headers (--body-timeout-seconds); send it faster, or a smaller one"
        )}).encode()  # fmt: skip
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=408, headers=headers, reason=b"Request Timeout"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))

    def _make_room(self) -> None:
        """Close the connection idle longest (no request in flight), or this one."""
        # Closed ones stay in the set until connection_lost runs, a loop iteration later.
        open_ = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_) <= self.limits.max_connections:
            return
        waiting = [c for c in open_ if c is not self and c.phase in (HEADERS, IDLE)]
        victim = min(waiting, key=lambda c: c.since) if waiting else self
        victim._close(CAP)
