"""KFP wrapper of the training-set builder: the log's window joined with its labels, versioned."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_training_set(
    retrain_data_uri: str,
    predictions_uri: str,
    start_date: str,
    end_date: str,
    last_days: int,
    labels_uri: str,
    label_schema: str,
    max_label_delay_days: float,
    target_column: str,
    model_name: str,
    include_champion_data: bool,
    min_labelled_rows: int,
    report: dsl.Output[dsl.Markdown],
) -> str:
    """Build a training set from production: the logged inputs of a window with their labels.

    Every row of the prediction log in the window that a label names (by request id, and
    `row` for requests of several rows; the latest label per row, within
    max_label_delay_days of the prediction, of the pinned label schema) gives its inputs,
    the label becomes `target_column`. Labels for unknown request ids, repeated, late,
    empty or refused by the schema are counted and reported. The champion's training data
    is unioned when asked for, identical rows are dropped, the columns are checked against
    the champion's inputs, and the rows are sorted and written with fixed Parquet options,
    so the same log, labels and champion data give the same dataset version. The log is
    read one part at a time: memory follows the labelled rows, not the log.

    Args:
        retrain_data_uri: A fixed dataset to train on (teams without labels); non-empty:
            returned as it is and nothing is built.
        predictions_uri: The model's prediction-log prefix (`date=YYYY-MM-DD/` folders).
        start_date: First day of predictions (YYYY-MM-DD, UTC); empty: open.
        end_date: Last day (inclusive); empty: open.
        last_days: Instead: the last N days up to today (UTC); 0: no such window.
        labels_uri: A CSV/Parquet file, or a folder/`s3://` prefix of them, of labels
            (`request_id, label[, time][, row][, schema_version]`); empty (and no
            retrain_data_uri): nothing to retrain on, "" is returned.
        label_schema: The label schema version labels must follow (`NAME@vN`); empty:
            every label is accepted.
        max_label_delay_days: Labels known later than this after the prediction are late
            (counted, not used); below 0: no cutoff.
        target_column: The name the labels take in the training set.
        model_name: The registered model: the dataset's name, and the champion whose
            inputs the set must match and whose data it may include.
        include_champion_data: Union the champion's training data (its dataset_version tag,
            else its dataset_uri checked against dataset_sha256).
        min_labelled_rows: Fewer labelled rows than this: nothing is stored, "" is
            returned and the step succeeds, saying so.
        report: Output Markdown: what was read, counts, refusals, sources. Metadata:
            reference, message, window, counts, label_counts, notes, created.

    Returns:
        data_uri: `dataset://NAME@sha256:HEX`, retrain_data_uri as given, or "" (no retrain).

    Raises:
        DataError: Unreadable log or labels, no log part in the window, columns that no
            longer match the model's inputs, champion data unreadable or changed.
        ConfigError: A bad window, min_labelled_rows below 1, a bad label_schema.
    """
    from components._shared.io.partitions import DateWindow
    from components._shared.reports.markdown import write_text
    from components.build_training_set.core import build_training_set as build
    from components.build_training_set.report import metadata_of, render_markdown

    result = build(
        retrain_data_uri=retrain_data_uri,
        predictions_uri=predictions_uri,
        window=DateWindow.of(start_date, end_date, last_days),
        labels_uri=labels_uri,
        label_schema=label_schema,
        max_label_delay_days=max_label_delay_days,
        target_column=target_column,
        model_name=model_name,
        include_champion_data=include_champion_data,
        min_labelled_rows=min_labelled_rows,
    )
    print(result.message, flush=True)
    write_text(report.path, render_markdown(result))
    report.metadata.update(metadata_of(result))
    return result.reference
