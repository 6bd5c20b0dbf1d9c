"""Collect the locked wheels the container images install (`make wheels`).

Two requirement sets come from uv.lock (`uv export`, hashes included):

- components: the project's runtime dependencies (no extras, no dev group); the project
  itself is built as a wheel (`uv build --wheel`) into `project/`;
- mlflow: the MLflow tracking server image: full `mlflow` and `boto3` (its S3 artifact proxy)
  from the `stack` extra, with everything they need, and nothing else of the project.

pip downloads every wheel for CPython 3.11 on manylinux x86_64 and checks it against the
lock's hashes; a package published only as an sdist is built into a wheel here after its
sdist hash is checked. Each set is then written as `requirements-<set>.txt` in the output
folder, every line pinned to the sha256 of the file in that folder, so the image build
installs exactly these files (`pip install --no-index --require-hashes`) with no network.

Usage: python scripts/wheels.py OUTPUT_DIR
"""

import hashlib
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

REPO = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"
MLFLOW_SERVER_ROOTS = ("mlflow", "boto3")
# The image's glibc floor is Debian bookworm's (2.36); newest tags first, pip's preference.
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
_STAMP = ".lock.sha256"
EXPORT_ARGS = ("--no-header", "--no-annotate")


def normalize(name: str) -> str:
    """PEP 503 name normalization (how wheel file names and the lock may differ)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Entry:
    """One requirement of an `uv export`: its name, version, marker and full text."""

    name: str
    version: str
    marker: str | None
    text: str

    def applies(self) -> bool:
        """Whether its marker holds on the image's platform (Linux, CPython 3.11)."""
        return self.marker is None or Marker(self.marker).evaluate()


