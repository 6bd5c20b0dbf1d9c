"""The model server (`kfp-mlops serve`), its prediction log and the payload-log sink."""
