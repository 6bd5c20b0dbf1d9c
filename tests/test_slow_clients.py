"""Slow and silent clients are cut off by a real `kfp-mlops log-sink` (and `serve`): raw sockets."""

import socket
import threading
import time
import uuid

import pandas as pd
import pytest

from kfp_mlops.cli.main import main
from tests.conftest import GERMAN_CREDIT
from tests.serving import ROWS, Process, get, metric, post, register, unique_prefix

HEADER_S, BODY_S, KEEP_ALIVE_S, MAX_CONNECTIONS = 1, 2, 1, 20
MARGIN_S = 5  # generous: "closed within the timeout", not a measure of speed
FLAGS = (
    "--header-timeout-seconds", str(HEADER_S), "--body-timeout-seconds", str(BODY_S),
    "--keep-alive-seconds", str(KEEP_ALIVE_S), "--max-connections", str(MAX_CONNECTIONS),
)  # fmt: skip
# A payload-logger event whose body declares 1000 bytes; the tests send a few, then stall.
STALLED_EVENT = (
    b"POST / HTTP/1.1\r\nHost: sink\r\nCe-Id: stalled\r\n"
    b"Ce-Type: org.kubeflow.serving.inference.request\r\nCe-Inferenceservicename: credit\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
)


@pytest.fixture(scope="module")
def sink(stack):
    proc = Process(
        "log-sink", *FLAGS, env={"KFP_MLOPS_PREDICTION_LOG_URI": unique_prefix("slow")},
        ready="/healthz",
    )  # fmt: skip
    yield proc
    code, err = proc.stop()
    assert code == 0, err
    assert "Traceback" not in err, err


def connect(proc: Process) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proc.port), timeout=HEADER_S + MARGIN_S)


def read_until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes; fails if it is still open after `within`."""
    deadline, received = time.monotonic() + within, b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if chunk == b"":
            return received
        received += chunk
    raise AssertionError(f"the server kept the connection open {within} s; got {received!r}")


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) off a kept-alive connection."""
    sock.settimeout(MARGIN_S)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed(proc: Process, reason: str) -> float:
    text = get(f"{proc.metrics_base}/metrics")[1]
    return metric(text, "kfp_mlops_serve_connections_closed_total", reason=reason)


def healthy(proc: Process) -> bool:
    return get(f"{proc.base}/healthz") == (200, {"live": True})


def event(proc: Process) -> tuple[int, object]:
    headers = {"Ce-Id": uuid.uuid4().hex, "Ce-Type": "org.kubeflow.serving.inference.request"}
    return post(proc.base, {"instances": ROWS}, headers)


def slowloris(sock: socket.socket, request: bytes, every: float = 0.5) -> bool:
    """Send one byte per `every` seconds; True once the server has closed the connection."""
    for byte in request:
        try:
            sock.sendall(bytes([byte]))
            sock.settimeout(every)
            if sock.recv(1) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset or broken pipe: closed
            return True
    return False


# -- the flags ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "log-sink"])
@pytest.mark.parametrize(
    "flag, value",
    [
        ("--header-timeout-seconds", "0"),
        ("--body-timeout-seconds", "-1"),
        ("--keep-alive-seconds", "nan"),
        ("--max-connections", "0"),
    ],
)
def test_slow_clients_non_positive_flag_is_a_usage_error(command, flag, value, capsys):
    args = [command, "models:/m@champion"] if command == "serve" else [command]
    assert main([*args, flag, value]) == 2
    assert f"argument {flag}: {value} is not a" in capsys.readouterr().err


# -- the log sink ---------------------------------------------------------------------------


def test_slow_clients_silent_connection_is_closed_after_the_header_timeout(sink):
    before = closed(sink, "header_timeout")
    with connect(sink) as sock:
        assert read_until_closed(sock, HEADER_S + MARGIN_S) == b""
    assert closed(sink, "header_timeout") == before + 1


