"""`kfp-mlops data add|list|show`: immutable, content-addressed dataset versions on S3."""

import argparse
import json


def _add_cmd(args: argparse.Namespace) -> int:
    from components._shared.datasets import store
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    found, created = store.add(args.source, args.name, args.tag, args.parent)
    state = "added" if created else "already stored, unchanged"
    print(f"{found['rows']} rows, {len(found['columns'])} columns: {state}", flush=True)
    if args.tag:
        print(f"tag {args.name}@{args.tag} -> sha256:{found['sha256']}")
    print(found["reference"])
    return 0


def _list_cmd(args: argparse.Namespace) -> int:
    from components._shared.datasets import store
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    if not args.name:
        found = store.names()
        print("\n".join(found) if found else "no datasets; add one with `kfp-mlops data add`")
        return 0
    tags = store.tags(args.name)
    for m in store.versions(args.name):
        pointing = ", ".join(t for t, sha in tags.items() if sha == m["sha256"])
        print(f"{m['reference']}  {m['created_at']}  {m['rows']:>8} rows  by {m['created_by']}"
              + (f"  [{pointing}]" if pointing else ""))  # fmt: skip
    return 0


def _show_cmd(args: argparse.Namespace) -> int:
    from components._shared.datasets import store
    from components._shared.datasets.refs import parse_ref
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    ref = parse_ref(args.reference, pinned=False)
    if not ref.sha256 and not ref.tag:
        shown = {"name": ref.name, "versions": store.versions(ref.name)}
        shown["tags"] = store.tags(ref.name)
    else:
        _, sha256 = store.resolve(str(ref))
        shown = {"manifest": store.manifest(ref.name, sha256)}
        if ref.tag:
            shown["tag_history"] = store.tag_history(ref.name, ref.tag)
    print(json.dumps(shown, indent=2))
    return 0


def add_parser(subparsers) -> None:
    """Register `data add|list|show` on the sub-parsers."""
    data = subparsers.add_parser("data", help="immutable dataset versions: add, list, show")
    sub = data.add_subparsers(dest="data_command", required=True)

    add = sub.add_parser("add", help="store a CSV/Parquet file as a version; prints its reference")
    add.add_argument("source", metavar="FILE|URI", help="local path, file:// or s3://BUCKET/KEY")
    add.add_argument("--name", required=True, help="dataset name (lowercase, digits, . _ -)")
    add.add_argument("--tag", default="", help="move NAME@TAG to this version (recorded)")
    add.add_argument(
        "--parent", action="append", default=[], metavar="REF",
        help="a version this one was derived from (dataset://NAME@...; repeatable)",
    )  # fmt: skip
    add.set_defaults(func=_add_cmd)

    ls = sub.add_parser("list", help="dataset names, or the versions of one")
    ls.add_argument("name", nargs="?", default="", help="a dataset name: list its versions")
    ls.set_defaults(func=_list_cmd)

    show = sub.add_parser("show", help="a version's manifest (and a tag's history), as JSON")
    show.add_argument("reference", metavar="NAME[@sha256:HEX|@TAG]")
    show.set_defaults(func=_show_cmd)
