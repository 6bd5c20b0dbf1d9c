"""The label files a training set is made from, each with its hash."""

import hashlib

import pandas as pd

from components._shared.io.parts import is_collection
from components._shared.io.whole import read_bytes
from components._shared.labels.read import label_files, read_labels


def read_label_files(uri: str) -> tuple[pd.DataFrame, list[dict]]:
    """Every label row under `uri` (with its schema_version), and each file with its sha256.

    Label files are small beside the log: each is read once to hash it and once to parse it.

    Raises:
        DataError: No such file, a prefix without CSV/Parquet files, an unreadable file.
    """
    files = label_files(uri) if is_collection(uri) else [uri]
    sources = []
    for file in files:
        digest = hashlib.sha256(read_bytes(file)).hexdigest()
        sources.append({"uri": file, "sha256": digest, "kind": "labels"})
    return read_labels(uri), sources
