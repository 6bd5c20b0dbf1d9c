"""The model card: a Markdown page a reviewer reads before trusting a registered version."""

from components._shared.reports.markdown import fmt, markdown_table, md_text, plain, verdict

EVALUATION_FACTS = (
    "primary_metric",
    "primary_value",
    "champion_version",
    "champion_value",
    "delta",
    "first_run",
    "comparison",
    "compared_rows",
)


def _heading(lineage: dict) -> list[str]:
    reg = lineage["registration"]
    # Every value from data or another step goes through md_text: a class, column or group
    # name holding a line break or markup could otherwise forge a heading or a verdict.
    name, reason = md_text(reg["name"]), md_text(reg["reason"])
    if not reg["registered"]:
        return [f"# Model card: {name} (not registered)", "", f"**{reason}**"]
    aliases = ", ".join(md_text(a) for a in reg["aliases"]) or "none"
    return [
        f"# Model card: {name} v{reg['version']}",
        "",
        f"Registered as version {reg['version']} (aliases: {aliases}): {reason}.",
    ]


def _intended_use(lineage: dict) -> list[str]:
    model = lineage["model"]
    classes = ", ".join(md_text(plain(c)) for c in model.get("classes") or [])
    features = ", ".join(md_text(c) for c in model.get("feature_columns") or [])
    return [
        "## Intended use",
        "",
        f"Classifies {md_text(model.get('target_column'))} into {classes} from {features}.",
        "For decision support on data drawn like the training data below, after the gates "
        "recorded here. Not assessed for other populations or data sources; read the fairness "
        "section before using it on decisions about people.",
    ]


def _data_and_training(lineage: dict) -> list[str]:
    data, validation, model = lineage["dataset"], lineage["validation"], lineage["model"]
    hyper = model.get("hyperparameters") or {}
    return [
        "## Data",
        "",
        markdown_table(
            ["fact", "value"],
            [
                ("source URI", data.get("uri")),
                ("sha256", data.get("sha256")),
                ("rows", plain(data.get("rows"))),
                ("dataset version", data.get("version") or "none stored"),
                ("validation suite sha256", validation.get("suite_sha256")),
                ("validation success", validation.get("success")),
            ],
        ),
        "",
        "## Training",
        "",
        f"Estimator {md_text(model.get('estimator'))}; model file sha256 "
        f"{md_text(model.get('sha256'))}.",
        "",
        markdown_table(
            ["hyperparameter", "value"], [(k, plain(v)) for k, v in sorted(hyper.items())]
        )
        if hyper
        else "",
    ]


def _evaluation(lineage: dict) -> list[str]:
    ev = lineage["evaluation"]
    rows = [(k, ev.get(k)) for k in EVALUATION_FACTS if k in ev]
    lines = ["## Evaluation", "", markdown_table(["fact", "value"], rows)]
    reasons = [f"- {md_text(r)}" for r in ev.get("reasons") or []]
    lines += ["", *reasons] if reasons else []
    reg = lineage["registration"]
    if ev.get("champion_version") is None:
        comparison = "No champion existed when this model was evaluated."
    else:
        comparison = (
            f"Champion v{fmt(ev.get('champion_version'))} scored {fmt(ev.get('champion_value'))}; "
            f"this model {fmt(ev.get('primary_value'))} (delta {fmt(ev.get('delta'))})."
        )
        if ev.get("compared_value") is not None:  # both scored on rows neither trained on
            comparison = (
                f"Champion v{fmt(ev.get('champion_version'))} scored "
                f"{fmt(ev.get('champion_value'))}, this model {fmt(ev.get('compared_value'))} "
                f"(delta {fmt(ev.get('delta'))}), {md_text(ev['compared_on'])}."
            )
    lines += ["", "### Champion comparison", "", comparison]
    lines.append(f"Promoted to champion: {fmt(reg.get('promoted'))}.")
    return lines


def _fairness(lineage: dict) -> list[str]:
    fair = lineage["fairness"]
    lines = ["## Fairness"]
    lines += ["", *(f"- {md_text(r)}" for r in fair["reasons"])] if fair.get("reasons") else []
    for feature, facts in (fair.get("per_feature") or {}).items():
        lines += [
            "",
            f"### {md_text(feature)}: demographic parity difference "
            f"{fmt(facts.get('demographic_parity_difference'))}, equalized odds difference "
            f"{fmt(facts.get('equalized_odds_difference'))}",
            "",
        ]
        rows = [
            (g, plain(r.get("count")), r.get("selection_rate"), r.get("tpr"), r.get("fpr"))
            for g, r in (facts.get("groups") or {}).items()
        ]
        lines.append(markdown_table(["group", "rows", "selection rate", "TPR", "FPR"], rows))
    return lines


def _gates_and_lineage(lineage: dict, tags: dict[str, str]) -> list[str]:
    gates = [(gate, verdict(passed)) for gate, passed in lineage["gates"].items()]
    return [
        "## Gates",
        "",
        markdown_table(["gate", "verdict"], gates),
        "",
        "## Lineage",
        "",
        markdown_table(["tag", "value"], sorted(tags.items())),
    ]


def render_card(lineage: dict, tags: dict[str, str]) -> str:
    """Render the model card from the lineage record and the version's lineage tags."""
    sections = [
        _heading(lineage),
        _intended_use(lineage),
        _data_and_training(lineage),
        _evaluation(lineage),
        _fairness(lineage),
        _gates_and_lineage(lineage, tags),
    ]
    return "\n\n".join("\n".join(s) for s in sections)
