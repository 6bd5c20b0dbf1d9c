"""Dataset versions: immutable, content-addressed tables on S3, named `dataset://NAME@...`.

- `refs`: the reference syntax and where a version, its manifest and its tags live (no I/O).
- `catalog`: reading: names, versions, manifests, tags, references resolved and verified.
- `store`: adding versions (create-only) and moving tags (append-only); re-exports `catalog`.
- `describe`: a local table file's manifest facts; `streaming`: Parquet parts into one file.

Only the syntax is re-exported here: importing `refs` runs this file, and what only parses a
reference (a pipeline parameter, a label schema) should not pay for pyarrow. Import `store`
for the rest.
"""

from components._shared.datasets.refs import SCHEME, Ref, parse_ref

__all__ = ["SCHEME", "Ref", "parse_ref"]
