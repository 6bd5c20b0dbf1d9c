"""Model signatures: OpenSSF Model Signing with an EC key, made at registration, checked at load.

What is signed is a folder of two files: the trained model file (model.skops) and the
version's lineage tags (lineage_tags.json, the tags register_model gives the version, the
model_sha256 among them). The signature (model.sig, a Sigstore bundle whose DSSE payload is
an in-toto statement listing each file's sha256) and lineage_tags.json are stored with the
logged model, next to model.skops, so they download with it; the version's model_signature
tag records the signature's sha256. Whoever can write the registry can rewrite the file and
its model_sha256 tag together; without the private key they cannot make a signature that
verifies against the public key every loader is given. No network (no Sigstore keyless).
"""

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from components._shared.errors import ConfigError
from components._shared.model_io import MODEL_FILE, ModelTrustError
from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SIGNING_KEY_ENV

SIGNATURE_FILE = "model.sig"
LINEAGE_FILE = "lineage_tags.json"
SIGNED_FILES = (MODEL_FILE, LINEAGE_FILE)
SIGNATURE_TAG = "model_signature"  # "model.sig sha256:<hex of the signature file>"
# On a cluster (manifests/): the private key is a Secret only the register step mounts, the
# public key a ConfigMap every loader (pipeline steps, rendered predictors) mounts; the
# variables name the files (kfp-mlops-config holds these paths for the pipeline steps).
SIGNING_SECRET, SIGNING_MOUNT = "kfp-mlops-model-signing", "/etc/kfp-mlops/model-signing"
PUBLIC_KEY_CONFIG_MAP = "kfp-mlops-model-signing-public"
PUBLIC_KEY_MOUNT = "/etc/kfp-mlops/model-signing-public"
SIGNING_KEY_NAME, PUBLIC_KEY_NAME = "model-signing.key", "model-signing.pub"
SIGN_HINT = (
    f"register the model again from a training run whose register step has "
    f"{MODEL_SIGNING_KEY_ENV} set (the private key that matches {MODEL_PUBLIC_KEY_ENV}), or "
    "move the alias back with `kfp-mlops rollback`"
)
_unverified_said = False  # the "not verified" line is said once per process


def _key_path(env: str, what: str) -> Path | None:
    """The key file an environment variable names, or None when it is unset."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(
            f"{env}={raw} names no file; mount the {what} there (manifests/README.md, Signed "
            f"models); locally `make demo` makes a pair and `kfp-mlops stack env` exports its "
            f"paths; or unset {env}"
        )
    return path


def signing_key() -> Path | None:
    """The private key registration signs with (KFP_MLOPS_MODEL_SIGNING_PEM), if configured."""
    return _key_path(MODEL_SIGNING_KEY_ENV, "private signing key (PEM)")


def public_key() -> Path | None:
    """The public key every load verifies with (KFP_MLOPS_MODEL_PUBLIC_PEM), if configured."""
    return _key_path(MODEL_PUBLIC_KEY_ENV, "public key (PEM)")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _signed_folder(folder: Path, model_file: Path, lineage: bytes) -> Path:
    """A folder holding exactly the signed files (the model linked when it can be)."""
    folder.mkdir()
    try:
        os.link(model_file, folder / MODEL_FILE)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(model_file, folder / MODEL_FILE)
    (folder / LINEAGE_FILE).write_bytes(lineage)
    return folder


def lineage_bytes(tags: dict[str, str]) -> bytes:
    """The signed form of a version's lineage tags (sorted keys, so it is one byte string)."""
    return json.dumps(tags, sort_keys=True, indent=1).encode()


def sign_model(model_file: str | Path, tags: dict[str, str], out_dir: str | Path) -> dict | None:
    """Sign a model file with its lineage tags; write model.sig and lineage_tags.json to out_dir.

    Returns:
        The tag to record on the version ({model_signature: "model.sig sha256:<hex>"}), or
        None when no signing key is configured (said on stderr; nothing is written).

    Raises:
        ConfigError: The key variable names no file, or the file is not an EC private key.
    """
    import model_signing

    key = signing_key()
    if key is None:
        print(
            f"warning: model not signed: no private key configured ({MODEL_SIGNING_KEY_ENV}); "
            "loaders with a public key configured will refuse it",
            file=sys.stderr,
        )
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lineage = lineage_bytes(tags)
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-sign-") as tmp:
        folder = _signed_folder(Path(tmp) / "model", Path(model_file), lineage)
        try:
            config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key)
            config.sign(folder, out / SIGNATURE_FILE)
        except (ValueError, TypeError) as exc:  # not PEM, not EC, encrypted, unsupported curve
            raise ConfigError(
                f"{MODEL_SIGNING_KEY_ENV}={key} is not a usable EC private key "
                f"({type(exc).__name__}: {str(exc)[:200]}); give an unencrypted PEM P-256 key "
                "(locally, `make demo` makes one in .kfp-mlops/signing/)"
            ) from None
    (out / LINEAGE_FILE).write_bytes(lineage)
    return signature_tag(out / SIGNATURE_FILE)


