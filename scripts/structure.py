"""Print the code's structure: files, lines and import arrows per folder, circles, largest files.

Reads the source of components/, pipelines/ and kfp_mlops/ with ast (every import, those
inside functions included; nothing is imported or run) and prints:

- one row per folder: its Python files, their lines, the import arrows between its own
  modules, and the arrows out of it into other folders and into it from them;
- every arrow between folders, with its count;
- import circles between modules, if any;
- the largest files.

Usage: python scripts/structure.py [--largest N]
"""

import argparse
import ast
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("components", "pipelines", "kfp_mlops")


def module_files(repo: Path = REPO) -> dict[str, Path]:
    """Map every module under the roots to its file (`pkg/__init__.py` is `pkg`)."""
    modules = {}
    for root in ROOTS:
        for path in sorted((repo / root).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that `name` (a module or a name inside one) lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree except those under `if TYPE_CHECKING:` (never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports when it runs, at any depth of its code.

    Imports inside functions count; those under `if TYPE_CHECKING:` do not (they never run,
    so they cannot close a circle at import time).
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod when there is one.
            targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != module:
                found.add(resolved)
    return found


def import_graph(repo: Path = REPO) -> dict[str, set[str]]:
    """Module → the project modules it imports."""
    modules = module_files(repo)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def folder_of(module: str, modules: dict[str, Path]) -> str:
    """The folder a module's file sits in, relative to the repository."""
    return str(modules[module].parent.relative_to(REPO))


def main() -> None:
    """Print the tables for the working tree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=10, help="how many largest files")
    args = parser.parse_args()
    modules = module_files()
    graph = import_graph()
    lines = {m: len(p.read_text().splitlines()) for m, p in modules.items()}

    files, sizes, inside, out, into = Counter(), Counter(), Counter(), Counter(), Counter()
    arrows = Counter()
    for module, targets in graph.items():
        here = folder_of(module, modules)
        files[here] += 1
        sizes[here] += lines[module]
        for target in targets:
            there = folder_of(target, modules)
            if there == here:
                inside[here] += 1
            else:
                out[here] += 1
                into[there] += 1
                arrows[here, there] += 1

    width = max(len(f) for f in files)
    print(f"{'folder':<{width}}  files  lines  inside  out  in")
    for folder in sorted(files):
        print(
            f"{folder:<{width}}  {files[folder]:>5}  {sizes[folder]:>5}  {inside[folder]:>6}"
            f"  {out[folder]:>3}  {into[folder]:>3}"
        )
    print(
        f"{'total':<{width}}  {sum(files.values()):>5}  {sum(sizes.values()):>5}"
        f"  {sum(inside.values()):>6}  {sum(out.values()):>3}"
    )

    print("\nimport arrows between folders (count)")
    for (here, there), count in sorted(arrows.items()):
        print(f"  {here} -> {there}  {count}")

    print("\nimport circles")
    found = circles(graph)
    for group in found:
        print("  " + " <-> ".join(group))
    if not found:
        print("  none")

    print(f"\nlargest {args.largest} files")
    for module in sorted(lines, key=lines.get, reverse=True)[: args.largest]:
        print(f"  {lines[module]:>5}  {modules[module].relative_to(REPO)}")


if __name__ == "__main__":
    main()
