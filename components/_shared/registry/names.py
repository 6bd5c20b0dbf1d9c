"""The registry's alias and tag names, each defined once: every reader and writer imports them."""

# MLflow 3 aliases (never the deprecated stages).
CHAMPION = "champion"  # the best blessed model
CHALLENGER = "challenger"  # the latest registered one
PRODUCTION = "production"  # what serves (deploy_model moves it)

# Version tags.
SHA256_TAG = "model_sha256"  # sha256 of the stored model file; every load checks it
# Champion history on the versions themselves, so `kfp-mlops rollback` knows where to go back.
CHAMPION_SINCE_TAG = "kfp_mlops.champion_since"  # UTC ISO time the version became champion
PREVIOUS_CHAMPION_TAG = "kfp_mlops.previous_champion"  # the champion it replaced
# Consent and its evidence, on the version (JSON; written under the model's lease).
APPROVAL_TAG = "kfp_mlops.approval"  # {decision: approved|rejected, by, at, reason, evidence}
LIVE_COMPARISON_TAG = "kfp_mlops.live_comparison"  # compare_live's verdict on the challenger
