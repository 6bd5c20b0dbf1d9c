"""The embedded stack: one class per service (S3, MLflow, monitoring), owned by one state folder."""

from kfp_mlops.stack.stack import ARTIFACT_BUCKET, DATA_BUCKET, Stack

__all__ = ["ARTIFACT_BUCKET", "DATA_BUCKET", "Stack"]
