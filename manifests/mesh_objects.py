"""Strict, offline schemas of the Istio objects we ship (manifests/mesh/) and render (deploy_model).

Derived by hand from Istio's CRDs (github.com/istio/istio, manifests/charts/base/files/
crd-all.gen.yaml at commit 86c9f01, the 1.31 development line; `security.istio.io/v1` has been
served, and stored, since Istio 1.22): for AuthorizationPolicy and PeerAuthentication, every
field name the CRD allows at each level, with the CRD's enums, and the CRD's two CEL rules we
can meet (an AuthorizationPolicy names at most one of selector/targetRef/targetRefs;
`portLevelMtls` needs a selector with labels). Unlike the CRDs, whose objects an API server
prunes of unknown fields, every object here is closed, so a misspelled field fails the check.
"""

import jsonschema

GROUP = "security.istio.io"
API_VERSION = f"{GROUP}/v1"
KINDS = ("AuthorizationPolicy", "PeerAuthentication")
_STRINGS = {"type": "array", "items": {"type": "string"}}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _LABELS},
}
_REF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "name"],
    "properties": {k: {"type": "string"} for k in ("group", "kind", "name", "namespace")},
}
_SOURCE_FIELDS = [
    "ipBlocks", "namespaces", "notIpBlocks", "notNamespaces", "notPrincipals",
    "notRemoteIpBlocks", "notRequestPrincipals", "notServiceAccounts", "notTrustDomains",
    "principals", "remoteIpBlocks", "requestPrincipals", "serviceAccounts", "trustDomains",
]  # fmt: skip
_OPERATION_FIELDS = [
    "hosts", "methods", "notHosts", "notMethods", "notPaths", "notPorts", "paths", "ports"
]  # fmt: skip
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": _LABELS,
        "annotations": _LABELS,
    },
    "additionalProperties": False,
}
_MTLS_MODE = {"type": "string", "enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}
_MTLS = {"type": "object", "additionalProperties": False, "properties": {"mode": _MTLS_MODE}}

AUTHORIZATION_POLICY_SPEC = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
        "provider": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}},
        },
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "from": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "source": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {f: _STRINGS for f in _SOURCE_FIELDS},
                                }
                            },
                        },
                    },
                    "to": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "operation": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {f: _STRINGS for f in _OPERATION_FIELDS},
                                }
                            },
                        },
                    },
                    "when": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["key"],
                            "properties": {
                                "key": {"type": "string"},
                                "values": _STRINGS,
                                "notValues": _STRINGS,
                            },
                        },
                    },
                },
            },
        },
        "selector": _SELECTOR,
        "targetRef": _REF,
        "targetRefs": {"type": "array", "items": _REF},
    },
}

PEER_AUTHENTICATION_SPEC = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "mtls": _MTLS,
        "portLevelMtls": {"type": "object", "additionalProperties": _MTLS},
        "selector": _SELECTOR,
    },
}

SPECS = {
    "AuthorizationPolicy": AUTHORIZATION_POLICY_SPEC,
    "PeerAuthentication": PEER_AUTHENTICATION_SPEC,
}


def _object(kind: str) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": SPECS[kind],
        },
    }


def is_mesh_kind(doc: dict) -> bool:
    """Whether doc is one of the Istio security kinds checked here."""
    return str(doc.get("apiVersion", "")).startswith(f"{GROUP}/")


def problems(doc: dict) -> list[str]:
    """Schema violations (and the CRDs' CEL rules we meet) of one Istio object, one line each."""
    kind = doc.get("kind")
    if kind not in SPECS:
        return [f"{doc.get('apiVersion')} {kind}: not a kind we ship (one of {', '.join(KINDS)})"]
    found = []
    for error in jsonschema.Draft7Validator(_object(kind)).iter_errors(doc):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(f"{where}: {error.message}")
    spec = doc.get("spec") or {}
    # The CRDs' CEL rules (x-kubernetes-validations), in the CRDs' words.
    targets = sum(k in spec for k in ("selector", "targetRef", "targetRefs"))
    if kind == "AuthorizationPolicy" and targets > 1:
        found.append("spec: only one of targetRefs or selector can be set")
    labels = (spec.get("selector") or {}).get("matchLabels")
    if kind == "PeerAuthentication" and spec.get("portLevelMtls") and not labels:
        found.append("spec: portLevelMtls requires selector")
    return found
