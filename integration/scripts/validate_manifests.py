#!/usr/bin/env python3
"""Validates Kubernetes manifests (a JSON list on stdin) with kubernetes-validate, strict, for
Kubernetes 1.31-1.33. Kinds kubernetes-validate has no schema for (custom resources) must
still name apiVersion, kind and metadata.name. Exit 0: all valid; 1: some invalid (listed);
3: the Python package is missing."""

import json
import sys

try:
    import kubernetes_validate
except ImportError as err:  # pragma: no cover - depends on the machine
    print(f"SKIP: {err}; pip install kubernetes-validate", file=sys.stderr)
    sys.exit(3)

VERSIONS = ["1.31.0", "1.32.0", "1.33.0"]
BUILT_IN_GROUPS = {"", "apps", "rbac.authorization.k8s.io", "storage.k8s.io", "policy",
                   "networking.k8s.io", "admissionregistration.k8s.io", "batch",
                   "scheduling.k8s.io", "coordination.k8s.io"}


def group(doc):
    api_version = doc.get("apiVersion", "")
    return api_version.split("/")[0] if "/" in api_version else ""


def main():
    docs = json.load(sys.stdin)
    bad, checked = [], 0
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if not doc.get("apiVersion") or not doc.get("kind") or not doc.get("metadata", {}).get("name"):
            bad.append(f"{name}: apiVersion, kind and metadata.name are required")
            continue
        if group(doc) not in BUILT_IN_GROUPS:
            checked += 1
            continue
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                bad.append(f"{name} (Kubernetes {version}): {path}: {e.message}")
            except Exception as e:  # SchemaNotFound and the like
                bad.append(f"{name} (Kubernetes {version}): {getattr(e, 'message', e)}")
        checked += 1
    for b in bad:
        print(f"invalid: {b}")
    print(f"{checked} manifests checked, {len(bad)} problems")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
