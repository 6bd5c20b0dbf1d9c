"""Micro-batching: the batcher's core, and a real server answering concurrent requests."""

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.serve.batch import Batcher, predict_jobs, split, take
from kfp_mlops.serve.frame import build_frame
from kfp_mlops.serve.model import Prediction
from tests.conftest import GERMAN_CREDIT
from tests.serving import Process, get, metric, post, read_log, register, unique_prefix
from tests.test_register_model import FEATURES

THREADS, PER_THREAD = 16, 8


# -- the core, with a real predict function that records its calls -----------------------------


class Recorder:
    """A predict function: label = the row's `x`, probability = x / 10; raises on x == -1.

    Its first call can be held at a gate, so that requests queue up behind it deterministically.
    """

    def __init__(self, hold_first: bool = False):
        self.calls: list[list[int]] = []
        self.entered, self.gate = threading.Event(), threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, frame: pd.DataFrame) -> Prediction:
        self.calls.append(frame["x"].tolist())
        self.entered.set()
        self.gate.wait(timeout=60)
        if (frame["x"] == -1).any():
            raise ValueError("x = -1 breaks this model")
        xs = frame["x"].tolist()
        return Prediction(xs, [[1 - x / 10, x / 10] for x in xs])


def frame(*xs: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs)})


async def _burst(recorder: Recorder, firsts: list, rest: list, max_rows: int = 256):
    """Submit `firsts`, wait until the model runs them, submit `rest`, then open the gate."""
    batcher = Batcher(recorder, ThreadPoolExecutor(1), max_rows).start()

    def submit(f):
        return asyncio.ensure_future(batcher.submit(f))

    first = [submit(f) for f in firsts]
    while not recorder.entered.is_set():
        await asyncio.sleep(0.001)
    later = [submit(f) for f in rest]
    await asyncio.sleep(0)  # let the later requests queue
    recorder.gate.set()
    answers = await asyncio.gather(*first, *later, return_exceptions=True)
    await batcher.close()
    return batcher, answers


def test_split_cuts_labels_and_probabilities_back_in_order():
    answer = Prediction([1, 2, 3, 4], [[0.1], [0.2], [0.3], [0.4]])
    assert split(answer, [1, 3]) == [
        Prediction([1], [[0.1]]), Prediction([2, 3, 4], [[0.2], [0.3], [0.4]])
    ]  # fmt: skip
    assert split(Prediction([1, 2], None), [2]) == [Prediction([1, 2], None)]


def test_split_cuts_the_answer_arrays_the_log_takes_alike():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    answer = Prediction([0, 1, 0], proba.tolist(), proba.argmax(axis=1), proba)
    first, second = split(answer, [2, 1])
    assert first.codes.tolist() == [0, 1] and second.codes.tolist() == [0]
    assert second.proba.tolist() == [[0.6, 0.4]] == second.probabilities
    assert first.labels == first.codes.tolist()


def test_take_stops_before_max_rows_but_always_takes_one():
    class Job:
        def __init__(self, rows):
            self.frame = frame(*range(rows))

    queue = [Job(300), Job(2), Job(3)]
    assert [len(j.frame) for j in take(queue, 256)] == [300]  # one request above the cap
    assert [len(j.frame) for j in take(queue, 4)] == [2]
    assert [len(j.frame) for j in take(queue, 4)] == [3] and queue == []


def test_predict_jobs_isolates_the_request_that_breaks_the_model():
    recorder = Recorder()
    results = predict_jobs(recorder, [frame(1), frame(-1, 2), frame(3)])
    assert recorder.calls == [[1, -1, 2, 3], [1], [-1, 2], [3]]  # joined, then each alone
    assert results[0] == Prediction([1], [[0.9, 0.1]])
    assert isinstance(results[1], ValueError) and "x = -1 breaks" in str(results[1])
    assert results[2] == Prediction([3], [[0.7, 0.3]])


def test_batcher_predicts_requests_queued_behind_a_call_in_one_call():
    recorder = Recorder(hold_first=True)
    batcher, answers = asyncio.run(_burst(recorder, [frame(0)], [frame(1), frame(2, 3), frame(4)]))
    assert recorder.calls == [[0], [1, 2, 3, 4]]
    assert batcher.batches == 2
    assert [a.labels for a in answers] == [[0], [1], [2, 3], [4]]
    assert answers[2].probabilities == [[0.8, 0.2], [0.7, 0.3]]


