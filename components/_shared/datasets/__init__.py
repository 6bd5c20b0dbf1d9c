"""Dataset versions: immutable, content-addressed tables on S3, named `dataset://NAME@...`.

- `refs`: the reference syntax and where a version, its manifest and its tags live (no I/O).
- `catalog`: reading: names, versions, manifests, tags, references resolved and verified.
- `store`: adding versions (create-only) and moving tags (append-only); re-exports `catalog`.
- `describe`: a local table file's manifest facts; `streaming`: Parquet parts into one file.
"""

from components._shared.datasets.refs import SCHEME, Ref, parse_ref
from components._shared.datasets.store import add, add_file, read_verified, resolve

__all__ = ["SCHEME", "Ref", "add", "add_file", "parse_ref", "read_verified", "resolve"]
