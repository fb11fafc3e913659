#!/usr/bin/env python3
"""Render, lint and validate the metal-mesh Helm chart with Helm v4, offline.

Helm runs in-process through the PyPI package `helm-python-sdk` (import name `helm_python`,
ctypes bindings to libhelm_c, which embeds Helm's Go SDK v4): no `helm` binary and no cluster.
Every rendered manifest is validated with `kubernetes-validate` against the Kubernetes 1.31,
1.32 and 1.33 OpenAPI schemas in strict mode (unknown fields fail), and the script asserts the
chart's behaviour (PVC template, the three HMAC keys, --seed only with a seed, ...).

The `lookup` path (generated HMAC keys kept across upgrades) is exercised too: a tiny fake
Kubernetes API server on 127.0.0.1 serves discovery and one existing Secret, and the chart is
rendered cluster-aware against it (helm_python.Config.render).

Usage: check_chart.py [--chart DIR] [--kube-versions 1.31,1.32,1.33]
Exit codes: 0 all checks passed, 1 a check failed, 77 the Python packages are missing.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import pathlib
import sys
import threading
import traceback
from typing import Any, Callable

SKIP = 77

try:
    import helm_python as helm
    import kubernetes_validate
    import yaml
except ImportError as err:  # pragma: no cover - depends on the machine
    print(
        f"SKIP: missing Python package ({err}); install with: "
        "pip install helm-python-sdk kubernetes-validate",
        file=sys.stderr,
    )
    sys.exit(SKIP)

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELEASE = "mesh"
NAMESPACE = "metal-system"
API_NAME = f"{RELEASE}-metal-mesh-metal-api"

INLINE_SEED = """\
partitions:
  - id: fra-equ01
    name: fra-equ01
    description: "chart test partition"
"""


class CheckFailed(AssertionError):
    pass


class Checker:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, cond: bool, what: str) -> None:
        if cond:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {what}")

    def section(self, title: str, fn: Callable[[], None]) -> None:
        print(f"== {title}")
        try:
            fn()
        except Exception:  # a crash in one section is a failure, the others still run
            self.failed += 1
            print(f"  FAIL  {title}: exception")
            traceback.print_exc(file=sys.stdout)


C = Checker()


# --------------------------------------------------------------------------------------------
# helpers


def docs_of(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a render, NOTES.txt excluded."""
    docs: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if doc:
                doc.setdefault("__template__", path)
                docs.append(doc)
    return docs


def strip_meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "__template__"}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in docs
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    if len(found) != 1:
        raise CheckFailed(f"expected exactly one {kind} {name or ''}, found {len(found)}")
    return found[0]


def container(sts: dict[str, Any]) -> dict[str, Any]:
    return sts["spec"]["template"]["spec"]["containers"][0]