def export(*extra_args: str) -> list[Entry]:
    """The locked requirements `uv export` gives for these arguments."""
    out = subprocess.run(
        [str(UV), "export", "--frozen", "--no-dev", "--no-emit-project", *EXPORT_ARGS, *extra_args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    entries = []
    for block in re.split(r"\n(?=\S)", out.strip()):
        text = block.strip()
        if not text or text.startswith("#"):
            continue
        head = text.split("\\")[0].strip()
        spec, _, marker = head.partition(";")
        name, _, version = spec.strip().partition("==")
        entries.append(Entry(normalize(name), version.strip(), marker.strip() or None, text))
    return entries


def closure(lock: dict, roots: tuple[str, ...]) -> set[str]:
    """Every package the roots need in uv.lock, following extras they ask for."""
    packages: dict[str, list[dict]] = {}
    for package in lock["package"]:
        packages.setdefault(normalize(package["name"]), []).append(package)
    seen: set[str] = set()
    todo = [(normalize(r), ()) for r in roots]
    while todo:
        name, extras = todo.pop()
        key = f"{name}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        for package in packages.get(name, []):
            deps = list(package.get("dependencies", []))
            for extra in extras:
                deps += package.get("optional-dependencies", {}).get(extra, [])
            todo += [(normalize(d["name"]), tuple(d.get("extra", ()))) for d in deps]
    return {key.split("[")[0] for key in seen}


def sdist_only(lock: dict) -> set[str]:
    """Packages the lock knows only as an sdist (no wheel published)."""
    return {
        normalize(p["name"])
        for p in lock["package"]
        if "wheels" not in p and "registry" in p.get("source", {})
    }


def pip(*args: str) -> None:
    """Run the pip of this interpreter, quietly; fail loudly."""
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def download(entries: list[Entry], built: set[str], out: Path) -> None:
    """Download the wheels (hash-checked); build wheels of sdist-only packages."""
    wanted = [e for e in entries if e.applies()]
    binary = [e for e in wanted if e.name not in built]
    sdists = [e for e in wanted if e.name in built]
    for group, args in (
        (binary, ["download", "--only-binary=:all:", "--python-version", "3.11", "-d"]),
        (sdists, ["wheel", "-w"]),
    ):
        if not group:
            continue
        req = out / f".{args[0]}.txt"
        req.write_text("".join(e.text + "\n" for e in group))
        platform = (
            ["--implementation", "cp", "--abi", "cp311"]
            + [arg for p in PLATFORMS for arg in ("--platform", p)]
            if args[0] == "download"
            else []
        )
        print(f"wheels: pip {args[0]} of {len(group)} locked packages", flush=True)
        pip(*args, str(out), *platform, "--no-deps", "--require-hashes", "-q", "-r", str(req))
        req.unlink()


def wheel_files(out: Path) -> dict[tuple[str, str], list[Path]]:
    """(name, version) → the wheel files in the folder."""
    found: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(out.glob("*.whl")):
        name, version = path.name.split("-")[:2]
        found.setdefault((normalize(name), version), []).append(path)
    return found


def pinned(entries: list[Entry], files: dict[tuple[str, str], list[Path]]) -> list[str]:
    """Requirement lines pinned to the sha256 of the files in the folder."""
    lines = []
    for entry in entries:
        paths = files.get((entry.name, entry.version), [])
        if not paths:
            if entry.applies():
                raise SystemExit(f"error: no wheel for {entry.name}=={entry.version} was fetched")
            continue
        marker = f" ; {entry.marker}" if entry.marker else ""
        digests = (hashlib.sha256(p.read_bytes()).hexdigest() for p in paths)
        hashes = " ".join(f"--hash=sha256:{d}" for d in digests)
        lines.append(f"{entry.name}=={entry.version}{marker} {hashes}")
    return lines


def project_wheel(out: Path) -> Path:
    """Build the project's own wheel into out/project/ with its pinned requirement file.

    Kept apart from the dependencies so that a source change rebuilds one small image layer.
    """
    folder = out / "project"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.whl"):
        old.unlink()
    subprocess.run(
        [str(UV), "build", "--wheel", "--quiet", "--out-dir", str(folder)], check=True, cwd=REPO
    )
    (path,) = folder.glob("kfp_mlops-*.whl")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    version = path.name.split("-")[1]
    (folder / "requirements.txt").write_text(f"kfp-mlops=={version} --hash=sha256:{digest}\n")
    return path


def main(out: Path) -> int:
    """Fetch what is missing; write requirements-{components,mlflow}.txt; build the project."""
    out.mkdir(parents=True, exist_ok=True)
    lock_bytes = (REPO / "uv.lock").read_bytes()
    lock = tomllib.loads(lock_bytes.decode())
    keep = closure(lock, MLFLOW_SERVER_ROOTS)
    sets = {
        "components": export(),
        "mlflow": [e for e in export("--extra", "stack") if e.name in keep],
    }
    union = {(e.name, e.version): e for entries in sets.values() for e in entries}
    stamp = hashlib.sha256(lock_bytes + Path(__file__).read_bytes()).hexdigest()
    if (out / _STAMP).exists() and (out / _STAMP).read_text() == stamp:
        print("wheels: the locked set is already here (uv.lock unchanged)")
    else:
        download(list(union.values()), sdist_only(lock), out)
        for (name, version), paths in wheel_files(out).items():
            if (name, version) not in union:
                for path in paths:  # left from an older lock
                    path.unlink()
        (out / _STAMP).write_text(stamp)
    print(f"wheels: built {project_wheel(out).name}")
    files = wheel_files(out)
    for name, entries in sets.items():
        lines = pinned(entries, files)
        (out / f"requirements-{name}.txt").write_text(
            f"# {name} image: generated by scripts/wheels.py from uv.lock; pinned to these files.\n"
            + "".join(line + "\n" for line in lines)
        )
        print(f"wheels: requirements-{name}.txt pins {len(lines)} wheels")
    size = sum(p.stat().st_size for p in out.glob("*.whl")) / 2**20
    print(f"wheels: {len(list(out.glob('*.whl')))} files, {size:.0f} MiB in {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python scripts/wheels.py OUTPUT_DIR")
    sys.exit(main(Path(sys.argv[1]).resolve()))
