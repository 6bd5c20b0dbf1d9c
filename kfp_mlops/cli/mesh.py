"""`kfp-mlops mesh-policy`: the Istio objects that admit only named callers to one model server."""

import argparse
import sys

import yaml

from components.deploy_model import mesh


def _mesh_policy_cmd(args: argparse.Namespace) -> int:
    docs = mesh.policies(args.service, args.namespace, args.caller,
                         trust_domain=args.trust_domain)  # fmt: skip
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))
    return 0


def add_parser(subparsers) -> None:
    """Register mesh-policy on the sub-parsers."""
    m = subparsers.add_parser(
        "mesh-policy",
        help="print the PeerAuthentication and AuthorizationPolicy that admit only the named "
        "service accounts to one InferenceService (pipe into `kubectl apply -f -`)",
        description=mesh.__doc__.split("\n\n")[0],
    )
    m.add_argument("service", help="the InferenceService name (deploy_model's service_name)")
    m.add_argument("--namespace", "-n", required=True, help="its namespace")
    m.add_argument(
        "--caller", action="append", default=[], required=True, metavar="[NS/]SERVICE_ACCOUNT",
        help="a service account that may call it (repeat for more); NS defaults to --namespace",
    )  # fmt: skip
    m.add_argument(
        "--trust-domain", default=mesh.TRUST_DOMAIN,
        help=f"the mesh's trust domain (Istio meshConfig.trustDomain; default {mesh.TRUST_DOMAIN})",
    )  # fmt: skip
    m.set_defaults(func=_mesh_policy_cmd)
