import pytest

from components._shared.redact import MASK, SECRET_ENVS, redact, redact_uri


def test_redact_uri_drops_user_and_password():
    assert redact_uri("http://alice:s3cr%40t@mlflow:5000/x") == f"http://{MASK}@mlflow:5000/x"
    assert redact_uri("https://token@host/path") == f"https://{MASK}@host/path"
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_redact_masks_credential_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "abcdefghijklmnop")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2hunter2")
    text = "denied for abcdefghijklmnop at http://u:hunter2hunter2@h:1 (hunter2hunter2)"
    out = redact(text)
    assert "abcdefghijklmnop" not in out and "hunter2hunter2" not in out
    assert out == f"denied for {MASK} at http://{MASK}@h:1 ({MASK})"


def test_redact_leaves_short_values_alone(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "key")
    assert redact("a key in a sentence") == "a key in a sentence"


def test_redact_masks_the_kfp_bearer_token(monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_TOKEN", "eyJhbGciOiJSUzI1NiJ9.kfp")
    assert (
        redact("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.kfp") == f"Authorization: Bearer {MASK}"
    )


def test_redact_masks_credentials_of_another_environment(monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    tasks_env = {"AWS_SECRET_ACCESS_KEY": "only-the-tasks-hold-this"}
    assert redact("echoed only-the-tasks-hold-this") == "echoed only-the-tasks-hold-this"
    assert redact("echoed only-the-tasks-hold-this", tasks_env) == f"echoed {MASK}"


def test_run_summary_masks_the_task_environment_credentials(monkeypatch):
    from kfp_mlops.runs.outputs import redacted

    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    summary = {"error": "S3 said no to only-the-tasks-hold-this", "gates": [{"x": "ok"}]}
    tasks_env = {"AWS_SECRET_ACCESS_KEY": "only-the-tasks-hold-this"}
    assert redacted(summary, tasks_env) == {
        "error": f"S3 said no to {MASK}",
        "gates": [{"x": "ok"}],
    }


# --- each kind of credential, and what must stay readable --------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("http://u:p@ss@minio:9000/b", f"http://{MASK}@minio:9000/b"),  # an unescaped "@"
        ('"s3://key:secret@bucket/x"', f'"s3://{MASK}@bucket/x"'),
        ("AWS_SECRET_ACCESS_KEY=abc/def+ghi123 region=x", f"AWS_SECRET_ACCESS_KEY={MASK} region=x"),
        ("aws_access_key_id: AKIA0000000000000000", f"aws_access_key_id: {MASK}"),
        ('{"password": "hunter22", "user": "u"}', f'{{"password": "{MASK}", "user": "u"}}'),
        ("GET /hook?token=abc123&x=1 failed", f"GET /hook?token={MASK} failed"),
        ("x-api-key: k-123", f"x-api-key: {MASK}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        ("authorization=Bearer eyJhbGciOi.x.y", f"authorization=Bearer {MASK}"),
        ("sent with bearer abcdefgh1234", f"sent with bearer {MASK}"),
        ("InvalidAccessKeyId AKIAIOSFODNN7EXAMPLE", f"InvalidAccessKeyId {MASK}"),
        ("slack said xoxb-1234-5678-abcdefgh", f"slack said {MASK}"),
        ("https://hooks.slack.com/services/T0/B0/xyz", f"https://hooks.slack.com/services/{MASK}"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-x", f"jwt {MASK}"),
    ],
)  # fmt: skip
def test_redact_masks_each_kind_of_credential_without_its_variable(monkeypatch, text, redacted):
    for name in SECRET_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert redact(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "run 3f2a9c1e-1b2c-4d5e-8f90-123456789abc, sha256 " + "a1" * 32,  # ids stay readable
        "MLflow run 0123456789abcdef0123456789abcdef",
        "Secret kfp-mlops-s3, secret_name: kfp-mlops-s3, key webhook_url",
        "max_tokens=5 token_count=3 basic checks passed",
        "http://127.0.0.1:5000/api/2.0 and user@example.com",
        "AWS_SECRET_ACCESS_KEY unset: set it in the Secret kfp-mlops-s3",
    ],
)
def test_redact_leaves_identifiers_and_plain_words_alone(monkeypatch, text):
    for name in SECRET_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert redact(text) == text


def test_redact_masks_the_webhooks_path_and_a_values_escaped_form(monkeypatch):
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", "https://hooks.example.com/in/tok-0123456789")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "p&ss<w>rd-12345")
    assert redact("404 for POST /in/tok-0123456789") == f"404 for POST {MASK}"
    assert redact("login p&amp;ss&lt;w&gt;rd-12345 refused") == f"login {MASK} refused"


def test_redact_is_idempotent(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "abcdefghijklmnop")
    once = redact("token=abcdefghijklmnop at http://u:abcdefghijklmnop@h Bearer abcdefghijklmnop")
    assert redact(once) == once
    assert once == f"token={MASK} at http://{MASK}@h Bearer {MASK}"
