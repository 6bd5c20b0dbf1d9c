"""KFP component: load a CSV or Parquet table and snapshot it as a Parquet Dataset."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_data(data_uri: str, dataset: dsl.Output[dsl.Dataset]):
    """Read a table from S3 or a local path and write it as a Parquet Dataset snapshot.

    The S3 endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from parameters.

    Args:
        data_uri: `s3://bucket/key` or a local path of a .csv, .parquet or .pq file; or a
            local folder or `s3://bucket/prefix/` (ending in "/") whose Parquet files, in name
            order, make one table.
        dataset: Output. The table as Parquet. Metadata: `source_uri`, `sha256` (of the source
            bytes; for a folder/prefix, of the parts' relative names and bytes in name order),
            `rows`, `columns` (names in order), `dtypes` (column -> pandas dtype).

    Raises:
        DataError: The source is missing, empty, header-only, unparseable or of an unknown
            format; a folder or prefix holds no Parquet file.
        ServiceError: S3 is not configured or does not answer.
    """
    from components._shared.io import write_parquet
    from components.load_data.core import snapshot

    snap = snapshot(data_uri)
    write_parquet(snap.frame, dataset.path)
    dataset.metadata.update(snap.metadata())