def test_batcher_keeps_each_call_within_max_rows():
    recorder = Recorder(hold_first=True)
    rest = [frame(1), frame(2), frame(3), frame(4, 5)]
    _, answers = asyncio.run(_burst(recorder, [frame(0)], rest, max_rows=2))
    assert recorder.calls == [[0], [1, 2], [3], [4, 5]]
    assert [a.labels for a in answers] == [[0], [1], [2], [3], [4, 5]]


def test_batcher_fails_only_the_bad_request_of_a_batch():
    recorder = Recorder(hold_first=True)
    _, answers = asyncio.run(_burst(recorder, [frame(0)], [frame(1), frame(-1), frame(2)]))
    assert answers[0].labels == [0] and answers[1].labels == [1] and answers[3].labels == [2]
    assert isinstance(answers[2], ValueError)


@pytest.mark.parametrize(("wait", "calls"), [(0.0, [[0], [1, 2]]), (1.0, [[0, 1, 2]])])
def test_batcher_waits_for_company_only_when_told(wait, calls):
    async def scenario():
        recorder = Recorder()
        batcher = Batcher(recorder, ThreadPoolExecutor(1), wait_seconds=wait).start()
        first = asyncio.ensure_future(batcher.submit(frame(0)))
        await asyncio.sleep(0)  # the worker wakes for the first request (and takes it, or waits)
        later = [asyncio.ensure_future(batcher.submit(frame(x))) for x in (1, 2)]
        await asyncio.gather(first, *later)
        await batcher.close()
        return recorder.calls

    assert asyncio.run(scenario()) == calls


def test_batcher_close_answers_everything_queued_then_refuses():
    async def scenario():
        recorder = Recorder(hold_first=True)
        batcher = Batcher(recorder, ThreadPoolExecutor(1)).start()
        pending = [asyncio.ensure_future(batcher.submit(frame(x))) for x in range(5)]
        while not recorder.entered.is_set():
            await asyncio.sleep(0.001)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0)
        recorder.gate.set()
        await closing
        with pytest.raises(RuntimeError, match="shutting down"):
            await batcher.submit(frame(9))
        return [p.result().labels for p in pending]

    assert asyncio.run(scenario()) == [[0], [1], [2], [3], [4]]


# -- a real server under concurrent load --------------------------------------------------------


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT).head(300)


@pytest.fixture(scope="module")
def model_name(stack, tmp_path_factory, credit) -> str:
    return register(tmp_path_factory.mktemp("batch"), credit, f"batch-{uuid.uuid4().hex[:6]}")


def _rows(credit: pd.DataFrame, n: int) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in credit[FEATURES].head(n).to_dict("records")]  # fmt: skip


def _request(base: str, name: str, rows: list[dict], request_id: str, v2: bool):
    """One request by V1 (x-request-id) or V2 (id); (status, labels, probabilities or error)."""
    if not v2:
        url = f"{base}/v1/models/{name}:predict"
        status, body = post(url, {"instances": rows}, {"x-request-id": request_id})
        if status != 200:
            return status, body, None
        return status, body["predictions"], body["probabilities"]
    inputs = [{"name": n, "shape": [len(rows)], "datatype": "BYTES" if n in ("sex", "housing")
               else "INT64", "data": [r[n] for r in rows]} for n in FEATURES]  # fmt: skip
    status, body = post(f"{base}/v2/models/{name}/infer", {"id": request_id, "inputs": inputs})
    if status != 200:
        return status, body, None
    assert body["id"] == request_id
    labels, proba = body["outputs"]
    width = proba["shape"][1]
    data = proba["data"]
    return status, labels["data"], [data[i : i + width] for i in range(0, len(data), width)]


def _burst_requests(base, name, rows, bad_at=None, stop_after=None, stopped=None):
    """THREADS threads x PER_THREAD single-row requests; answers by request id."""
    answers, lock = {}, threading.Lock()

    def worker(t: int):
        for k in range(PER_THREAD):
            i = (t * PER_THREAD + k) % len(rows)
            row = dict(rows[i])
            if (t, k) == bad_at:
                row["duration"] = "long"
            request_id = f"t{t}-k{k}-row{i}"
            try:
                answer = _request(base, name, [row], request_id, v2=t % 2 == 1)
            except OSError as exc:  # the server stopped listening (the SIGTERM test)
                answer = (None, repr(exc), None)
            with lock:
                answers[request_id] = (i, *answer)
                if stop_after is not None and len(answers) == stop_after:
                    stopped()

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return answers


