"""Bearer tokens on the server and the sink (serve/auth.py): real processes, real files."""

import os
import subprocess
import time
import uuid

import pandas as pd
import pytest

from kfp_mlops.serve import auth
from kfp_mlops.serve.auth import TokenError, Tokens
from tests.conftest import GERMAN_CREDIT
from tests.serving import ROWS, Process, command, get, metric, post, register, unique_prefix

OLD, NEW = "old-" + "a" * 40, "new-" + "b" * 40


def _rotate(path, *tokens: str) -> None:
    """As the kubelet updates a mounted Secret: the new file swapped in whole."""
    staged = path.with_name(path.name + ".new")
    staged.write_text("".join(f"{t}\n" for t in tokens))
    os.replace(staged, path)


def test_tokens_from_a_file_refuse_what_is_missing_empty_or_short(tmp_path):
    with pytest.raises(TokenError, match="cannot read the token file"):
        Tokens(tmp_path / "none")
    (tmp_path / "empty").write_text("\n  \n")
    with pytest.raises(TokenError, match="holds no token; write one per line"):
        Tokens(tmp_path / "empty")
    (tmp_path / "short").write_text(f"{OLD}\nshort\n")
    with pytest.raises(TokenError, match=r"shorter than 16 characters on line\(s\) \[2\]"):
        Tokens(tmp_path / "short")


def test_tokens_accept_only_a_bearer_header_with_a_listed_token(tmp_path):
    path = tmp_path / "tokens"
    _rotate(path, OLD, NEW)  # an overlapping rotation: both accepted
    tokens = Tokens(path)
    assert tokens.accepts(f"Bearer {OLD}") and tokens.accepts(f"bearer {NEW}")
    for header in (None, "", OLD, f"Basic {OLD}", f"Bearer {OLD}x", f"Bearer {OLD[:-1]}",
                   "Bearer ", f"Bearer {OLD}\u00e9"):  # fmt: skip
        assert not tokens.accepts(header), header


def test_tokens_are_read_again_when_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "LOOK_SECONDS", 0.0)
    path = tmp_path / "tokens"
    _rotate(path, OLD)
    tokens = Tokens(path)
    assert tokens.accepts(f"Bearer {OLD}")
    _rotate(path, NEW)
    assert not tokens.accepts(f"Bearer {OLD}") and tokens.accepts(f"Bearer {NEW}")
    _rotate(path, "")  # broken mid-rotation: nobody, until it is fixed
    assert not tokens.accepts(f"Bearer {NEW}")
    _rotate(path, NEW)
    assert tokens.accepts(f"Bearer {NEW}")


def _until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


EVENT = {"Ce-Id": "e1", "Ce-Type": "org.kubeflow.serving.inference.request",
         "Ce-Inferenceservicename": "credit"}  # fmt: skip


def test_sink_with_a_token_file_answers_only_bearers_and_follows_a_rotation(stack, tmp_path):
    path = tmp_path / "tokens"
    _rotate(path, OLD)
    sink = Process(
        "log-sink", "--auth-token-file", str(path), ready="/healthz",
        env={"KFP_MLOPS_PREDICTION_LOG_URI": unique_prefix("auth")},
    )  # fmt: skip
    try:
        body = {"instances": ROWS}
        status, answer = post(sink.base, body, EVENT)
        assert status == 401 and "Authorization: Bearer <token>" in answer["error"]
        assert post(sink.base, body, EVENT | {"Authorization": f"Bearer {NEW}"})[0] == 401
        assert post(sink.base, body, EVENT | {"Authorization": f"Bearer {OLD}"})[0] == 200
        assert get(f"{sink.base}/healthz")[0] == 200  # probes and Prometheus need no token
        status, text = get(f"{sink.metrics_base}/metrics")
        assert status == 200 and metric(text, "kfp_mlops_serve_errors_total",
                                        reason="unauthorized") == 2  # fmt: skip
        _rotate(path, NEW)

        def old_refused() -> bool:
            headers = EVENT | {"Authorization": f"Bearer {OLD}"}
            return post(sink.base, body, headers)[0] == 401

        _until(old_refused, "the old token refused after the rotation")
        assert post(sink.base, body, EVENT | {"Authorization": f"Bearer {NEW}"})[0] == 200
    finally:
        code, err = sink.stop()
    assert code == 0, err
    assert "bearer token required" in err and OLD not in err and NEW not in err


def test_sink_with_an_unusable_token_file_refuses_to_start(stack, tmp_path):
    (tmp_path / "tokens").write_text("short\n")
    done = subprocess.run(
        command("log-sink", "--auth-token-file", str(tmp_path / "tokens"), "--port", "1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "shorter than 16 characters" in done.stderr and "openssl rand" in done.stderr


def test_server_with_a_token_file_predicts_only_for_bearers(stack, tmp_path):
    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    name = register(tmp_path, credit, f"auth-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "tokens"
    _rotate(path, NEW)
    server = Process("serve", f"models:/{name}/1", "--no-log", "--auth-token-file", str(path))
    try:  # readiness answered without a token: Process waited on /v2/health/ready
        url = f"{server.base}/v1/models/{name}:predict"
        assert post(url, {"instances": ROWS})[0] == 401
        assert post(url, {"instances": ROWS}, {"Authorization": f"Bearer {OLD}"})[0] == 401
        assert post(url, {"instances": ROWS}, {"Authorization": f"Bearer {NEW}"})[0] == 200
        assert get(f"{server.base}/v2/models/{name}")[0] == 401  # metadata is not health
    finally:
        code, err = server.stop()
    assert code == 0, err