def secret_ref_env(c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    out = {}
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            out[e["name"]] = (ref["name"], ref["key"])
    return out


def lint(chart_dir: pathlib.Path, values: dict[str, Any], label: str, kube_versions: list[str]) -> None:
    for kv in kube_versions:
        report = helm.lint(
            chart_dir, values, strict=True, namespace=NAMESPACE, kube_version=f"v{kv}.0"
        )
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems += [{"error": e} for e in report.get("errors", []) or []]
        for m in problems:
            print(f"        lint: {m}")
        C.check(
            report.get("total_charts_linted") == 1 and not problems,
            f"helm lint --strict ({label}, kube {kv}): no warnings or errors",
        )


def validate(docs: list[dict[str, Any]], label: str, kube_versions: list[str]) -> None:
    for kv in kube_versions:
        bad = []
        for d in docs:
            try:
                kubernetes_validate.validate(strip_meta(d), kv, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                bad.append(f"{d['kind']}/{d['metadata']['name']}: {path}: {e.message}")
            except Exception as e:  # SchemaNotFound etc.
                bad.append(f"{d['kind']}/{d['metadata']['name']}: {getattr(e, 'message', e)}")
        for b in bad:
            print(f"        invalid: {b}")
        kinds = ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
        C.check(
            not bad,
            f"kubernetes-validate strict, Kubernetes {kv} ({label}): {len(docs)} objects valid [{kinds}]",
        )


def render(chart: "helm.Chart", values: dict[str, Any]) -> dict[str, str]:
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


# --------------------------------------------------------------------------------------------
# behaviour checks


def check_common(docs: list[dict[str, Any]], chart_meta: dict[str, Any]) -> None:
    for d in docs:
        labels = d["metadata"].get("labels", {})
        C.check(
            labels.get("app.kubernetes.io/name") == "metal-mesh"
            and labels.get("app.kubernetes.io/instance") == RELEASE
            and labels.get("app.kubernetes.io/managed-by") == "Helm"
            and labels.get("app.kubernetes.io/component") == "metal-api"
            and labels.get("app.kubernetes.io/part-of") == "metal-mesh"
            and labels.get("app.kubernetes.io/version") == str(chart_meta["appVersion"]),
            f"{d['kind']}/{d['metadata']['name']} has the standard app.kubernetes.io/* labels",
        )
        C.check(
            d["metadata"].get("namespace") == NAMESPACE,
            f"{d['kind']}/{d['metadata']['name']} is in the release namespace",
        )
    sts = one(docs, "StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    selector = sts["spec"]["selector"]["matchLabels"]
    C.check(
        all(pod_labels.get(k) == v for k, v in selector.items()),
        "StatefulSet selector matches its pod labels",
    )
    C.check(
        "app.kubernetes.io/version" not in selector and "helm.sh/chart" not in selector,
        "StatefulSet selector carries no version label (stable across upgrades)",
    )
    for svc in [d for d in docs if d["kind"] == "Service"]:
        C.check(
            svc["spec"]["selector"] == selector,
            f"Service/{svc['metadata']['name']} selects the metal-api pod",
        )
        C.check(
            [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(8080, "http")],
            f"Service/{svc['metadata']['name']} exposes port 8080 -> http",
        )
    headless = [s for s in docs if s["kind"] == "Service" and s["spec"].get("clusterIP") == "None"]
    C.check(
        len(headless) == 1 and sts["spec"]["serviceName"] == headless[0]["metadata"]["name"],
        "StatefulSet serviceName is the headless Service",
    )
    C.check(sts["spec"]["replicas"] == 1, "StatefulSet runs exactly 1 replica (redb is single-writer)")

    c = container(sts)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    C.check(ports == {"http": 8080}, "container port http=8080")
    C.check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe GET /healthz")
    C.check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe GET /readyz")
    C.check(c["command"] == ["/usr/local/bin/metal-api"], "container runs /usr/local/bin/metal-api")
    args = c["args"]
    C.check(
        args[:4] == ["--listen", "0.0.0.0:8080", "--data-dir", "/data"],
        "args: --listen 0.0.0.0:8080 --data-dir /data",
    )
    sc = c["securityContext"]
    psc = sts["spec"]["template"]["spec"]["securityContext"]
    C.check(
        sc.get("runAsNonRoot") is True
        and sc.get("readOnlyRootFilesystem") is True
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        "container securityContext: runAsNonRoot, readOnlyRootFilesystem, drop ALL, seccomp RuntimeDefault",
    )
    C.check(
        psc.get("runAsNonRoot") is True
        and psc.get("runAsUser") == 65532
        and psc.get("fsGroup") == 65532
        and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        "pod securityContext: uid 65532 (the image's user), fsGroup 65532, seccomp RuntimeDefault",
    )
    C.check("resources" in c and "requests" in c["resources"], "container has resource requests")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    C.check(mounts.get("data") == "/data", "volume `data` mounted on /data")
    C.check(mounts.get("tmp") == "/tmp", "writable emptyDir on /tmp (read-only root filesystem)")
    vcts = sts["spec"].get("volumeClaimTemplates", [])
    C.check(
        len(vcts) == 1
        and vcts[0]["metadata"]["name"] == "data"
        and vcts[0]["spec"]["accessModes"] == ["ReadWriteOnce"],
        "StatefulSet has the PVC template `data` (ReadWriteOnce)",
    )
    env = secret_ref_env(c)
    C.check(
        sorted(env) == ["METAL_API_HMAC_ADMIN_KEY", "METAL_API_HMAC_EDIT_KEY", "METAL_API_HMAC_VIEW_KEY"],
        "env METAL_API_HMAC_{VIEW,EDIT,ADMIN}_KEY come from a Secret",
    )
    C.check(
        sts["spec"]["template"]["spec"].get("enableServiceLinks") is False
        and sts["spec"]["template"]["spec"].get("automountServiceAccountToken") is False,
        "no service-link env vars, no service account token",
    )


def check_default(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    meta = chart.metadata
    C.check(meta.get("apiVersion") == "v2", "Chart.yaml apiVersion is v2")
    vals = chart.values
    C.check(vals["metalApi"]["enabled"] is True, "values: metalApi.enabled defaults to true")
    for svc in ["lbAllocator", "volumeManager", "ruleCompiler", "machineLifecycle", "gardenerWebhooks"]:
        C.check(vals[svc]["enabled"] is False, f"values: {svc}.enabled defaults to false")

    lint(chart_dir, {}, "default values", kv)
    rendered = render(chart, {})
    docs = docs_of(rendered)
    validate(docs, "default values", kv)
    check_common(docs, meta)
    C.check(
        sorted(d["kind"] for d in docs) == ["Secret", "Service", "Service", "StatefulSet"],
        "default values render StatefulSet, 2 Services, Secret and no ConfigMap",
    )
    sts = one(docs, "StatefulSet")
    c = container(sts)
    C.check(c["image"] == f"metal-mesh:{meta['appVersion']}", f"image defaults to metal-mesh:{meta['appVersion']} (appVersion)")
    C.check("--seed" not in c["args"], "no --seed argument without a seed")
    C.check(
        not any(v.get("configMap") for v in sts["spec"]["template"]["spec"]["volumes"]),
        "no seed volume without a seed",
    )
    vct = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    C.check(vct["resources"]["requests"]["storage"] == "1Gi", "PVC size defaults to 1Gi")
    C.check("storageClassName" not in vct, "storageClassName omitted by default (cluster default class)")
    secret = one(docs, "Secret")
    C.check(secret["metadata"]["name"] == API_NAME, f"Secret is named {API_NAME}")
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    C.check(sorted(keys) == ["admin-key", "edit-key", "view-key"], "Secret has exactly the three HMAC keys")
    C.check(
        all(len(v) == 48 and v.isalnum() for v in keys.values()) and len(set(keys.values())) == 3,
        "generated keys: 48 random alphanumerics, all different",
    )
    env = secret_ref_env(c)
    C.check(
        env["METAL_API_HMAC_EDIT_KEY"] == (API_NAME, "edit-key")
        and env["METAL_API_HMAC_VIEW_KEY"] == (API_NAME, "view-key")
        and env["METAL_API_HMAC_ADMIN_KEY"] == (API_NAME, "admin-key"),
        "env refers to the rendered Secret's keys",
    )


def custom_values(seed: str) -> dict[str, Any]:
    return {
        "image": {"repository": "registry.example.com/metal-mesh", "tag": "1.2.3"},
        "metalApi": {
            "seed": seed,
            "hmac": {"viewKey": "view-secret", "editKey": "edit-secret", "adminKey": "admin-secret", "lifetime": "45s"},
            "persistence": {"size": "5Gi", "storageClassName": "fast-ssd"},
            "extraArgs": ["--base-path", "/metal/"],
            "extraEnv": [{"name": "RUST_LOG", "value": "debug"}],
            "podAnnotations": {"prometheus.io/scrape": "true"},
        },
    }


def check_custom(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str], seed: str, seed_src: str) -> None:
    values = custom_values(seed)
    lint(chart_dir, values, "seed+keys+storage class", kv)
    docs = docs_of(render(chart, values))
    validate(docs, "seed+keys+storage class", kv)
    check_common(docs, chart.metadata)
    C.check(
        sorted(d["kind"] for d in docs) == ["ConfigMap", "Secret", "Service", "Service", "StatefulSet"],
        "custom values render StatefulSet, 2 Services, Secret and the seed ConfigMap",
    )
    cm = one(docs, "ConfigMap")
    C.check(cm["data"]["seed.yaml"].strip() == seed.strip(), f"seed ConfigMap holds the given seed ({seed_src}) verbatim")
    C.check(yaml.safe_load(cm["data"]["seed.yaml"]) == yaml.safe_load(seed), "seed in the ConfigMap parses to the same YAML")
    sts = one(docs, "StatefulSet")
    c = container(sts)
    args = c["args"]
    C.check(
        "--seed" in args and args[args.index("--seed") + 1] == "/etc/metal-api/seed.yaml",
        "--seed /etc/metal-api/seed.yaml passed when a seed is set",
    )
    C.check(
        "--hmac-lifetime" in args and args[args.index("--hmac-lifetime") + 1] == "45s",
        "--hmac-lifetime passed when set",
    )
    C.check(args[-2:] == ["--base-path", "/metal/"], "extraArgs appended")
    C.check({"name": "RUST_LOG", "value": "debug"} in c["env"], "extraEnv appended")
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    C.check(vols.get("seed", {}).get("configMap", {}).get("name") == cm["metadata"]["name"], "seed ConfigMap mounted as volume `seed`")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    C.check(
        mounts.get("seed", {}).get("mountPath") == "/etc/metal-api" and mounts["seed"].get("readOnly") is True,
        "seed mounted read-only on /etc/metal-api",
    )
    ann = sts["spec"]["template"]["metadata"].get("annotations", {})
    C.check(len(ann.get("checksum/seed", "")) == 64, "pod template carries checksum/seed (a seed change rolls the pod)")
    C.check(ann.get("prometheus.io/scrape") == "true", "podAnnotations applied")
    vct = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    C.check(vct.get("storageClassName") == "fast-ssd", "storageClassName fast-ssd applied to the PVC template")
    C.check(vct["resources"]["requests"]["storage"] == "5Gi", "PVC size 5Gi applied")
    C.check(c["image"] == "registry.example.com/metal-mesh:1.2.3", "image repository and tag overridable")
    secret = one(docs, "Secret")
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    C.check(
        keys == {"view-key": "view-secret", "edit-key": "edit-secret", "admin-key": "admin-secret"},
        "Secret holds exactly the given keys",
    )

    # The seed may also be given as a YAML map instead of a string.
    as_map = yaml.safe_load(seed)
    docs = docs_of(render(chart, {"metalApi": {"seed": as_map}}))
    validate(docs, "seed as a map", kv[-1:])
    C.check(
        yaml.safe_load(one(docs, "ConfigMap")["data"]["seed.yaml"]) == as_map,
        "seed given as a YAML map renders the same document",
    )

    # storageClassName "-" means an explicit empty class (no dynamic provisioning).
    docs = docs_of(render(chart, {"metalApi": {"persistence": {"storageClassName": "-"}}}))
    vct = one(docs, "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]
    C.check(vct.get("storageClassName") == "", 'storageClassName "-" renders an explicit empty class')


def check_existing_secret(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = {"metalApi": {"hmac": {"existingSecret": "my-metal-keys"}}}
    lint(chart_dir, values, "existingSecret", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "existingSecret", kv)
    C.check(not [d for d in docs if d["kind"] == "Secret"], "existingSecret: the chart renders no Secret")
    env = secret_ref_env(container(one(docs, "StatefulSet")))
    C.check(
        {v[0] for v in env.values()} == {"my-metal-keys"},
        "existingSecret: env refers to the user's Secret",
    )


def check_disabled(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = {"metalApi": {"enabled": False}}
    lint(chart_dir, values, "metalApi disabled", kv[-1:])
    rendered = render(chart, values)
    docs = docs_of(rendered)
    C.check(docs == [], "metalApi.enabled=false renders no objects")
    C.check(
        all(not v.strip() for v in rendered.values()),
        "metalApi.enabled=false renders no NOTES either",
    )
    placeholders = {
        s: {"enabled": True}
        for s in ["lbAllocator", "volumeManager", "ruleCompiler", "machineLifecycle", "gardenerWebhooks"]
    }
    docs = docs_of(render(chart, placeholders))
    validate(docs, "all service switches on", kv[-1:])
    C.check(
        sorted(d["kind"] for d in docs) == ["Secret", "Service", "Service", "StatefulSet"],
        "placeholder switches render nothing yet (no templates)",
    )


# --------------------------------------------------------------------------------------------
# lookup: generated keys survive an upgrade


class FakeKubeAPI(http.server.BaseHTTPRequestHandler):
    """Just enough of a kube-apiserver for Helm's `lookup`: discovery and one Secret."""

    secret: dict[str, Any] = {}
    requests: list[str] = []

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        FakeKubeAPI.requests.append(path)
        if path == "/version":
            self._send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"})
        elif path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        elif path == "/apis":
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        elif path == "/api/v1":
            self._send(200, {
                "kind": "APIResourceList", "groupVersion": "v1",
                "resources": [{"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret", "verbs": ["get", "list"]}],
            })
        elif path == f"/api/v1/namespaces/{NAMESPACE}/secrets/{API_NAME}" and FakeKubeAPI.secret:
            self._send(200, FakeKubeAPI.secret)
        else:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": f"{path} not found"})


def check_lookup(chart: "helm.Chart") -> None:
    kept = {"view-key": "kept-view", "edit-key": "kept-edit"}
    FakeKubeAPI.secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": API_NAME, "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in kept.items()},
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKubeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with helm.Config(kube_apiserver=url, namespace=NAMESPACE) as cfg:
            values = {"metalApi": {"hmac": {"adminKey": "given-admin"}}}
            rendered = cfg.render(chart, values, name=RELEASE, namespace=NAMESPACE, is_upgrade=True, revision=2)
    finally:
        server.shutdown()
    secret = one(docs_of(rendered), "Secret")
    keys = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    C.check(
        any(p.endswith(f"/secrets/{API_NAME}") for p in FakeKubeAPI.requests),
        "upgrade render looked the existing Secret up (lookup)",
    )
    C.check(
        keys.get("view-key") == "kept-view" and keys.get("edit-key") == "kept-edit",
        "generated keys already in the cluster are kept across an upgrade",
    )
    C.check(keys.get("admin-key") == "given-admin", "a key given in values wins over the stored one")


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chart", default=str(ROOT / "helm" / "metal-mesh"))
    ap.add_argument("--kube-versions", default="1.31,1.32,1.33")
    args = ap.parse_args()
    chart_dir = pathlib.Path(args.chart)
    kv = [v.strip() for v in args.kube_versions.split(",") if v.strip()]

    print(
        f"helm-python-sdk {helm.__version__} (libhelm_c {helm.helm_c_version()}, Helm SDK {helm.helm_sdk_version()}); "
        f"kubernetes-validate {kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else '?'}; "
        f"chart {chart_dir}; Kubernetes {', '.join(kv)}"
    )
    seed_file = ROOT / "compose" / "seed.yaml"
    if seed_file.is_file():
        seed, seed_src = seed_file.read_text(), "compose/seed.yaml"
    else:
        seed, seed_src = INLINE_SEED, "inline test seed"

    with helm.Chart.load(chart_dir) as chart:
        C.section("default values", lambda: check_default(chart, chart_dir, kv))
        C.section("seed, keys and storage class given", lambda: check_custom(chart, chart_dir, kv, seed, seed_src))
        C.section("existing Secret", lambda: check_existing_secret(chart, chart_dir, kv))
        C.section("metalApi disabled, placeholder switches", lambda: check_disabled(chart, chart_dir, kv))
        C.section("lookup keeps generated keys (fake API server)", lambda: check_lookup(chart))

    print(f"chart: {C.passed} passed, {C.failed} failed")
    return 0 if C.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
