"""KFP component: load a CSV or Parquet table and snapshot it as a Parquet Dataset."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_data(data_uri: str, expected_sha256: str, dataset: dsl.Output[dsl.Dataset]):
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
        dataset: Output. The table as Parquet. Metadata: `source_uri`, `sha256` (of the source
            bytes; for a folder/prefix, of the parts' relative names and bytes in name order),
            `rows`, `columns` (names in order), `dtypes` (column -> pandas dtype).

    Raises:
        DataError: The source is missing, empty, header-only, not UTF-8, not
            comma-separated, has empty or repeated column names, is unparseable or of an
            unknown format or scheme; a CSV is over the input limit; a folder or prefix
            holds no Parquet file or parts of different schemas; the content's sha256 is
            not expected_sha256.
        ServiceError: S3 is not configured or does not answer.
    """
    from components.load_data.core import snapshot

    snap = snapshot(data_uri, dataset.path, expected_sha256)
    dataset.metadata.update(snap.metadata())
