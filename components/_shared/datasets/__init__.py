"""Dataset versions: immutable, content-addressed tables on S3, named `dataset://NAME@...`.

- `refs`: the reference syntax and where a version, its manifest and its tags live (no I/O).
- `store`: adding versions (create-only), moving tags (append-only), resolving and reading
  a reference with its hash verified.
"""

from components._shared.datasets.refs import SCHEME, Ref, parse_ref
from components._shared.datasets.store import add, read_verified, resolve

__all__ = ["SCHEME", "Ref", "add", "parse_ref", "read_verified", "resolve"]
