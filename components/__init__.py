"""KFP v2 components of kfp-mlops: one folder per component, a pure core and a thin wrapper."""
