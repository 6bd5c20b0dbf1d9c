"""The content hash of a table's source, as load_data records it (`sha256`), one definition.

A file hashes as its bytes. A folder or prefix of Parquet parts hashes as, for each part in
name order: its name relative to the prefix (length-prefixed), its listed size, its bytes.
So a copy of the same parts under another prefix hashes the same, and no other split of the
same bytes into parts does. load_data hashes while it copies; check_novelty hashes without
keeping the bytes (`content_sha256`).
"""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from components._shared.errors import DataError
from components._shared.input_checks import check_scheme
from components._shared.io.parts import Part, is_collection, local_copy, parquet_parts
from components._shared.io.s3 import stream_object


def part_header(uri: str, part: Part) -> bytes:
    """What a part adds to its collection's hash before its bytes: name and size."""
    root = uri.removeprefix("file://").rstrip("/")
    name = part.uri.removeprefix(root).lstrip("/").encode()
    return len(name).to_bytes(8, "big") + name + part.size.to_bytes(8, "big")


def check_size_read(part: Part, read: int) -> None:
    """Refuse a part whose bytes read are not the size it was listed with."""
    if read != part.size:
        raise DataError(
            f"cannot read {part.uri}: it was listed with {part.size} bytes but {read} were read; "
            "it changed while being read: run the step again once the writer has finished"
        )


def _stream(uri: str, sink: Callable[[bytes], object]) -> int:
    """Feed the bytes of one file or object to `sink`, keeping none; how many there were."""
    if uri.startswith("s3://"):
        return stream_object(uri, sink)
    sizes = []
    # A local file is read in place by the one local reader (its spool is unused).
    local_copy(uri, Path(os.devnull), lambda chunk: (sink(chunk), sizes.append(len(chunk))))
    return sum(sizes)


def content_sha256(uri: str) -> str:
    """The sha256 load_data would record for `uri` (a file, a folder or an S3 prefix).

    Memory holds one chunk at a time, whatever the size; nothing is written.

    Raises:
        DataError: No such file, folder or object, or no Parquet part under a prefix.
        ServiceError: S3 is not configured or does not answer.
    """
    check_scheme(uri)
    digest = hashlib.sha256()
    if not is_collection(uri):
        _stream(uri, digest.update)
        return digest.hexdigest()
    for part in parquet_parts(uri):
        digest.update(part_header(uri, part))
        check_size_read(part, _stream(part.uri, digest.update))
    return digest.hexdigest()
