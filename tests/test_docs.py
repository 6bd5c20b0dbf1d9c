"""The docs hold together: every relative link resolves, and parameters are documented once.

Parameters have one source: the `Args:` of each component wrapper's docstring, which KFP
compiles into the spec (the Kubeflow UI shows it). A component's README says what the step
does and links to its wrapper instead of restating them.
"""

import ast
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPONENT_DIRS = sorted(p for p in (REPO / "components").iterdir() if (p / "component.py").exists())

# Every Markdown file a reader starts from or is sent to by the README.
DOCS = sorted(
    [REPO / "README.md", REPO / "components" / "README.md", REPO / "manifests" / "README.md"]
    + list((REPO / "docs").glob("*.md"))
    + [d / "README.md" for d in COMPONENT_DIRS]
)

LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\w)|(?<=\w)_", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file, with GitHub's -1, -2 for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    """Each relative link of a Markdown file whose file or anchor does not exist, explained."""
    problems = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        dest = (path.parent / unquote(where)).resolve() if where else path
        if not dest.exists():
            problems.append(f"{target}: no such file {dest.relative_to(REPO)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: {dest.relative_to(REPO)} has no heading #{anchor}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_to_a_file_and_heading(doc):
    problems = broken_links(doc)
    assert not problems, f"{doc.relative_to(REPO)}: " + "; ".join(problems)


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "REPO", tmp_path)
    (tmp_path / "other.md").write_text("# Other\n\n## Run on `Kubeflow`, step 1\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md#run-on-kubeflow-step-1) [self](#top) [web](https://example.com/x)\n"
        "`[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n"
        "[gone](missing.md) [no anchor](other.md#nope)\n# Top\n"
    )
    problems = broken_links(doc)
    assert problems == [
        "missing.md: no such file missing.md",
        "other.md#nope: other.md has no heading #nope",
    ]


def test_the_readme_is_a_map():
    """About 300 lines: the detail lives in docs/ and beside the code it describes."""
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 330, f"README.md has {lines} lines; move detail into docs/"


# -- parameters: documented once, in the wrapper's docstring -------------------------------


def wrapper_params(wrapper: Path) -> tuple[list[str], list[str]]:
    """The component function's parameters, and the names its docstring's Args documents."""
    tree = ast.parse(wrapper.read_text())
    (func,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    params = [a.arg for a in func.args.args + func.args.kwonlyargs]
    doc = ast.get_docstring(func) or ""
    if "\nArgs:\n" not in doc:
        return params, []
    args = doc.split("\nArgs:\n", 1)[1]
    documented = []
    for line in args.splitlines():
        if line and not line.startswith(" "):  # the next section (Returns:, Raises:)
            break
        match = re.match(r" {4}(\w+)(?: \([^)]*\))?:", line)
        if match:
            documented.append(match.group(1))
    return params, documented


@pytest.mark.parametrize(
    "wrapper", [d / "component.py" for d in COMPONENT_DIRS], ids=lambda p: p.parent.name
)
def test_every_wrapper_parameter_is_documented_and_every_documented_one_exists(wrapper):
    params, documented = wrapper_params(wrapper)
    name = wrapper.parent.name
    missing = [p for p in params if p not in documented]
    extra = [d for d in documented if d not in params]
    assert not missing, f"{name}/component.py: parameters without an Args entry: {missing}"
    assert not extra, f"{name}/component.py: Args documents no such parameter: {extra}"
    assert len(documented) == len(set(documented)), f"{name}: an Args entry is repeated"


def test_the_parameter_check_catches_a_missing_and_a_stale_entry(tmp_path):
    wrapper = tmp_path / "component.py"
    wrapper.write_text(
        "def c(a: str, b: int):\n"
        '    """Do it.\n\n    Args:\n        a: The first.\n            More on a.\n'
        '        gone: Renamed long ago.\n\n    Returns:\n        x: not a parameter.\n    """\n'
    )
    assert wrapper_params(wrapper) == (["a", "b"], ["a", "gone"])


@pytest.mark.parametrize("folder", COMPONENT_DIRS, ids=lambda p: p.name)
def test_component_readmes_link_the_wrapper_and_restate_no_parameter_table(folder):
    readme = (folder / "README.md").read_text()
    assert "(component.py)" in readme, f"{folder.name}/README.md does not link component.py"
    headings = [h.lower() for h in re.findall(r"^#+\s+(.*)$", _prose(readme), re.MULTILINE)]
    for banned in ("inputs", "parameters", "inputs and outputs"):
        assert banned not in headings, (
            f"{folder.name}/README.md has a '{banned}' section; parameters are documented in "
            "component.py's docstring (Args), which KFP compiles into the spec"
        )
    params, _ = wrapper_params(folder / "component.py")
    table_rows = re.findall(r"^\|\s*`(\w+)`\s*\|", readme, re.MULTILINE)
    restated = [p for p in table_rows if p in params and not _is_output(folder, p)]
    assert not restated, f"{folder.name}/README.md tabulates parameters {restated}"


def _is_output(folder: Path, name: str) -> bool:
    """Outputs (dsl.Output[...]) may be described in the README: they are what it makes."""
    source = (folder / "component.py").read_text()
    return re.search(rf"\b{name}: (?:dsl\.)?Output\[", source) is not None


# -- addresses the docs give: they answer on what `make monitoring-tools` installs --------


def prometheus_ui_paths() -> list[str]:
    """The Prometheus UI and API paths in docs/monitoring.md's table of local addresses."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| Prometheus UI")]
    return [p.replace("...", "query?query=up") for p in re.findall(r"`(/[^`]*)`", row)]


def test_the_prometheus_addresses_the_docs_give_answer_on_the_installed_prometheus(tmp_path):
    """Debian's prometheus has no React UI: `/alerts` and `/targets` are 404 there, its pages
    are under `/classic/`."""
    import urllib.error
    import urllib.request

    from tests.conftest import free_port
    from tests.real_prometheus import RealPrometheus

    paths = prometheus_ui_paths()
    assert "/classic/alerts" in paths and "/classic/targets" in paths
    prometheus = RealPrometheus(tmp_path, free_port(), canaries=[]).start()
    try:
        answers = {}
        for path in [*paths, "/alerts"]:
            try:
                with urllib.request.urlopen(prometheus.url + path, timeout=10) as answer:
                    answers[path] = answer.status
            except urllib.error.HTTPError as exc:
                answers[path] = exc.code
    finally:
        prometheus.stop()
    assert answers.pop("/alerts") == 404  # what the docs said before; the check can fail
    assert answers == dict.fromkeys(paths, 200)
