"""`kfp-mlops data build`: a training set from the prediction log's window and its labels."""

import argparse
import json

# Each option left out takes the monitoring pipeline's default for the same step: a default
# lives in the pipeline signature only (read here from its compiled spec).
PIPELINE_DEFAULTS = {
    "last_days": "retrain_last_days",
    "max_label_delay_days": "max_label_delay_days",
    "target_column": "target_column",
    "min_labelled_rows": "min_labelled_rows",
}


def _with_pipeline_defaults(args: argparse.Namespace) -> None:
    from components._shared.compiled import compiled_spec
    from kfp_mlops.params.parse import spec_parameters

    declared = spec_parameters(compiled_spec("monitoring"))
    for option, parameter in PIPELINE_DEFAULTS.items():
        if getattr(args, option) is None:
            setattr(args, option, declared[parameter].default)


def _build_cmd(args: argparse.Namespace) -> int:
    from components._shared.io.partitions import DateWindow
    from components.build_training_set.core import build_training_set
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    dates = bool(args.start_date or args.end_date)
    if dates and args.last_days is None:
        args.last_days = 0  # dates given: no rolling window
    _with_pipeline_defaults(args)
    result = build_training_set(
        retrain_data_uri="",
        predictions_uri=args.predictions,
        window=DateWindow.of(args.start_date, args.end_date, args.last_days),
        labels_uri=args.labels,
        label_schema=args.label_schema,
        max_label_delay_days=args.max_label_delay_days,
        target_column=args.target_column,
        model_name=args.model,
        include_champion_data=not args.no_champion_data,
        min_labelled_rows=args.min_labelled_rows,
    )
    if args.output == "json":
        shown = {"reference": result.reference, "message": result.message}
        shown |= {"window": result.window, "counts": result.counts, "notes": result.notes}
        print(json.dumps(shown | {"label_counts": result.label_counts}, indent=2))
        return 0
    for name, value in result.counts.items():
        print(f"  {name:<22} {value}")
    for note in result.notes:
        print(f"  note: {note}")
    print(result.message)
    if result.reference:
        print(result.reference)
    return 0


def add_build_parser(sub) -> None:
    """Register `data build` on the `data` command's sub-parsers."""
    build = sub.add_parser(
        "build",
        help="build a training set: the log's inputs of a window joined with their labels",
        description="Join the prediction log's inputs of a window with the labels that arrived "
        "for them (latest per row), union the champion's training data, store the result as "
        "dataset://MODEL@sha256:... and print it. Too few labelled rows: nothing is stored, "
        "the reason is printed, exit 0.",
    )
    build.add_argument("--model", required=True, help="the registered model (and dataset name)")
    build.add_argument(
        "--predictions", required=True, metavar="URI",
        help="the model's prediction-log prefix (date=YYYY-MM-DD/ folders)",
    )  # fmt: skip
    build.add_argument(
        "--labels", required=True, metavar="URI",
        help="a labels CSV/Parquet file, or a folder/prefix of them",
    )  # fmt: skip
    build.add_argument("--label-schema", default="", metavar="NAME@vN", help="accept only these")
    build.add_argument("--start-date", default="", help="first day (YYYY-MM-DD, UTC)")
    build.add_argument("--end-date", default="", help="last day (inclusive)")
    build.add_argument(
        "--last-days", type=int, default=None, metavar="N",
        help="the last N days up to today (default without dates: the monitoring pipeline's "
        "retrain_last_days)",
    )  # fmt: skip
    build.add_argument(
        "--max-label-delay-days", type=float, metavar="DAYS",
        help="default: the monitoring pipeline's",
    )  # fmt: skip
    build.add_argument(
        "--target-column", help="the labels' column name (default: the monitoring pipeline's)"
    )
    build.add_argument(
        "--no-champion-data", action="store_true", help="leave the champion's data out"
    )
    build.add_argument(
        "--min-labelled-rows", type=int, metavar="N", help="default: the monitoring pipeline's"
    )
    build.add_argument("--output", choices=("text", "json"), default="text")
    build.set_defaults(func=_build_cmd)
