"""KFP wrapper of the novelty check: retrain only when something differs from the champion."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def check_novelty(
    data_uri: str,
    model_name: str,
    parameters: dict,
    hyperparameters: dict,
    kfp_run_id: str,
    report: dsl.Output[dsl.Markdown],
) -> bool:
    """Tell whether a retrain could learn anything the champion has not: True = train.

    Compares the retrain's inputs with the lineage tags of `models:/<model_name>@champion`:
    the training set's sha256 (a `dataset://NAME@sha256:HEX` reference's own hash, a tag's
    version, or a file's or prefix's content hashed as load_data hashes it), the parameters
    that shape the model (estimator, target_column, test_size, random_seed, hyperparameters;
    gate thresholds only judge a model and are not compared), and the code (package_version,
    git_commit, image). All equal: False, "nothing new to learn from". No champion, or a
    champion whose lineage cannot be read: True, the reason said (the gates still judge).

    Args:
        data_uri: The training set the retrain would use; "" when there is none (too few
            labelled rows): False, "no training set: nothing to retrain on".
        model_name: The registered model whose champion is compared with.
        parameters: The retrain's parameters by name; estimator, target_column, test_size
            and random_seed must be there (others are ignored).
        hyperparameters: The retrain's estimator parameters, e.g. {"max_depth": 3}.
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): where the verdict
            record goes (`runs/<id>/gates/novelty.json`), which the notification reads.
        report: Output Markdown: the decision, its reason and what differs. Metadata: passed
            (= train), reasons, kind, champion_version, dataset_sha256, differences.

    The decision is pushed to the Pushgateway at KFP_MLOPS_PUSHGATEWAY_URL as
    kfp_mlops_gate_passed{gate="novelty"} and kfp_mlops_retrain_skipped{reason} (none set:
    nothing pushed; a failed push only warns).

    Returns:
        train: True when the retrain should run.

    Raises:
        ConfigError: A parameter the comparison needs is missing, or a malformed dataset://.
        DataError: The training set does not exist (names it).
        ServiceError: MLflow or S3 is not configured or does not answer.
    """
    import time

    from components._shared.reports.markdown import write_text
    from components._shared.verdicts.publish import publish_verdict
    from components.check_novelty.core import check_parameters, decide
    from components.check_novelty.inputs import candidate_of, champion_of
    from components.check_novelty.signals import figures_of, record_of, render_markdown

    started = time.monotonic()
    shaping = check_parameters(dict(parameters))
    candidate = candidate_of(data_uri, hyperparameters, shaping) if data_uri else None
    novelty = decide(candidate, champion_of(model_name) if candidate else None)
    print(f"check_novelty: {'train' if novelty.train else 'skip'}: {novelty.reason}")
    sha = candidate.dataset_sha256 if candidate else ""
    write_text(report.path, render_markdown(novelty, data_uri, sha))
    report.metadata.update(
        passed=novelty.train,
        reasons=[novelty.reason],
        kind=novelty.kind,
        champion_version=novelty.champion_version or 0,
        dataset_sha256=sha,
        differences=list(novelty.differences),
    )
    publish_verdict(
        kfp_run_id,
        figures_of(novelty, model_name, time.monotonic() - started),
        lambda pipeline: record_of(novelty, model_name, pipeline),
    )
    return novelty.train
