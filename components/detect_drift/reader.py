"""Read only the compared columns: CSV, a Parquet file, or a folder/S3 prefix of Parquet files.

`open_source` gives what core.detect_drift reads from: Parquet (local or on S3, one file or
many) is opened by its footers only, then read in record batches of the compared columns, so
memory does not grow with the rows. S3 objects are read with ranged GETs (only the footers and
the compared columns' chunks travel). A CSV up to MAX_WHOLE_CSV_BYTES is read whole; a
larger local one is parsed block by block (its row count is then known only once read).
"""

import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components._shared.errors import DataError
from components.detect_drift.scan import BATCH_ROWS, TableSource, family

# components._shared.io (S3, CSV) is imported where used: it brings pandas, which reading
# local Parquet does not need.

PARQUET_MAGIC = b"PAR1"
# A local CSV up to this size is read whole (pandas, as load_data reads it); a larger one is
# streamed in blocks, with column types inferred from its first block.
MAX_WHOLE_CSV_BYTES = 256 << 20
CSV_BLOCK_BYTES = 16 << 20


def _is_parquet_file(path: Path) -> bool:
    # KFP artifact paths have no suffix: recognise Parquet by its magic bytes.
    if path.suffix.lower() in (".parquet", ".pq"):
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


def read_dataset(uri: str, columns: list[str] | None = None, label: str = "input"):
    """A dataset (only `columns`, or all) as a pandas DataFrame, for callers that want one.

    Raises:
        DataError: Unreadable data, no Parquet file under a prefix, or a requested column
            missing (the message lists the columns the data has).
    """
    source = open_source(uri, label)
    names = list(source.schema.names)
    require_columns(names, columns, label, uri)
    return source.table(list(columns) if columns else names).to_pandas()


def read_pair(reference: str, current: str, columns: list[str] | None) -> tuple:
    """Both datasets as DataFrames, restricted to `columns` (empty/None: all of them)."""
    columns = columns or None
    return read_dataset(reference, columns, "reference"), read_dataset(current, columns, "current")


class _S3RangeFile(io.RawIOBase):
    """A read-only, seekable view of one S3 object: each read is a ranged GET."""

    def __init__(self, client, bucket: str, key: str):
        from components._shared.io import s3_read_error

        self.client, self.bucket, self.key, self.position = client, bucket, key, 0
        try:
            self.size = client.stat_object(bucket, key).size
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            raise s3_read_error(f"s3://{bucket}/{key}", exc) from exc

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self.size - self.position)
        if length <= 0:
            return 0
        try:
            response = self.client.get_object(
                self.bucket, self.key, offset=self.position, length=length
            )
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            from components._shared.io import s3_read_error

            raise s3_read_error(f"s3://{self.bucket}/{self.key}", exc) from exc
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


@dataclass
class ParquetSource:
    """One or more Parquet files (local or S3) read as one dataset, compared columns only."""

    uri: str
    label: str
    parts: list  # (name, opener) pairs; opener() gives something pq.ParquetFile reads

    def __post_init__(self):
        if not self.parts:
            raise DataError(
                f"{self.uri} holds no .parquet files; give a file or a prefix of Parquet files"
            )
        self._files = [self._open(name, opener) for name, opener in self.parts]
        self.schema = self._files[0].schema_arrow
        self.num_rows = sum(f.metadata.num_rows for f in self._files)

    def _open(self, name: str, opener) -> pq.ParquetFile:
        try:
            handle = pq.ParquetFile(opener())
            # Text read as dictionaries: counting categories then never builds the strings.
            text = [f.name for f in handle.schema_arrow if family(f.type) == "text"]
            if not text:
                return handle
            return pq.ParquetFile(opener(), read_dictionary=text, metadata=handle.metadata)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot parse {name} as parquet: {exc}") from exc

    def _checked(self, columns: list[str]):
        for (name, _), handle in zip(self.parts, self._files, strict=True):
            require_columns(handle.schema_arrow.names, columns, self.label, name)
            yield name, handle

    def table(self, columns: list[str]) -> pa.Table:
        """The selected columns of every part, in memory (exact mode)."""
        tables = [f.read(columns=columns) for _, f in self._checked(columns)]
        return pa.concat_tables(tables, promote_options="permissive")

    def batches(self, columns: list[str]):
        """The selected columns in record batches, part after part, typed as the first part."""
        wanted = pa.schema([self.schema.field(c) for c in columns])
        for name, handle in self._checked(columns):
            for batch in _batches(handle, columns):
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


def _batches(handle: pq.ParquetFile, columns: list[str]):
    # One reader per row group: a single iter_batches over the whole file keeps Arrow memory
    # growing with each row group read (measured: +90 MB per 1e6-row group of 20 columns), so
    # memory would grow with the file. Bounded here by the largest row group.
    for group in range(handle.num_row_groups):
        yield from handle.iter_batches(batch_size=BATCH_ROWS, row_groups=[group], columns=columns)


def open_source(uri: str, label: str = "input"):
    """What detect_drift reads: Parquet opened by its footers, or a CSV read whole.

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
    from components._shared.io import (
        parse_s3_uri,
        parse_table,
        read_bytes,
        s3_client,
        s3_parquet_keys,
    )

    check_scheme(uri)  # gs://, http:// ... refused before any request
    if uri.startswith("s3://"):
        if uri.endswith("/"):
            bucket, keys = s3_parquet_keys(uri)
        else:
            bucket, key = parse_s3_uri(uri)
            if key.lower().endswith(".csv"):
                frame = parse_table(read_bytes(uri), uri)
                return TableSource(pa.Table.from_pandas(frame, preserve_index=False), uri)
            keys = [key]
        client = s3_client()
        parts = [
            (f"s3://{bucket}/{k}", lambda k=k: pa.PythonFile(_S3RangeFile(client, bucket, k)))
            for k in keys
        ]
        return ParquetSource(uri, label, parts)
    path = Path(uri.removeprefix("file://"))
    if not path.exists():
        raise DataError(f"cannot read {uri}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
        return ParquetSource(uri, label, [(str(p), lambda p=p: str(p)) for p in files])
    if _is_parquet_file(path):
        return ParquetSource(uri, label, [(uri, lambda: str(path))])
    if path.suffix.lower() == ".csv" and path.stat().st_size > MAX_WHOLE_CSV_BYTES:
        return CsvSource(uri, label, path)
    frame = parse_table(read_bytes(uri), uri)
    return TableSource(pa.Table.from_pandas(frame, preserve_index=False), uri)