def test_slow_clients_slowloris_headers_are_cut_off(sink):
    request = b"GET /healthz HTTP/1.1\r\nHost: sink\r\nX-Padding: " + b"a" * 60 + b"\r\n\r\n"
    with connect(sink) as sock:
        start = time.monotonic()
        assert slowloris(sock, request), "every header byte was taken, one per 0.5 s"
        assert time.monotonic() - start < HEADER_S + MARGIN_S


def test_slow_clients_stalled_body_gets_408_then_close(sink):
    before = closed(sink, "body_timeout")
    with connect(sink) as sock:
        start = time.monotonic()
        sock.sendall(STALLED_EVENT + b'{"instance')
        answer = read_until_closed(sock, BODY_S + MARGIN_S)
        waited = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 ") and b"connection: close" in answer
    assert b"--body-timeout-seconds" in answer
    assert waited >= BODY_S  # the body was waited for, not refused on sight
    assert closed(sink, "body_timeout") == before + 1


def test_slow_clients_idle_keep_alive_connection_is_closed(sink):
    before = closed(sink, "keep_alive_timeout")
    request = b"GET /healthz HTTP/1.1\r\nHost: sink\r\n\r\n"
    with connect(sink) as sock:
        for _ in range(2):  # kept alive between two prompt requests
            sock.sendall(request)
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        assert read_until_closed(sock, KEEP_ALIVE_S + MARGIN_S) == b""
    assert closed(sink, "keep_alive_timeout") == before + 1


def test_slow_clients_idle_flood_past_max_connections_does_not_lock_out(sink):
    before = closed(sink, "max_connections")
    busy = connect(sink)  # a request in flight is never the one closed to make room
    busy.sendall(STALLED_EVENT[:-2] + b"Expect: 100-continue\r\n\r\n")
    assert busy.recv(65536).startswith(b"HTTP/1.1 100 ")  # its headers are in: it is busy
    busy.sendall(b"{")
    idle = [connect(sink) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        assert healthy(sink)  # a fresh client makes room: the oldest idle one is closed
        assert event(sink)[0] == 200
        evicted = closed(sink, "max_connections") - before
        assert evicted >= 2 * MAX_CONNECTIONS
        open_now = metric(get(f"{sink.metrics_base}/metrics")[1], "kfp_mlops_serve_connections")
        assert open_now <= MAX_CONNECTIONS
        assert read_until_closed(busy, BODY_S + MARGIN_S).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in (busy, *idle):
            sock.close()
    assert healthy(sink)


def test_slow_clients_do_not_starve_a_normal_client(sink):
    silent, trickling, stalled = connect(sink), connect(sink), connect(sink)
    stalled.sendall(STALLED_EVENT + b"{")
    loris = threading.Thread(target=slowloris, args=(trickling, b"GET / HTTP/1.1\r\n" * 4))
    loris.start()
    try:
        for _ in range(5):
            start = time.monotonic()
            assert healthy(sink) and event(sink)[0] == 200
            assert time.monotonic() - start < MARGIN_S
        assert read_until_closed(silent, HEADER_S + MARGIN_S) == b""
        assert read_until_closed(stalled, BODY_S + MARGIN_S).startswith(b"HTTP/1.1 408 ")
    finally:
        loris.join()
        for sock in (silent, trickling, stalled):
            sock.close()


# -- the model server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(stack, tmp_path_factory):
    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    name = register(tmp_path_factory.mktemp("slow"), credit, f"slow-{uuid.uuid4().hex[:6]}")
    proc = Process("serve", f"models:/{name}@champion", *FLAGS, "--no-log")
    yield proc, name
    code, err = proc.stop()
    assert code == 0, err


def test_slow_clients_model_server_closes_silent_and_408s_stalled_body(server):
    proc, name = server
    with connect(proc) as sock:
        assert read_until_closed(sock, HEADER_S + MARGIN_S) == b""
    head = (
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: serve\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with connect(proc) as sock:
        sock.sendall(head.encode() + b'{"inputs": [')
        assert read_until_closed(sock, BODY_S + MARGIN_S).startswith(b"HTTP/1.1 408 ")
    assert closed(proc, "header_timeout") == 1 and closed(proc, "body_timeout") == 1
    assert post(f"{proc.base}/v1/models/{name}:predict", {"instances": ROWS})[0] == 200
