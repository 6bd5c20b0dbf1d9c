"""`kfp-mlops labels schema register|list|show`: immutable, versioned label schemas on S3."""

import argparse
import json


def _register_cmd(args: argparse.Namespace) -> int:
    from components._shared.labels import definition, schemas
    from kfp_mlops.cli.stackenv import use_local_stack

    definition.check_name(args.name)
    raw = definition.load_file(args.file)  # an unreadable file is refused before any S3 call
    definition.normalize(raw, args.file)
    use_local_stack(required=False)
    record, created = schemas.register(args.name, raw, where=args.file)
    state = "registered" if created else "already stored, unchanged"
    classes = ", ".join(f"{c['id']}={c['name']}" for c in record["schema"]["classes"])
    print(f"{record['reference']}: {state} (classes {classes})", flush=True)
    print(f"sha256:{record['sha256']}")
    return 0


def _list_cmd(args: argparse.Namespace) -> int:
    from components._shared.labels import schemas
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    if not args.name:
        found = schemas.names()
        print(
            "\n".join(found) if found else "no label schemas; add one with `labels schema register`"
        )
        return 0
    for r in schemas.records(args.name):
        link = r["schema"]["compatible_with"]
        carried = f"  labels of v{link['version']} carried over" if link else ""
        names = [c["name"] for c in r["schema"]["classes"]]
        print(f"{r['reference']}  {r['created_at']}  by {r['created_by']}  {names}{carried}")
    return 0


def _show_cmd(args: argparse.Namespace) -> int:
    from components._shared.labels import schemas
    from kfp_mlops.cli.stackenv import use_local_stack

    use_local_stack(required=False)
    print(json.dumps(schemas.get(args.reference), indent=2))
    return 0


def add_parser(subparsers) -> None:
    """Register `labels schema register|list|show` on the sub-parsers."""
    labels = subparsers.add_parser("labels", help="label schemas: register, list, show")
    groups = labels.add_subparsers(dest="labels_command", required=True)
    schema = groups.add_parser("schema", help="versioned label schemas (NAME@vN)")
    sub = schema.add_subparsers(dest="schema_command", required=True)

    reg = sub.add_parser("register", help="store FILE as the next version of NAME; prints NAME@vN")
    reg.add_argument("name", metavar="NAME", help="schema name (lowercase, digits, . _ -)")
    reg.add_argument("file", metavar="FILE", help="the schema, .json or .yaml (docs/labels.md)")
    reg.set_defaults(func=_register_cmd)

    ls = sub.add_parser("list", help="schema names, or the versions of one")
    ls.add_argument("name", nargs="?", default="", metavar="NAME", help="list its versions")
    ls.set_defaults(func=_list_cmd)

    show = sub.add_parser("show", help="one version: schema, sha256, who, when (JSON)")
    show.add_argument("reference", metavar="NAME@vN")
    show.set_defaults(func=_show_cmd)