def _alone(model_name: str, rows: list[dict]) -> list[Prediction]:
    """What the registered model gives each row alone, predicted in this process."""
    from kfp_mlops.serve.model import load_served

    served = load_served(f"models:/{model_name}/1")
    return [served.predict(build_frame({k: [v] for k, v in r.items()}, served.schema))
            for r in rows]  # fmt: skip


def test_concurrent_requests_get_their_own_answers_metrics_and_log_rows(model_name, credit):
    rows = _rows(credit, 40)
    prefix = unique_prefix("batch")
    server = Process(
        "serve", f"models:/{model_name}/1", "--log-flush-seconds", "600", "--max-batch-rows", "8",
        env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    try:
        answers = _burst_requests(server.base, model_name, rows, bad_at=(5, 3))
        text = get(f"{server.base}/metrics")[1]
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert len(answers) == THREADS * PER_THREAD
    bad = answers.pop(f"t5-k3-row{(5 * PER_THREAD + 3) % len(rows)}")
    assert bad[1] == 400
    assert bad[2]["error"] == "column 'duration' expects integer values, got 'long' (str) in row 0"
    expected = _alone(model_name, rows)
    for request_id, (i, status, labels, proba) in answers.items():
        assert status == 200, (request_id, labels)
        assert labels == expected[i].labels, request_id
        assert proba == expected[i].probabilities, request_id

    ok = len(answers)
    assert metric(text, "kfp_mlops_serve_prediction_rows_total", model=model_name) == ok
    assert metric(text, "kfp_mlops_serve_batch_requests_sum") == ok  # the 400 never queued
    assert metric(text, "kfp_mlops_serve_batch_requests_count") <= ok
    assert metric(text, "kfp_mlops_serve_batch_requests_bucket", le="8.0") == (
        metric(text, "kfp_mlops_serve_batch_requests_count")
    )  # no call above --max-batch-rows 8 (every request holds one row)
    per_route = THREADS // 2 * PER_THREAD  # even threads call V1, odd ones V2 (t5: the bad one)
    ok_v1 = ("/v1/models/{name}:predict", per_route)
    for route, count in (ok_v1, ("/v2/models/{name}/infer", per_route - 1)):
        assert metric(text, "kfp_mlops_serve_requests_total", route=route, status="200") == count
    assert metric(text, "kfp_mlops_serve_requests_total", route=ok_v1[0], status="400") == 0

    log = pd.concat(read_log(prefix).values(), ignore_index=True)
    assert sorted(log["request_id"]) == sorted(answers)  # each exactly once, the bad one absent
    for request_id, (i, _, labels, proba) in answers.items():
        logged = log[log["request_id"] == request_id].iloc[0]
        assert logged["prediction"] == labels[0] and logged["proba_1"] == proba[0][1]
        assert logged["credit_amount"] == rows[i]["credit_amount"]


def test_serve_refuses_a_negative_batch_wait(cli):
    code, _, err = cli("serve", "models:/m/1", "--batch-wait-ms", "-1")
    assert code == 2 and "--batch-wait-ms -1.0 must be 0 or above" in err


def test_sigterm_under_load_loses_no_log_row(model_name, credit):
    rows = _rows(credit, 20)
    prefix = unique_prefix("batch-term")
    server = Process(
        "serve", f"models:/{model_name}/1", "--log-flush-seconds", "600",
        env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    done = {}

    def stop():  # from a worker thread once a third of the requests were answered
        threading.Thread(target=lambda: done.setdefault("stop", server.stop())).start()

    try:
        answers = _burst_requests(server.base, model_name, rows, stop_after=40, stopped=stop)
    finally:
        for _ in range(600):
            if "stop" in done:
                break
            threading.Event().wait(0.1)
        code, err = done.get("stop") or server.stop()
    assert code == 0, err
    answered = {rid for rid, (_, status, *_) in answers.items() if status == 200}
    assert len(answered) >= 40
    log = pd.concat(read_log(prefix).values(), ignore_index=True)
    counts = log["request_id"].value_counts()
    assert answered <= set(counts.index)  # every answered request's row was written
    assert (counts == 1).all()  # and none twice
    assert set(counts.index) <= set(answers)
