"""Model files: skops, loaded only after a sha256 check and an explicit class list; never pickle.

A skops file names the types it is built from, and loading it constructs them: a crafted
file that names `builtins.exec` (or any callable) runs code. So a file is loaded only when
its bytes are the ones recorded (sha256), and every node in it is one of the node kinds and
classes our estimators are made of (TRUSTED_TYPES, derived from train_model's estimator
registry; tests/test_model_trust.py fails if an estimator needs more or the list holds a
name no estimator needs). No function, method, reduce call or module prefix is trusted.
"""

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

from components._shared.errors import DataError

# Every class a fitted train_model Pipeline is built from, by fully qualified name: what the
# three estimators (hist_gradient_boosting, logistic_regression, random_forest) with their
# preprocessing are saved as by skops 0.16 and scikit-learn 1.9, binary and multiclass.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.int",  # key types of a class_weight dict
        "builtins.list",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.uint64",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)
# The skops node kinds those files use. Absent on purpose: FunctionNode, MethodNode,
# PartialNode, OperatorFuncNode (they hand out callables) and ConstructorFromReduceNode
# (it calls the named type with stored arguments at load time).
TRUSTED_NODES: frozenset[str] = frozenset(
    {
        "DTypeNode",
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "SliceNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)
MODEL_FILE = "model.skops"  # the file name MLflow's sklearn flavor stores a skops model under
REFUSED_HINT = (
    "re-register the model from a training run, or move the alias back with `kfp-mlops rollback`"
)
SAVE_HINT = (
    "only models built the way train_model builds them are saved, so that loading one can be "
    "checked against model_io.TRUSTED_TYPES: build it with train_model's preprocessing (e.g. "
    "impute the other columns instead of ColumnTransformer remainder='passthrough', which is "
    "stored as a FunctionTransformer) and leave settings that store a function (e.g. "
    "hist_gradient_boosting scoring other than 'loss') at their defaults"
)


class ModelTrustError(DataError):
    """A model file that is not the recorded one, or names a type or node kind we do not trust."""


def file_sha256(data: bytes) -> str:
    """The hex sha256 of a model file's bytes."""
    return hashlib.sha256(data).hexdigest()


def _nodes(schema: object) -> set[tuple[str, str]]:
    """Every (node kind, module.class) in a skops schema, walked without recursion."""
    found, stack = set(), [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                found.add((str(item["__loader__"]), f"{item['__module__']}.{item['__class__']}"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def file_types(data: bytes, where: str) -> tuple[set[str], set[str]]:
    """The node kinds and the types a skops file's schema names (nothing is constructed).

    Raises:
        ModelTrustError: The bytes are not a skops file.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            nodes = _nodes(json.loads(archive.read("schema.json")))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise ModelTrustError(
            f"{where} is not a skops model file ({type(exc).__name__}: {str(exc)[:200]}); "
            f"refusing to load it: {REFUSED_HINT}"
        ) from None
    return {kind for kind, _ in nodes}, {name for _, name in nodes}


def _refuse_foreign(where: str, hint: str, types: set[str], kinds: set[str] = frozenset()):
    foreign_types, foreign_kinds = sorted(types - TRUSTED_TYPES), sorted(kinds - TRUSTED_NODES)
    if foreign_types or foreign_kinds:
        what = [f"types {foreign_types}"] if foreign_types else []
        what += [f"node kinds {foreign_kinds}"] if foreign_kinds else []
        raise ModelTrustError(
            f"{where} names {' and '.join(what)} that no model of ours is made of; refusing it "
            f"(loading it could run code): {hint}"
        )


def check_trusted(data: bytes, where: str, hint: str = REFUSED_HINT) -> None:
    """Refuse a skops file that names a node kind or a type outside the trusted lists.

    Our own reading of the schema decides first; skops' reading (get_untrusted_types) must
    then agree, so a node one reader misses is still caught by the other.

    Raises:
        ModelTrustError: Naming every offending type and node kind.
    """
    import skops.io as sio

    kinds, types = file_types(data, where)
    _refuse_foreign(where, hint, types, kinds)
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises many types for a malformed schema
        raise ModelTrustError(
            f"{where} cannot be read by skops ({type(exc).__name__}: {str(exc)[:200]}); "
            f"refusing to load it: {REFUSED_HINT}"
        ) from None
    _refuse_foreign(where, hint, untrusted)


def load_bytes(data: bytes, *, sha256: str | None, where: str) -> object:
    """The one loader: the sha256 (when recorded), then the type list, then skops.

    Args:
        data: The model file's bytes, read once (what is checked is what is loaded).
        sha256: The hex sha256 recorded for this file; None only for a file the user named
            and vouches for (a local file given to the CLI): then only the type list applies.
        where: Names the file in messages (a path or models:/NAME/VERSION).

    Raises:
        ModelTrustError: The hash differs, or the file names an untrusted type or node kind.
        DataError: A file of trusted types that skops cannot load (damaged).
    """
    import skops.io as sio

    if sha256 is not None:
        actual = file_sha256(data)
        if actual != sha256.strip().lower():
            raise ModelTrustError(
                f"{where} has sha256 {actual}, but {sha256} was recorded: the file changed "
                f"after its hash was recorded; refusing to load it: {REFUSED_HINT}"
            )
    check_trusted(data, where)
    try:
        return sio.loads(data, trusted=sorted(TRUSTED_TYPES))
    except Exception as exc:  # a damaged file of trusted types fails in many ways
        raise DataError(
            f"{where} names only trusted types but cannot be loaded ({type(exc).__name__}: "
            f"{str(exc)[:200]}): {REFUSED_HINT}"
        ) from None


def load_model(path: str | Path, sha256: str | None = None) -> object:
    """Load a skops model file through the one loader (sha256 first when given).

    Raises:
        ModelTrustError: See load_bytes.
    """
    return load_bytes(Path(path).read_bytes(), sha256=sha256, where=str(path))


def _renumbered(node: object, ids: dict[int, int], files: dict[str, str]) -> object:
    """A skops schema node with object ids and member files numbered in order of appearance.

    `files` maps each member's name to its new one ("" until the schema names it).
    """
    if isinstance(node, list):
        return [_renumbered(item, ids, files) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            value = ids.setdefault(value, len(ids) + 1)
        elif key == "file" and isinstance(value, str) and value in files:
            if not files[value]:
                named = sum(1 for new in files.values() if new)  # a few hundred members
                files[value] = f"{named:06d}{Path(value).suffix}"
            value = files[value]
        out[key] = _renumbered(value, ids, files)
    return out


def canonical_skops(data: bytes) -> bytes:
    """The same skops file with nothing that depends on the process that wrote it.

    skops names array members and memo ids by Python object ids, and zip entries carry the
    save time, so two dumps of equal models differ byte for byte. Here ids and members are
    numbered in the schema's order and every entry gets one fixed time: equal models give
    equal bytes (the same model_sha256), so registration can tell a repeated run's model
    from a new one.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    files = {name: "" for name in source.namelist() if name != "schema.json"}
    schema = _renumbered(json.loads(source.read("schema.json")), {}, files)
    entries = [("schema.json", json.dumps(schema, sort_keys=True).encode())]
    entries += sorted((new, source.read(old)) for old, new in files.items() if new)
    entries += sorted((old, source.read(old)) for old, new in files.items() if not new)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            target.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _dumped(model: object) -> tuple[bytes, list[str]]:
    import skops.io as sio

    where = f"the {type(model).__name__} model"
    try:
        data = canonical_skops(sio.dumps(model))
    except (RecursionError, TypeError) as exc:  # skops cannot write some stored functions
        raise ModelTrustError(
            f"skops cannot save {where} ({type(exc).__name__}: {str(exc)[:200]}); {SAVE_HINT}"
        ) from None
    check_trusted(data, where, SAVE_HINT)
    return data, sorted(sio.get_untrusted_types(data=data))


def trusted_types(model: object) -> list[str]:
    """The types skops must be told to trust for this model (all of them in TRUSTED_TYPES).

    Raises:
        ModelTrustError: The model is built from a class outside TRUSTED_TYPES.
    """
    return _dumped(model)[1]


def save_model(model: object, path: str | Path) -> list[str]:
    """Save a model with skops (refused before writing if it needs an untrusted type).

    Returns:
        The types skops must be told to trust to load it (MLflow's skops_trusted_types).
    """
    data, untrusted = _dumped(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return untrusted


class SkopsFileFlavor:
    """An MLflow flavor that stores this exact skops file as the sklearn model.

    `mlflow.sklearn.log_model` re-dumps the model, and skops files carry zip timestamps and
    object ids, so the registered bytes would differ from the trained file whose sha256 the
    version's `model_sha256` tag records. Log with `mlflow.models.Model.log(None, name=...,
    flavor=SkopsFileFlavor(path), sk_model=model, serialization_format="skops",
    skops_trusted_types=sorted(TRUSTED_TYPES), ...)`: MLflow writes its sklearn flavor files,
    then the trained file replaces the re-dumped one, so the tag checks the stored bytes.
    """

    __name__ = "mlflow.sklearn"  # the flavor name MLflow records on the logged model

    def __init__(self, path: str | Path, beside: tuple[Path, ...] = ()):
        """Remember the skops file to store, and files to store beside it (its signature)."""
        self.path = Path(path)
        self.beside = tuple(Path(p) for p in beside)

    def save_model(self, path: str, **kwargs) -> None:
        """Save with MLflow's sklearn flavor, then put the trained file in place of its dump."""
        import mlflow.sklearn

        mlflow.sklearn.save_model(path=path, **kwargs)
        shutil.copyfile(self.path, Path(path) / MODEL_FILE)
        for extra in self.beside:
            shutil.copyfile(extra, Path(path) / extra.name)
