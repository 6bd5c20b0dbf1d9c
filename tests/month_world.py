"""A simulated month of production for the month-in-the-life test (tests/test_month_in_the_life.py).

Each day, applicants drawn from the German credit data ask for a prediction; the champion of
that day answers (loaded as the server loads it: signed, sha-checked, through
kfp_mlops.serve.model.load_served), and the requests are written to the prediction log for
that day, in the log's real format, through the server's own encoder (LoggedRequest →
logtable.request_table → LogStore.put_table under logformat.partition). The true outcome of
each application becomes known 1 to 4 days later: the labels that arrive on a day are one
label file of that day.

Days 1 to 10 are the bundled data as it is. From day 11 the world shifts (SHIFT_DAY): larger,
longer credits to older applicants (tests/test_closed_loop.py's `_shifted`), and the rule
deciding who repays changes with it (`shifted_label`): the old champion's accuracy on the new
world is about 0.66, below the performance bound of 0.7, and a model trained on the new
world's labelled rows can learn the rule.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from tests.conftest import GERMAN_CREDIT

TARGET = "risk"
START = date(2026, 10, 1)  # day 1; every day of the month is in the past
SHIFT_DAY = 11
ROWS_PER_DAY = 150
REQUEST_ROWS = 10  # instances per request: 15 requests a day, labels need their `row`
LABEL_DELAYS = (1, 2, 3, 4)  # days from a prediction to its label, drawn uniformly
LABEL_SCHEMA = "credit-risk@v1"


def day(n: int) -> str:
    """The date of day `n` (1-based) as YYYY-MM-DD."""
    return (START + timedelta(days=n - 1)).isoformat()


def shifted_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """Production after the shift: 5 of the 9 inputs move (past the 0.5 drift share)."""
    shifted = frame.copy()
    shifted["credit_amount"] = shifted["credit_amount"] * 3 + 5000
    shifted["duration"] = shifted["duration"] + 40
    shifted["age"] = shifted["age"] + 30
    shifted["housing"] = "free"
    shifted["saving_accounts"] = "rich"
    return shifted


def shifted_label(frame: pd.DataFrame) -> pd.Series:
    """Who repays after the shift, from the applicant's original inputs.

    Credits of at most 24 months from applicants whose checking account is not `little`.
    Chosen because it is learnable from the shifted inputs and a model of it passes the
    fairness gate (demographic parity by sex about 0.06), while the champion trained on the
    bundled data gets about 0.66 of it right.
    """
    return ((frame["duration"] <= 24) & (frame["checking_account"] != "little")).astype(int)


def traffic(n: int, rng: np.random.Generator, rows: int = ROWS_PER_DAY) -> pd.DataFrame:
    """Day n's applications: the model's inputs and the true `risk` (known only later)."""
    source = pd.read_csv(GERMAN_CREDIT)
    drawn = source.iloc[rng.choice(len(source), size=rows, replace=False)].reset_index(drop=True)
    if n < SHIFT_DAY:
        return drawn
    inputs = shifted_inputs(drawn.drop(columns=[TARGET]))
    return inputs.assign(**{TARGET: shifted_label(drawn)})


def _plain(values: list) -> list:
    """Cells as JSON would give them to the server: NaN as None, numpy scalars as Python."""
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    return [None if isinstance(v, float) and np.isnan(v) else v for v in plain]


@dataclass
class World:
    """The month's production: the log under `log_prefix`, the labels under `labels_prefix`.

    Args:
        model: The registered model name the traffic is for.
        log_prefix: The prediction log's prefix (s3://BUCKET/path/), as the server's
            KFP_MLOPS_PREDICTION_LOG_URI.
        labels_prefix: Where label files go, one per arrival day.
        seed: The world's randomness (traffic, request times, label delays).
    """

    model: str
    log_prefix: str
    labels_prefix: str
    seed: int = 20
    rows_per_day: int = ROWS_PER_DAY
    rng: np.random.Generator = field(init=False)
    pending: dict[int, list[dict]] = field(init=False, default_factory=lambda: defaultdict(list))
    served_by: dict[int, int] = field(init=False, default_factory=dict)  # day -> version
    _loaded: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    @property
    def model_log(self) -> str:
        """The model's log prefix: what current_uri and predictions_uri name."""
        from components._shared.logformat import segment

        return f"{self.log_prefix.rstrip('/')}/{segment(self.model)}/"

    def champion(self):
        """The champion as the server loads it (signature and sha256 checked), cached by version."""
        from components._shared.registry.champion import load_model_uri
        from kfp_mlops.serve.model import load_served

        found = load_model_uri(f"models:/{self.model}@champion")
        assert found is not None, f"{self.model} has no champion to serve"
        if found.version not in self._loaded:
            self._loaded[found.version] = load_served(f"models:/{self.model}/{found.version}")
        return self._loaded[found.version]

    def serve(self, n: int) -> pd.DataFrame:
        """Day n's traffic answered by today's champion and written to day n's log partition.

        Returns the day's rows with request_id, row, time, prediction and the true label;
        each label is queued for its arrival day (`deliver`).
        """
        import pyarrow as pa

        from components._shared.logformat import output_names, partition
        from kfp_mlops.serve.frame import checked_rows
        from kfp_mlops.serve.logrows import log_entry
        from kfp_mlops.serve.logstore import LogStore
        from kfp_mlops.serve.logtable import concat, conform, request_table

        served = self.champion()
        self.served_by[n] = served.version
        frame = traffic(n, self.rng, self.rows_per_day)
        names = (tuple(served.schema.names), output_names(served.classes))
        types, schema = served.log_types(), served.log_schema()
        classes = pa.array(served.classes) if served.classes else None
        midnight = datetime.fromisoformat(day(n)).replace(tzinfo=UTC)
        seconds = np.sort(self.rng.integers(8 * 3600, 20 * 3600, size=len(frame)))
        parts, answered = [], []
        for start in range(0, len(frame), REQUEST_ROWS):
            chunk = frame.iloc[start : start + REQUEST_ROWS]
            columns = {c: _plain(chunk[c].tolist()) for c in served.schema.names}
            answer = served.predict(checked_rows(columns, served.schema))
            when = midnight + timedelta(seconds=int(seconds[start]))
            request_id = f"{day(n)}-{start // REQUEST_ROWS:03d}-{self.rng.integers(1 << 32):08x}"
            entry = log_entry(
                request_id, when, (served.registered_name, str(served.version)), names,
                columns, answer, 0.002, classes, types,
            )  # fmt: skip
            parts.append(entry if isinstance(entry, pa.Table) else request_table([entry], types))
            for row, (truth, predicted) in enumerate(
                zip(chunk[TARGET], answer.labels, strict=True)
            ):
                answered.append(
                    {"request_id": request_id, "row": row, "time": when,
                     "prediction": predicted, "label": int(truth)}
                )  # fmt: skip
        store = LogStore(self.log_prefix)
        store.put_table(partition(store.path, served.registered_name, day(n)),
                        concat([conform(p, schema) for p in parts]))  # fmt: skip
        for done in answered:
            delay = int(self.rng.choice(LABEL_DELAYS))
            known = done["time"] + timedelta(days=delay, hours=1)
            self.pending[n + delay].append(
                {"request_id": done["request_id"], "label": done["label"],
                 "time": known.strftime("%Y-%m-%dT%H:%M:%SZ"), "row": done["row"],
                 "schema_version": LABEL_SCHEMA}
            )  # fmt: skip
        return pd.DataFrame(answered)

    def deliver(self, n: int) -> int:
        """Write the labels that arrive on day n as one CSV file; how many arrived."""
        import io

        from components._shared.io import s3_client

        arrived = self.pending.pop(n, [])
        if not arrived:
            return 0
        data = pd.DataFrame(arrived).to_csv(index=False).encode()
        bucket, _, path = self.labels_prefix.removeprefix("s3://").partition("/")
        key = f"{path.strip('/')}/arrived={day(n)}.csv"
        s3_client().put_object(bucket, key, io.BytesIO(data), len(data), "text/csv")
        return len(arrived)
