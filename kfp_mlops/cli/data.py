"""`kfp-mlops data add|tag|list|show`: immutable, content-addressed dataset versions on S3."""

import argparse
import json
import sys


def _add_cmd(args: argparse.Namespace) -> int:
    from components._shared.datasets import store
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    found, created = store.add(args.source, args.name, args.tag, args.parent, progress=_progress)
    state = "added" if created else "already stored, unchanged"
    print(f"{found['rows']} rows, {len(found['columns'])} columns: {state}", flush=True)
    if args.tag:
        print(f"tag {args.name}@{args.tag} -> sha256:{found['sha256']}")
    print(found["reference"])
    return 0


def _progress(done: int, total: int) -> None:
    """Parts read of a folder or prefix, on stderr (stdout stays the result).

    A terminal sees one line rewritten; a log gets a line per tenth of the parts.
    """
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\rread {done}/{total} parts", end=end, file=sys.stderr, flush=True)
    elif done == total or done % max(1, total // 10) == 0:
        print(f"read {done}/{total} parts", file=sys.stderr, flush=True)


def _tag_cmd(args: argparse.Namespace) -> int:
    from components._shared.datasets import store
    from components._shared.datasets.refs import parse_ref
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    ref = parse_ref(args.reference)
    _, sha256 = store.resolve(str(ref))
    move = store.move_tag(ref.name, args.tag, sha256)
    target = f"{ref.name}@sha256:{sha256}"
    if move is None:
        print(f"tag {ref.name}@{args.tag} already there: {target}, nothing recorded")
        return 0
    start = f"sha256:{move['from']}" if move["from"] else "(new tag)"
    print(f"tag {ref.name}@{args.tag}: {start} -> sha256:{sha256} (move {move['seq']}, recorded)")
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
    """Register `data add|tag|list|show` on the sub-parsers."""
    data = subparsers.add_parser("data", help="immutable dataset versions: add, tag, list, show")
    sub = data.add_subparsers(dest="data_command", required=True)

    add = sub.add_parser(
        "add", help="store a CSV/Parquet file, or a folder/prefix of Parquet parts, as a version"
    )
    add.add_argument(
        "source", metavar="FILE|URI",
        help="local path, file:// or s3://BUCKET/KEY; or a folder or s3://BUCKET/PREFIX/ of "
        "Parquet parts (streamed into one Parquet version; progress on stderr)",
    )  # fmt: skip
    add.add_argument("--name", required=True, help="dataset name (lowercase, digits, . _ -)")
    add.add_argument("--tag", default="", help="move NAME@TAG to this version (recorded)")
    add.add_argument(
        "--parent", action="append", default=[], metavar="REF",
        help="a version this one was derived from (dataset://NAME@...; repeatable)",
    )  # fmt: skip
    add.set_defaults(func=_add_cmd)

    tag = sub.add_parser("tag", help="move a tag to a version (recorded, never rewritten)")
    tag.add_argument(
        "reference", metavar="NAME@sha256:HEX|NAME@OTHERTAG", help="the version to point at"
    )
    tag.add_argument("tag", metavar="TAG", help="the tag to move (created if new)")
    tag.set_defaults(func=_tag_cmd)

    ls = sub.add_parser("list", help="dataset names, or the versions of one")
    ls.add_argument("name", nargs="?", default="", help="a dataset name: list its versions")
    ls.set_defaults(func=_list_cmd)

    show = sub.add_parser("show", help="a version's manifest (and a tag's history), as JSON")
    show.add_argument("reference", metavar="NAME[@sha256:HEX|@TAG]")
    show.set_defaults(func=_show_cmd)

    from kfp_mlops.cli.trainset import add_build_parser

    add_build_parser(sub)
