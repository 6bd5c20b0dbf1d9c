"""The sink's partition schemas from the registry: the input types MLflow recorded at training.

The sink has no model of its own. Without this, a model's day takes its schema from its
first pair, typed by what the payload says (a V1 number without a decimal point is an
integer); with it, the input columns have the registered version's signature types, as the
server's files do, and a pair that disagrees is set aside. Looked up on the writer thread
(never on the request path), once per model version. A version the registry does not know
(or a registry that does not answer) is asked again after `retry_seconds`, for the next
partition that needs it; a partition whose schema was learned from its first pair meanwhile
keeps it for its day (its files stay one schema). A registry that hangs costs the writer at
most one request timeout (30 s, registry.client.CLIENT_ENV) per model version per `retry_seconds`.
"""

import logging
import time
from collections.abc import Callable

import pyarrow as pa

from components._shared.logformat import KIND_TYPES, LEADING, META_TYPES
from components._shared.redact import redact

log = logging.getLogger("kfp_mlops.serve")
Lookup = Callable[[str, str], list[tuple[str, str]] | None]


def registered_inputs(model: str, version: str) -> list[tuple[str, str]] | None:
    """(name, kind) of the registered version's signature inputs, or None when it has none.

    Raises:
        ServiceError: MLflow does not answer, or answers with an error (no such version).
        DataError: A signature type the server does not take.
    """
    from components._shared.registry.champion import signature_inputs
    from components._shared.registry.inputs import signature_kinds

    where = f"models:/{model}/{version}"
    inputs = signature_inputs(where)
    if not inputs:
        return None
    return list(signature_kinds(inputs, where).items())


class RegistrySchemas:
    """`resolve(model, table)`: the partition schema for a model's first table of a day."""

    def __init__(self, lookup: Lookup = registered_inputs, retry_seconds: float = 60.0):
        self.lookup, self.retry_seconds = lookup, retry_seconds
        self._known: dict[tuple[str, str], list[tuple[str, str]] | None] = {}
        self._missing: dict[tuple[str, str], float] = {}  # when to ask again

    def inputs(self, model: str, version: str) -> list[tuple[str, str]] | None:
        """The version's inputs, cached; None while the registry cannot say."""
        key = (model, version)
        if key in self._known:
            return self._known[key]
        if self._missing.get(key, 0.0) > time.monotonic():
            return None
        try:
            found = self.lookup(model, version)
        except Exception as exc:  # no such version, MLflow down: learn from the pair for now
            log.warning("log sink: no signature for %r version %r: %s", model, version,
                        redact(exc)[:200])  # fmt: skip
            self._missing[key] = time.monotonic() + self.retry_seconds
            return None
        self._known[key] = found
        return found

    def __call__(self, model: str, table: pa.Table) -> pa.Schema | None:
        """The schema of `model`'s partition: its signature's inputs, the table's outputs."""
        if "model_version" not in table.column_names:
            return None
        versions = table.column("model_version").drop_null()
        if not len(versions):
            return None
        inputs = self.inputs(model, str(versions[0].as_py()))
        if inputs is None:
            return None
        names = {n for n, _ in inputs}
        fields = [pa.field(n, META_TYPES[n]) for n in LEADING]
        fields += [pa.field(n, KIND_TYPES[k]) for n, k in inputs]
        fields += [f for f in table.schema if f.name not in META_TYPES and f.name not in names]
        fields.append(pa.field("latency_seconds", META_TYPES["latency_seconds"]))
        return pa.schema(fields)
