"""Deploy a registered model version on KServe, with a canary judged on live metrics."""