def signature_tag(signature: Path) -> dict[str, str]:
    """The version tag that records a signature file ({model_signature: "model.sig sha256:.."})."""
    return {SIGNATURE_TAG: f"{SIGNATURE_FILE} sha256:{_sha256(signature)}"}


def _say_unverified() -> None:
    global _unverified_said
    if not _unverified_said:
        _unverified_said = True
        print(
            f"note: model signatures not verified: no public key configured "
            f"({MODEL_PUBLIC_KEY_ENV}); only the sha256 tag and the class list are checked",
            file=sys.stderr,
        )


def _refuse(where: str, problem: str) -> ModelTrustError:
    return ModelTrustError(
        f"{where}: signature check failed: {problem}; refusing to load it: {SIGN_HINT}"
    )


def _check_signature(where: str, model_dir: Path, key: Path, signature: Path) -> None:
    import model_signing

    lineage = model_dir / LINEAGE_FILE
    if not lineage.is_file():
        raise _refuse(where, f"{SIGNATURE_FILE} is there, {LINEAGE_FILE} (signed with it) is not")
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-verify-") as tmp:
        folder = _signed_folder(Path(tmp) / "model", model_dir / MODEL_FILE, lineage.read_bytes())
        try:
            config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key)
        except (ValueError, TypeError) as exc:  # not PEM, not a public key, unsupported curve
            raise ConfigError(
                f"{MODEL_PUBLIC_KEY_ENV}={key} is not a usable EC public key "
                f"({type(exc).__name__}: {str(exc)[:200]}); give the PEM public key that "
                f"matches {MODEL_SIGNING_KEY_ENV}"
            ) from None
        try:
            config.verify(folder, signature)
        except Exception as exc:  # model_signing raises ValueError, JSON and protobuf errors
            text = str(exc)
            if "Key mismatch" in text:
                why = f"{SIGNATURE_FILE} was made with another key than {MODEL_PUBLIC_KEY_ENV}"
            elif "Signature mismatch" in text:
                # The library's message is a list's repr (quotes escaped): take the names.
                changed = [
                    f for f in SIGNED_FILES if re.search(rf"mismatch for \W*{re.escape(f)}", text)
                ] or [text[:200]]
                why = (
                    f"{MODEL_FILE} or {LINEAGE_FILE} is not what {SIGNATURE_FILE} signed "
                    f"(changed after signing: {', '.join(changed)})"
                )
            else:
                why = f"{SIGNATURE_FILE} does not verify ({type(exc).__name__}: {text[:200]})"
            raise _refuse(where, why) from None


def _check_tags(where: str, model_dir: Path, tags: dict[str, str]) -> None:
    """The version's tags must still be the lineage that was signed; the signature its own."""
    signed = json.loads((model_dir / LINEAGE_FILE).read_text())
    changed = sorted(k for k, v in signed.items() if tags.get(k) != v)
    if changed:
        shown = ", ".join(f"{k}={tags.get(k)!r} (signed {signed[k]!r})" for k in changed[:5])
        raise _refuse(where, f"the version's tags differ from the signed lineage: {shown}")
    recorded = tags.get(SIGNATURE_TAG)
    actual = signature_tag(model_dir / SIGNATURE_FILE)[SIGNATURE_TAG]
    if recorded and recorded != actual:
        raise _refuse(where, f"{SIGNATURE_TAG} records {recorded!r}, the stored one is {actual!r}")


def verify_model(model_dir: str | Path, tags: dict[str, str], where: str) -> bool:
    """The one signature check of a registered version, before its sha256 and class checks.

    Args:
        model_dir: The downloaded model folder (model.skops, and model.sig with
            lineage_tags.json when it was signed).
        tags: The version's tags as the registry holds them now.
        where: Names the version in messages (models:/NAME/VERSION).

    Returns:
        True when verified; False when no public key is configured (today's behaviour, said
        once per process on stderr).

    Raises:
        ModelTrustError: A key is configured and the signature is missing, made by another
            key, damaged, or does not cover these bytes and tags; names the signature.
        ConfigError: KFP_MLOPS_MODEL_PUBLIC_PEM names no file.
    """
    key = public_key()
    if key is None:
        _say_unverified()
        return False
    folder = Path(model_dir)
    signature = folder / SIGNATURE_FILE
    if not signature.is_file():
        raise _refuse(
            where,
            f"no {SIGNATURE_FILE} beside {MODEL_FILE}, and {MODEL_PUBLIC_KEY_ENV} is set, so "
            "every registered version must be signed",
        )
    _check_signature(where, folder, key, signature)
    _check_tags(where, folder, tags)
    return True


def write_key_pair(private_path: str | Path, public_path: str | Path) -> None:
    """Make an EC P-256 key pair as PEM files (the private one readable by its owner only)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    Path(private_path).parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    Path(public_path).parent.mkdir(parents=True, exist_ok=True)
    Path(public_path).write_bytes(public)
