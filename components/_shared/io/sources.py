"""Tables read in record batches: a Parquet file, a folder or S3 prefix of parts, or a CSV.

`open_source` gives what detect_drift reads and load_data copies: Parquet (local or on S3, one
file or many) is opened by its footers only, then read in record batches of the selected
columns, one row group at a time, so memory does not grow with the rows. S3 objects are read
with ranged GETs (only the footers and the selected columns' chunks travel). A CSV up to
MAX_WHOLE_CSV_BYTES is read whole; a larger local one is parsed block by block (its row count
is then known only once read).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components._shared.errors import DataError
from components._shared.io.s3 import PARQUET_SUFFIXES, S3RangeFile

# components._shared.io.whole (CSV) is imported where used: it brings pandas, which reading
# Parquet does not need; so is pyarrow.compute (~50 ms of a 1 s drift run, for a filter only
# the leave-out reads use).

# Record batches of at most this many rows: memory is bounded by it, not by the rows.
BATCH_ROWS = 1 << 18
PARQUET_MAGIC = b"PAR1"
# A local CSV up to this size is read whole (pandas, as load_data reads it); a larger one is
# streamed in blocks, with column types inferred from its first block.
MAX_WHOLE_CSV_BYTES = 256 << 20
CSV_BLOCK_BYTES = 16 << 20


def family(arrow_type: pa.DataType) -> str:
    """The kind of a column: numeric, bool, text, datetime, or the type's own name."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numeric"
    if pa.types.is_temporal(arrow_type):
        return "datetime"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_string_view(arrow_type):
        return "text"
    return str(arrow_type)


def _is_parquet_file(path: Path) -> bool:
    # KFP artifact paths have no suffix: recognise Parquet by its magic bytes.
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with path.open("rb") as handle:
        return handle.read(4) == PARQUET_MAGIC


def require_columns(names: list[str], columns: list[str] | None, label: str, uri: str) -> None:
    """A DataError naming the first requested column the data lacks, and every column it has."""
    for name in columns or []:
        if name not in names:
            raise DataError(
                f"column {name!r} is missing from the {label} data ({uri}), which has columns "
                f"{names}; compare a subset with columns=[...] (--columns)"
            )


@dataclass
class TableSource:
    """A dataset already in memory (a DataFrame or an Arrow table)."""

    data: pa.Table
    uri: str = "<table>"

    @property
    def schema(self) -> pa.Schema:
        """Column names and types."""
        return self.data.schema

    @property
    def num_rows(self) -> int:
        """Rows in the dataset."""
        return self.data.num_rows

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns."""
        return self.data.select(columns)

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The selected columns in batches of at most BATCH_ROWS rows."""
        return iter(self.data.select(columns).to_batches(max_chunksize=BATCH_ROWS))


