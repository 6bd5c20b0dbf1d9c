"""How `-p` writes a list or a mapping: the CLI's help and the parameter errors say the same.

Kept free of imports: the CLI builds its parsers from it before any command runs.
"""

VALUE_HELP = (
    'set one parameter (repeatable). A list is a JSON list \'["sex","age"]\' or '
    "comma-separated sex,age; a mapping is a JSON object '{\"max_depth\": 3}' or "
    "comma-separated max_depth=3,max_iter=200; VALUE=@FILE reads it from a file"
)

# Example items per parameter, so an error shows a value that parameter would take.
_LIST_EXAMPLES = {"sensitive_features": ["sex", "age"], "drift_columns": ["age", "credit_amount"]}
_MAPPING_EXAMPLES = {
    "hyperparameters": {"max_depth": 3, "max_iter": 200},
    "drift_thresholds": {"age": 0.1, "credit_amount": 0.2},
    "performance_bounds": {"accuracy": 0.7, "precision": 0.8},
}


def syntax(name: str, kind: str) -> str:
    """How to write parameter `name` of spec type `kind` on the command line ("" if plain)."""
    if kind == "LIST":
        items = _LIST_EXAMPLES.get(name, ["a", "b"])
        listed = ",".join(f'"{item}"' for item in items)
        return (
            f"write a JSON list, -p {name}='[{listed}]', or comma-separated names, "
            f"-p {name}={','.join(items)} (one item: -p {name}={items[0]}; none: -p {name}=)"
        )
    if kind == "STRUCT" and name == "suite":  # a document, not pairs: a file is the way
        return (
            f"read it from a file, -p {name}=@data/suites/german_credit.json, or write a JSON "
            f"object, -p {name}='{{}}' (the baseline suite)"
        )
    if kind == "STRUCT":
        pairs = _MAPPING_EXAMPLES.get(name, {"key": 1, "other": 0.5})
        first, value = next(iter(pairs.items()))
        joined = ",".join(f"{k}={v}" for k, v in pairs.items())
        return (
            f"write a JSON object, -p {name}='{{\"{first}\": {value}}}', or comma-separated "
            f"key=value pairs, -p {name}={joined} (none: -p {name}=), or read it from a file, "
            f"-p {name}=@FILE"
        )
    return ""
