from components._shared.redact import MASK, redact, redact_uri


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
