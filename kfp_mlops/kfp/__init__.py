"""The Kubeflow Pipelines client side: connect, upload, run, schedule, list runs."""