@dataclass
class ParquetSource:
    """One or more Parquet files (local or S3) read as one dataset, selected columns only.

    Attributes:
        uri: The file, folder or prefix, for messages.
        label: What the data is ("reference", "current", "input"), for messages.
        parts: (name, opener) pairs; opener() gives something pq.ParquetFile reads.
        text_as_dictionary: Read text columns dictionary-encoded (drift counts categories by
            index, never building the strings); False gives the stored types back (a copy).
        schema: The types every batch is cast to; None means the first part's.
    """

    uri: str
    label: str
    parts: list
    text_as_dictionary: bool = True
    schema: pa.Schema | None = None

    def __post_init__(self):
        if not self.parts:
            raise DataError(
                f"{self.uri} holds no .parquet files; give a file or a prefix of Parquet files"
            )
        self._files = [self._open(name, opener) for name, opener in self.parts]
        self.schema = self.schema or self._files[0].schema_arrow
        self.num_rows = sum(f.metadata.num_rows for f in self._files)

    def _open(self, name: str, opener) -> pq.ParquetFile:
        try:
            handle = pq.ParquetFile(opener())
            text = [f.name for f in handle.schema_arrow if family(f.type) == "text"]
            if not text or not self.text_as_dictionary:
                return handle
            return pq.ParquetFile(opener(), read_dictionary=text, metadata=handle.metadata)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot parse {name} as parquet: {exc}") from exc

    def _row_groups(self, index: int, columns: list[str], groups=None) -> Iterator[pa.RecordBatch]:
        # A new reader per row group (the footer is reused, not read again): a reader keeps
        # what it decoded until it is dropped (measured: 6 parts of one 40 MB row group each
        # held 262 MB at the end when their readers were kept, 18 MB when renewed), and a
        # single iter_batches over a whole file grows by ~90 MB per 1e6-row group of 20
        # columns. Memory is bounded here by the largest row group.
        (name, opener), handle = self.parts[index], self._files[index]
        text = [f.name for f in handle.schema_arrow if family(f.type) == "text"]
        text = (text or None) if self.text_as_dictionary else None
        for group in range(handle.num_row_groups) if groups is None else groups:
            try:
                reader = pq.ParquetFile(opener(), metadata=handle.metadata, read_dictionary=text)
                yield from reader.iter_batches(
                    batch_size=BATCH_ROWS, row_groups=[group], columns=columns
                )
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataError(f"cannot parse {name} as parquet: {exc}") from exc

    def _checked(self, columns: list[str]):
        for index, ((name, _), handle) in enumerate(zip(self.parts, self._files, strict=True)):
            require_columns(handle.schema_arrow.names, columns, self.label, name)
            yield index, name, handle

    def part_files(self) -> list[tuple[str, pq.ParquetFile]]:
        """Each part's name and its opened file (footer read, no data)."""
        return [(name, handle) for (name, _), handle in zip(self.parts, self._files, strict=True)]

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns of every part, in memory (exact mode)."""
        tables = [f.read(columns=columns) for _, _, f in self._checked(columns)]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise self._clash(tables, columns) from None

    def _clash(self, tables: list[pa.Table], columns: list[str]) -> DataError:
        """The first part whose types cannot join the first part's, named with its columns."""
        first = tables[0].schema
        for (name, _), other in zip(self.parts[1:], tables[1:], strict=True):
            differ = [
                f"{c}: {_shown(other.schema.field(c).type)} (first part: "
                f"{_shown(first.field(c).type)})"
                for c in columns
                if other.schema.field(c).type != first.field(c).type
            ]
            try:
                pa.concat_tables([tables[0], other], promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return DataError(
                    f"cannot read {self.uri}: part {name} has other types than "
                    f"{self.parts[0][0]} ({'; '.join(differ)}); read the parts of one schema "
                    "(a narrower date window or folder), or move the odd parts elsewhere"
                )
        return DataError(f"cannot read {self.uri}: its parts disagree on a column's type")

    def batches(self, columns: list[str], leave_out: tuple[str, str] | None = None, groups=None):
        """The selected columns in record batches, part after part, typed as `schema`.

        `leave_out` = (column, value): rows holding that value in that column are left out,
        in the parts that have the column (the column itself need not be selected).
        `groups`: only these row groups of each part (a sharded drift run's shard of a part).
        """
        wanted = pa.schema([self.schema.field(c) for c in columns])
        for index, name, handle in self._checked(columns):
            by = leave_out and leave_out[0] in handle.schema_arrow.names and leave_out[0]
            read = [*columns, by] if by and by not in columns else columns
            for batch in self._row_groups(index, read, groups):
                if by:
                    import pyarrow.compute as pc

                    kept = pc.fill_null(pc.not_equal(batch.column(by), leave_out[1]), True)
                    batch = batch.filter(kept).select(columns)
                if batch.schema.equals(wanted):
                    yield batch
                    continue
                try:
                    yield pa.RecordBatch.from_arrays(
                        [batch.column(c).cast(wanted.field(c).type) for c in columns],
                        schema=wanted,
                    )
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(
                        f"{name} does not match the schema of the first part of {self.uri}: {exc}"
                    ) from exc


def _shown(kind: pa.DataType) -> pa.DataType:
    """A type as written (text read as a dictionary is text)."""
    return kind.value_type if pa.types.is_dictionary(kind) else kind


@dataclass
class CsvSource:
    """A local CSV file too large to read whole: parsed block by block, twice if need be."""

    uri: str
    label: str
    path: Path

    def __post_init__(self):
        self.schema = self._reader(None).schema  # types inferred from the first block
        self.num_rows = None  # known only once read: detect_drift counts while streaming

    def _reader(self, columns: list[str] | None):
        types = None if columns is None else {c: self.schema.field(c).type for c in columns}
        try:
            return pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot parse {self.uri} as CSV: {exc}") from exc

    def batches(self, columns: list[str]):
        """The selected columns, block by block, with the types of the first block."""
        reader = self._reader(columns)
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"{self.uri}: {exc}; a value further down does not fit the column type read "
                f"from the first {CSV_BLOCK_BYTES >> 20} MiB; fix the value or write the data as "
                "Parquet (types stored with it)"
            ) from exc

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns in memory (exact mode)."""
        return pa.Table.from_batches(
            list(self.batches(columns)), pa.schema([self.schema.field(c) for c in columns])
        )


def open_source(uri: str, label: str = "input"):
    """A dataset to read in batches: Parquet opened by its footers, or a CSV read whole.

    Args:
        uri: A local CSV/Parquet file (Parquet recognised without suffix, as KFP artifacts
            have none), a local folder of Parquet files, an s3:// object, or an s3:// prefix
            ending in "/" holding many Parquet files.
        label: What the data is ("reference", "current"), for messages.

    Raises:
        DataError: Missing or unreadable data, an unsupported URI scheme, or no Parquet
            file under a folder or prefix.
    """
    from components._shared.input_checks import check_scheme
    from components._shared.io.s3 import parse_s3_uri, s3_client, s3_parquet_objects
    from components._shared.io.whole import parse_table, read_bytes

    check_scheme(uri)  # gs://, http:// ... refused before any request
    if uri.startswith("s3://"):
        if uri.endswith("/"):
            bucket, objects = s3_parquet_objects(uri)
            keys = [key for key, _ in objects]
        else:
            bucket, key = parse_s3_uri(uri)
            if key.lower().endswith(".csv"):
                frame = parse_table(read_bytes(uri), uri)
                return TableSource(pa.Table.from_pandas(frame, preserve_index=False), uri)
            keys = [key]
        client = s3_client()
        parts = [
            (f"s3://{bucket}/{k}", lambda k=k: pa.PythonFile(S3RangeFile(client, bucket, k)))
            for k in keys
        ]
        return ParquetSource(uri, label, parts)
    path = Path(uri.removeprefix("file://"))
    if not path.exists():
        raise DataError(f"cannot read {uri}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in PARQUET_SUFFIXES)
        return ParquetSource(uri, label, [(str(p), lambda p=p: str(p)) for p in files])
    if _is_parquet_file(path):
        return ParquetSource(uri, label, [(uri, lambda: str(path))])
    if path.suffix.lower() == ".csv" and path.stat().st_size > MAX_WHOLE_CSV_BYTES:
        return CsvSource(uri, label, path)
    frame = parse_table(read_bytes(uri), uri)
    return TableSource(pa.Table.from_pandas(frame, preserve_index=False), uri)
