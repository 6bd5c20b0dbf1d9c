"""KFP component: load a CSV or Parquet table and snapshot it as a Parquet Dataset."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_data(
    data_uri: str,
    expected_sha256: str,
    start_date: str,
    end_date: str,
    last_days: int,
    dataset_name: str,
    dataset: dsl.Output[dsl.Dataset],
):
    """Read a table from S3 or a local path and write it as a Parquet Dataset snapshot.

    The S3 endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from parameters. Parquet is hashed as it
    arrives and copied one record batch (one row group) at a time, in bounded memory
    whatever its size. A CSV is read whole: one larger than KFP_MLOPS_MAX_INPUT_BYTES
    (default: a quarter of the container's memory) is refused before it is read.

    Args:
        data_uri: `s3://bucket/key` or a local path of a .csv (UTF-8, comma-separated),
            .parquet or .pq file; or a local folder or `s3://bucket/prefix/` (ending in "/")
            whose Parquet files, all of one schema, in name order, make one table.
        expected_sha256: The sha256 the content must have (e.g. the champion's
            dataset_sha256, pinning a drift reference); empty means no check.
        start_date: For a prefix laid out in `date=YYYY-MM-DD/` folders (the prediction
            log): the first day to read, YYYY-MM-DD (UTC); empty: from the first there is.
        end_date: The last day to read (inclusive); empty: up to the last there is.
        last_days: Instead of the two days: the last N days up to the run's day (UTC), for
            scheduled runs; 0: no such window.
        dataset_name: Also store what was read as a version of this dataset in the store
            (`dataset://NAME@sha256:HEX`, create-only: the same content is one version,
            written once): one file as its bytes as given (the version's sha256 is the
            snapshot's `sha256`), a folder or prefix as this Parquet snapshot (its manifest
            lists each part and its hash, and the date window). Who is KFP_MLOPS_USER. Empty,
            or a `dataset://` source: nothing is stored.
        dataset: Output. The table as Parquet. Metadata: `source_uri`, `sha256` (of the source
            bytes; for a folder/prefix, of the parts' relative names and bytes in name order),
            `rows`, `columns` (names in order), `dtypes` (column -> pandas dtype),
            `date_window` (when one was given), `dataset_version` (the version stored, or
            the one a `dataset://` source named, pinned by hash; absent when none).

    Raises:
        DataError: The source is missing, empty, header-only, not UTF-8, not
            comma-separated, has empty or repeated column names, is unparseable or of an
            unknown format or scheme; a CSV is over the input limit; a folder or prefix
            holds no Parquet file or parts of different schemas; the content's sha256 is
            not expected_sha256; no part lies in the date window.
        ConfigError: A date not in YYYY-MM-DD form, start after end, last_days with dates,
            or a window on a single file; a bad dataset_name.
        ServiceError: S3 is not configured or does not answer.
    """
    from components._shared.io.partitions import DateWindow
    from components.load_data.core import snapshot

    window = DateWindow.of(start_date, end_date, last_days)
    snap = snapshot(data_uri, dataset.path, expected_sha256, window, dataset_name)
    dataset.metadata.update(snap.metadata())
