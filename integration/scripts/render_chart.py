#!/usr/bin/env python3
"""Render the metal-mesh Helm chart offline and print every manifest as ONE JSON array.

Helm v4 runs in-process through the PyPI package `helm-python-sdk` (import name `helm_python`),
exactly as check_chart.py renders it: no `helm` binary, no cluster (`lookup` finds nothing, so
the self-signed CA and certificates and the HMAC keys are fresh on every run). The output is a
JSON array of the rendered objects (NOTES.txt and empty documents left out, never null), in
template order, e.g. for tests that pick the ClusterRoles and apply them to a test API server:

    python3 integration/scripts/render_chart.py --set lbAllocator.enabled=true \\
        --set lbAllocator.projectId=p --set lbAllocator.partitionId=fra-equ01 \\
        --set lbAllocator.clusterId=c --set ruleCompiler.enabled=true --set volumeManager.enabled=true \\
      | jq '.[] | select(.kind == "ClusterRole")'

`--set` follows `helm --set` (repeatable; a.b=c, lists {a,b}, a[0].b=c, commas escaped as \\,),
`--set-string` keeps the values strings, `-f/--values FILE` merges a YAML file first.

Usage: render_chart.py [--chart DIR] [--release NAME] [--namespace NS] [-f FILE]... [--set K=V]... [--set-string K=V]...
Exit codes: 0 rendered, 1 rendering failed (the message on stderr), 2 bad arguments,
77 the Python packages are missing.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

SKIP = 77

try:
    import helm_python as helm
    import yaml
except ImportError as err:  # pragma: no cover - depends on the machine
    print(
        f"SKIP: missing Python package ({err}); install with: pip install helm-python-sdk",
        file=sys.stderr,
    )
    sys.exit(SKIP)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge as Helm merges -f files: maps are merged, everything else is replaced."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def values_from_args(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in args.values or []:
        loaded = yaml.safe_load(pathlib.Path(f).read_text()) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"render_chart.py: {f} is not a YAML map")
        merge(values, loaded)
    # helm parses every --set into the same map in turn; one comma-joined expression is the same
    # (a comma inside a value must be escaped as \, in either form).
    if args.set:
        merge(values, helm.parse_set_string(",".join(args.set)))
    if args.set_string:
        merge(values, helm.parse_set_string_values(",".join(args.set_string)))
    return values


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if isinstance(doc, dict) and doc:
                out.append(doc)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chart", default=str(ROOT / "helm" / "metal-mesh"), help="chart directory (default: helm/metal-mesh)")
    ap.add_argument("--release", default="mesh", help="release name (default: mesh)")
    ap.add_argument("--namespace", default="metal-system", help="release namespace (default: metal-system)")
    ap.add_argument("-f", "--values", action="append", metavar="FILE", help="a values file (repeatable)")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="as helm --set (repeatable)")
    ap.add_argument("--set-string", action="append", metavar="KEY=VALUE", help="as helm --set-string (repeatable)")
    args = ap.parse_args()
    try:
        values = values_from_args(args)
        with helm.Chart.load(args.chart) as chart:
            rendered = chart.render(values, name=args.release, namespace=args.namespace, is_install=True)
    except helm.HelmError as e:
        print(f"render_chart.py: {e}", file=sys.stderr)
        return 1
    json.dump(manifests(rendered), sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
