#!/usr/bin/env python3
"""Render, lint and validate the metal-mesh Helm chart with Helm v4, offline.

Helm runs in-process through the PyPI package `helm-python-sdk` (import name `helm_python`,
ctypes bindings to libhelm_c, which embeds Helm's Go SDK v4): no `helm` binary and no cluster.
Every rendered manifest is validated with `kubernetes-validate` against the Kubernetes 1.31,
1.32 and 1.33 OpenAPI schemas in strict mode (unknown fields fail), and the script asserts the
chart's behaviour (PVC template, the three HMAC keys, --seed only with a seed, ...).

lb-allocator (the metal-ccm replacement, `lbAllocator.enabled`) is rendered with its required
values in MetalLB and Cilium mode, with the default wiring to the embedded metal-api and with
credentials of its own; its env, Secret references and RBAC rules (compared in full, no
wildcards) are checked, and so are the `fail` messages for missing or invalid values.

rule-compiler (the firewall-controller replacement, `ruleCompiler.enabled`) is rendered with its
defaults and with every option (inline Firewall, seed kubeconfig Secret, dry run, DNS proxy, rule
file, IDS): the DaemonSet in the host network with NET_ADMIN only, probes, the flags following
the values, the exact RBAC rules per Role, the CWNP CRD in crds/, and the `fail` messages.

volume-manager (the csi-driver-lvm replacement, `volumeManager.enabled`) is rendered with its
defaults and custom values: the node-local DaemonSet (the plugin's exact CLI, the five CSI
sidecars without csi-attacher, host paths and mount propagation), the CSIDriver, the
StorageClasses and their parameters, the VolumeSnapshotClass (checked by hand: no schema for
that CRD in kubernetes-validate), the exact RBAC and the `fail` messages.

gardener-webhooks (the gardener-extension-provider-metal webhooks' replacement,
`gardenerWebhooks.garden.enabled` / `.seed.enabled`) is rendered with garden on, seed on, both and
neither: the Deployment's exact command line (the --webhooks following the switches, the seed
flags), the Validating- and MutatingWebhookConfigurations webhook by webhook (names, paths, rules,
selectors, failurePolicy, sideEffects, timeout; every clientConfig.service against the rendered
Service; the shoot webhook by URL), the caBundle parsed and checked to be the CA that signed the
rendered serving certificate (also across upgrades, with `lookup`), the cert-manager annotation,
existingSecret with gardenerWebhooks.caBundle, the exact RBAC, the DEFAULTER_* env mapping and the
`fail` messages. Its controllers too: seed.osController and seed.extensions (the extension
controllers of provider metal) off by default, on with their defaults and with every setting: the
exact flags (every value mapped), the downward env, their ClusterRoles rule by rule, the Lease
Role naming the Lease of each controller that runs, the metal-api CA ConfigMap and its mount, and
the `fail` messages of every bad value.

machine-lifecycle (the machine-controller-manager-provider-metal replacement,
`machineLifecycle.enabled`) is rendered off, with its defaults, with more than one replica
(leader election: the flags, POD_NAME from the downward API, the Lease Role in its namespace)
and with every option (Machines' namespace, target kubeconfig Secret, metal-api CA, gRPC socket
in an emptyDir, runtime flags): the Deployment's exact command line (which
integration/tests/helm_chart.rs also parses with the binary's own CLI), its mounts, the exact
RBAC per Role, namespace and ClusterRole, the NOTES and the `fail` messages.

TLS and delegated auth of every service (metal-api, lb-allocator, rule-compiler,
volume-manager, gardener-webhooks, machine-lifecycle): the flags (--tls-cert-file/--tls-key-file, --tls-client-ca-file, --auth
kubernetes, --auth-cache-ttl, --auth-review-timeout, --metrics-open), the Secret mounts, HTTPS
probes and `https` ports, in all three certificate modes (self-signed: the CA and the serving
certificates are parsed with the Python package `cryptography`, or openssl without it, and their
SANs, chain and keys checked; existingSecret; cert-manager, whose Certificate has no schema in
kubernetes-validate and is checked field by field, with the `fail` for a missing issuer), the
ServiceAccounts and their system:auth-delegator bindings, the access ClusterRoles
metal-mesh:<service>:<viewer|editor> rule by rule, rbac.bindings, the NetworkPolicies,
lb-allocator's https URL with METAL_API_CA_FILE, the docs, and render_chart.py (one JSON array).

The `lookup` path (generated HMAC keys, the self-signed CA and serving certificates kept across
upgrades when present, generated when absent) is exercised too: a tiny fake Kubernetes API
server on 127.0.0.1 serves discovery and the Secrets of a fake cluster by name (404 for the
others), and the chart is rendered cluster-aware against it (helm_python.Config.render).

values.schema.json: every key of values.yaml typed, the chart's own objects closed
(additionalProperties: false), the free-form Kubernetes maps open; the defaults and the
everything-enabled values validate (jsonschema and Helm), and a list of bad values (an unknown
key at the top level and in every service section, a string for a bool or an integer, a bad enum)
fails rendering and lint with an error naming the key. NOTES.txt renders for the defaults and
with everything enabled and names each enabled service (Service, port, CA Secret, `kubectl get
pods`; the webhook configurations; the MachineClass Secret keys). The `helm test` Pods
(templates/tests/, tests.enabled) call /readyz of each service with a Service over https with its
CA, with mesh-probe in the chart's own image by default or curl in tests.image (an optional
override), and are validated with kubernetes-validate. checkov (pinned in .ci/run; skipped when not
installed outside CI, a failure in CI) scans the default and everything-enabled manifests: no HIGH
or CRITICAL finding, every failed check justified in the README's table.

Usage: check_chart.py [--chart DIR] [--kube-versions 1.31,1.32,1.33]
Exit codes: 0 all checks passed, 1 a check failed, 77 the Python packages are missing.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
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
LB_NAME = f"{RELEASE}-metal-mesh-lb-allocator"
LB_KINDS = {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
RC_NAME = f"{RELEASE}-metal-mesh-rule-compiler"
VM_NAME = f"{RELEASE}-metal-mesh-volume-manager"
GW_NAME = f"{RELEASE}-metal-mesh-gardener-webhooks"
ML_NAME = f"{RELEASE}-metal-mesh-machine-lifecycle"
CA_NAME = f"{RELEASE}-metal-mesh-ca"
# component -> the name of its objects (Service, ServiceAccount, ...)
SERVICE_NAMES = {"metal-api": API_NAME, "lb-allocator": LB_NAME, "rule-compiler": RC_NAME, "volume-manager": VM_NAME,
                 "gardener-webhooks": GW_NAME, "machine-lifecycle": ML_NAME}
# Cluster-scoped kinds: no namespace.
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "CSIDriver", "StorageClass", "VolumeSnapshotClass", "CustomResourceDefinition",
                 "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
# metal-api with its defaults: StatefulSet, 2 Services, HMAC Secret, its self-signed TLS Secret
# and the release CA, ServiceAccount, auth-delegator binding, viewer and editor ClusterRoles,
# NetworkPolicy.
API_DEFAULT_KINDS = sorted(["ClusterRole", "ClusterRole", "ClusterRoleBinding", "NetworkPolicy", "Secret", "Secret", "Secret",
                            "Service", "Service", "ServiceAccount", "StatefulSet"])

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
    """kubernetes-validate (strict) for every object; cert-manager Certificates, which have no
    schema there, are checked field by field instead (check_certificate_by_hand)."""
    for cert in [d for d in docs if d["kind"] == "Certificate"]:
        check_certificate_by_hand(cert, label)
    docs = [d for d in docs if d["kind"] != "Certificate"]
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
# TLS and delegated auth: shared by every service

GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
CERT_MANAGER_USAGES = {
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment",
    "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing",
    "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
}


def check_certificate_by_hand(cert: dict[str, Any], label: str) -> None:
    """A cert-manager.io/v1 Certificate, checked against cert-manager's CRD by hand (no schema in
    kubernetes-validate): known fields only, types, enums."""
    import ipaddress
    import re

    problems = []
    meta, spec = cert.get("metadata", {}), cert.get("spec", {})
    if strip_meta(cert).keys() != {"apiVersion", "kind", "metadata", "spec"}:
        problems.append(f"top-level fields {sorted(strip_meta(cert))}")
    if cert.get("apiVersion") != "cert-manager.io/v1":
        problems.append(f"apiVersion {cert.get('apiVersion')!r}")
    if meta.keys() - {"name", "namespace", "labels", "annotations"} or meta.get("namespace") != NAMESPACE:
        problems.append(f"metadata {sorted(meta)} (namespaced: the release namespace)")
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", str(meta.get("name", ""))) or len(meta.get("name", "")) > 253:
        problems.append(f"name {meta.get('name')!r}")
    allowed = {"secretName", "secretTemplate", "commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses",
               "usages", "privateKey", "duration", "renewBefore", "issuerRef", "isCA", "subject", "keystores",
               "revisionHistoryLimit", "additionalOutputFormats", "literalSubject", "nameConstraints", "otherNames",
               "encodeUsagesInRequest", "renewBeforePercentage", "signatureAlgorithm"}
    if spec.keys() - allowed:
        problems.append(f"unknown spec fields {sorted(spec.keys() - allowed)}")
    if not isinstance(spec.get("secretName"), str) or not spec["secretName"]:
        problems.append("spec.secretName missing")
    if not isinstance(spec.get("dnsNames", []), list) or not all(isinstance(x, str) and x for x in spec.get("dnsNames", [])):
        problems.append("spec.dnsNames must be strings")
    for ip in spec.get("ipAddresses", []):
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            problems.append(f"spec.ipAddresses: {ip!r} is no IP")
    if "commonName" in spec and (not isinstance(spec["commonName"], str) or len(spec["commonName"]) > 64):
        problems.append("spec.commonName must be a string of at most 64 characters")
    if set(spec.get("usages", [])) - CERT_MANAGER_USAGES:
        problems.append(f"spec.usages {sorted(set(spec.get('usages', [])) - CERT_MANAGER_USAGES)}")
    pk = spec.get("privateKey", {})
    if pk.keys() - {"rotationPolicy", "encoding", "algorithm", "size"} or pk.get("rotationPolicy", "Always") not in ("Never", "Always"):
        problems.append(f"spec.privateKey {pk}")
    for f in ("duration", "renewBefore"):
        if f in spec and not re.match(GO_DURATION, str(spec[f])):
            problems.append(f"spec.{f} {spec[f]!r} is no Go duration")
    ref = spec.get("issuerRef", {})
    if ref.keys() - {"name", "kind", "group"} or not isinstance(ref.get("name"), str) or not ref.get("name"):
        problems.append(f"spec.issuerRef {ref} (needs a name)")
    if ref.get("kind", "Issuer") not in ("Issuer", "ClusterIssuer") and ref.get("group", "cert-manager.io") == "cert-manager.io":
        problems.append(f"spec.issuerRef.kind {ref.get('kind')!r}")
    st = spec.get("secretTemplate", {})
    if st.keys() - {"labels", "annotations"} or not all(
            isinstance(v, str) for part in st.values() for v in (part or {}).values()):
        problems.append(f"spec.secretTemplate {st}")
    if not all(isinstance(v, str) for v in (meta.get("labels") or {}).values()):
        problems.append("labels must be strings")
    for p in problems:
        print(f"        invalid: Certificate/{meta.get('name')}: {p}")
    C.check(not problems, f"Certificate/{meta.get('name')} ({label}): cert-manager.io/v1 fields checked by hand "
                          "(no schema in kubernetes-validate): secretName, dnsNames, ipAddresses, usages, issuerRef")


def server_args(client_ca: bool = False, cache_ttl: str | None = None, review_timeout: str | None = None,
                metrics_open: bool = False) -> list[str]:
    """The flags the chart gives every service binary, in order."""
    args = ["--tls-cert-file", "/etc/metal-mesh/tls/tls.crt", "--tls-key-file", "/etc/metal-mesh/tls/tls.key"]
    if client_ca:
        args += ["--tls-client-ca-file", "/etc/metal-mesh/client-ca/ca.crt"]
    args += ["--auth", "kubernetes"]
    if cache_ttl:
        args += ["--auth-cache-ttl", cache_ttl]
    if review_timeout:
        args += ["--auth-review-timeout", review_timeout]
    if metrics_open:
        args += ["--metrics-open"]
    return args


def has_sublist(seq: list[Any], sub: list[Any]) -> bool:
    return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


def workload(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    kind = {"metal-api": "StatefulSet", "lb-allocator": "Deployment", "gardener-webhooks": "Deployment",
            "machine-lifecycle": "Deployment"}.get(component, "DaemonSet")
    return one(docs, kind, SERVICE_NAMES[component])


def check_server_tls(docs: list[dict[str, Any]], component: str, label: str, secret: str,
                     client_ca: str | None = None, **flags: Any) -> None:
    """One service's pod: the TLS and auth flags (exactly server_args(...), contiguous, never
    --auth none), the serving-certificate Secret mounted read-only on /etc/metal-mesh/tls (the
    whole Secret, so a rotated Secret reaches the files), the client CA, the `https` port, HTTPS
    probes, and its own ServiceAccount with the token mounted (the reviews need it)."""
    w = workload(docs, component)
    pod = w["spec"]["template"]["spec"]
    c = next(x for x in pod["containers"] if x["name"] == component)
    args = c["args"]
    want = server_args(client_ca=bool(client_ca), **flags)
    if not has_sublist(args, want):
        print(f"        got: {args}")
    C.check(has_sublist(args, want), f"[{label}] {component}: args carry {' '.join(want)}")
    C.check(arg_value(args, "--auth") == "kubernetes" and args.count("--auth") == 1 and "none" not in args
            and not any(a.startswith("--auth=") for a in args),
            f"[{label}] {component}: --auth kubernetes exactly once, never none")
    for flag in ("--tls-client-ca-file", "--auth-cache-ttl", "--auth-review-timeout", "--metrics-open"):
        if flag not in want:
            C.check(flag not in args, f"[{label}] {component}: no {flag}")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    tls_mount, tls_vol = mounts.get("tls", {}), vols.get("tls", {}).get("secret", {})
    C.check(tls_mount.get("mountPath") == "/etc/metal-mesh/tls" and tls_mount.get("readOnly") is True
            and "subPath" not in tls_mount and tls_vol.get("secretName") == secret and "items" not in tls_vol
            and tls_vol.get("defaultMode") == 0o440,
            f"[{label}] {component}: Secret {secret} mounted read-only on /etc/metal-mesh/tls (whole Secret, no subPath, mode 0440)")
    if client_ca:
        cm, cv = mounts.get("client-ca", {}), vols.get("client-ca", {}).get("secret", {})
        C.check(cm.get("mountPath") == "/etc/metal-mesh/client-ca" and cm.get("readOnly") is True
                and cv.get("secretName") == client_ca and cv.get("items") == [{"key": "ca.crt", "path": "ca.crt"}],
                f"[{label}] {component}: client CA {client_ca} (ca.crt) mounted read-only on /etc/metal-mesh/client-ca")
    else:
        C.check("client-ca" not in mounts and "client-ca" not in vols, f"[{label}] {component}: no client CA mounted")
    C.check([p["name"] for p in c["ports"]] == ["https"], f"[{label}] {component}: its one container port is named https")
    probes = [c[k] for k in ("livenessProbe", "readinessProbe", "startupProbe") if k in c]
    C.check(probes and all(p["httpGet"].get("scheme") == "HTTPS" and p["httpGet"].get("port") == "https"
                           and p["httpGet"]["path"] in ("/healthz", "/readyz") for p in probes),
            f"[{label}] {component}: {len(probes)} probes GET /healthz or /readyz with scheme HTTPS on port https")
    C.check(pod.get("serviceAccountName") == SERVICE_NAMES[component] and pod.get("automountServiceAccountToken") is True,
            f"[{label}] {component}: runs as its ServiceAccount with the token mounted (TokenReview/SubjectAccessReview)")


def check_auth_delegator(docs: list[dict[str, Any]], component: str, label: str) -> None:
    name = SERVICE_NAMES[component]
    crb = one(docs, "ClusterRoleBinding", f"{name}-auth-delegator")
    sa = one(docs, "ServiceAccount", name)
    C.check(crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"}
            and crb["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
            and sa["metadata"]["namespace"] == NAMESPACE,
            f"[{label}] ClusterRoleBinding {name}-auth-delegator: system:auth-delegator to the ServiceAccount {name}")


def is_access_role(d: dict[str, Any]) -> bool:
    return d["kind"] in ("ClusterRole", "ClusterRoleBinding") and d["metadata"]["name"].startswith("metal-mesh:")


# --------------------------------------------------------------------------------------------
# X.509: the generated certificates are parsed with the `cryptography` package when it is
# installed, else with the openssl command (CHECK_CHART_CERT_TOOL=openssl forces that path).

def _cert_tool() -> str | None:
    import os

    if os.environ.get("CHECK_CHART_CERT_TOOL") != "openssl":
        try:
            import cryptography.x509  # noqa: F401
            return "cryptography"
        except ImportError:
            pass
    return "openssl" if shutil.which("openssl") else None


CERT_TOOL = _cert_tool()


def _openssl(args: list[str], data: bytes | None = None, files: dict[str, bytes] | None = None) -> tuple[int, str]:
    """Runs openssl; `files` are written to a temporary directory and `{name}` in args replaced
    by their paths."""
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for name, content in (files or {}).items():
            paths[name] = str(pathlib.Path(d, name))
            pathlib.Path(paths[name]).write_bytes(content)
        argv = ["openssl"] + [a.format(**paths) for a in args]
        out = subprocess.run(argv, input=data, capture_output=True, check=False)
        return out.returncode, (out.stdout + out.stderr).decode()


class Cert:
    """What the checks look at in one PEM certificate: CN, SANs, CA flag, server-auth usage,
    validity, public key, fingerprint."""

    def __init__(self, pem: bytes) -> None:
        import datetime
        import re

        self.pem = pem
        if CERT_TOOL == "cryptography":
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

            c = x509.load_pem_x509_certificate(pem)
            self._c = c
            cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            self.cn = str(cn[0].value) if cn else ""
            icn = c.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
            self.issuer_cn = str(icn[0].value) if icn else ""
            try:
                san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                self.dns = list(san.get_values_for_type(x509.DNSName))
                self.ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            except x509.ExtensionNotFound:
                self.dns, self.ips = [], []
            try:
                self.is_ca = bool(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
            except x509.ExtensionNotFound:
                self.is_ca = False
            try:
                self.server_auth = ExtendedKeyUsageOID.SERVER_AUTH in c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                self.server_auth = False
            self.not_before, self.not_after = c.not_valid_before_utc, c.not_valid_after_utc
            self.public_key = c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.fingerprint = c.fingerprint(hashes.SHA256()).hex()
        elif CERT_TOOL == "openssl":
            rc, text = _openssl(["x509", "-noout", "-subject", "-issuer", "-dates", "-fingerprint", "-sha256",
                                 "-ext", "subjectAltName,basicConstraints,extendedKeyUsage", "-nameopt", "RFC2253"], data=pem)
            if rc != 0:
                raise CheckFailed(f"openssl x509 cannot read the certificate: {text}")
            cn = re.search(r"^subject=.*?CN=([^,\n]+)", text, re.M)
            self.cn = cn.group(1).strip() if cn else ""
            icn = re.search(r"^issuer=.*?CN=([^,\n]+)", text, re.M)
            self.issuer_cn = icn.group(1).strip() if icn else ""
            san = re.search(r"Subject Alternative Name:.*?\n\s*(.+)", text)
            entries = [e.strip() for e in san.group(1).split(",")] if san else []
            self.dns = [e[4:] for e in entries if e.startswith("DNS:")]
            self.ips = [e[len("IP Address:"):] for e in entries if e.startswith("IP Address:")]
            self.is_ca = bool(re.search(r"CA:TRUE", text))
            self.server_auth = "TLS Web Server Authentication" in text

            def date(field: str) -> datetime.datetime:
                m = re.search(rf"^{field}=(.+)$", text, re.M)
                raw = " ".join(m.group(1).split()) if m else ""
                return datetime.datetime.strptime(raw, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)

            self.not_before, self.not_after = date("notBefore"), date("notAfter")
            _, pub = _openssl(["x509", "-noout", "-pubkey"], data=pem)
            self.public_key = pub.encode()
            fp = re.search(r"Fingerprint=([0-9A-F:]+)", text)
            self.fingerprint = fp.group(1).replace(":", "").lower() if fp else ""
        else:
            raise CheckFailed("neither the Python package cryptography nor openssl is installed: cannot parse certificates")

    @property
    def validity_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400

    def signed_by(self, ca: "Cert") -> bool:
        """Issued and signed by `ca` (signature checked), and valid for TLS servers."""
        if CERT_TOOL == "cryptography":
            try:
                self._c.verify_directly_issued_by(ca._c)
            except Exception:
                return False
            return True
        rc, _ = _openssl(["verify", "-CAfile", "{ca}", "-purpose", "sslserver", "{crt}"], files={"ca": ca.pem, "crt": self.pem})
        return rc == 0

    def matches_key(self, key_pem: bytes) -> bool:
        """The private key belongs to this certificate."""
        if CERT_TOOL == "cryptography":
            from cryptography.hazmat.primitives import serialization

            key = serialization.load_pem_private_key(key_pem, password=None)
            return key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo) == self.public_key
        rc, pub = _openssl(["pkey", "-pubout"], data=key_pem)
        return rc == 0 and pub.strip() == self.public_key.decode().strip()


def b64(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(secret["data"][key])


def expected_sans(component: str, domain: str = "cluster.local") -> list[str]:
    svc = SERVICE_NAMES[component]
    return [svc, f"{svc}.{NAMESPACE}", f"{svc}.{NAMESPACE}.svc", f"{svc}.{NAMESPACE}.svc.{domain}", "localhost"]


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
        if d["kind"] in CLUSTER_KINDS:
            C.check("namespace" not in d["metadata"], f"{d['kind']}/{d['metadata']['name']} is cluster-scoped (no namespace)")
        else:
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
            [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("https", 8080, "https")],
            f"Service/{svc['metadata']['name']} exposes port https 8080 -> https",
        )
    headless = [s for s in docs if s["kind"] == "Service" and s["spec"].get("clusterIP") == "None"]
    C.check(
        len(headless) == 1 and sts["spec"]["serviceName"] == headless[0]["metadata"]["name"],
        "StatefulSet serviceName is the headless Service",
    )
    C.check(sts["spec"]["replicas"] == 1, "StatefulSet runs exactly 1 replica (redb is single-writer)")

    c = container(sts)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    C.check(ports == {"https": 8080}, "container port https=8080")
    C.check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            "liveness probe GET /healthz, scheme HTTPS")
    C.check(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "readiness probe GET /readyz, scheme HTTPS")
    C.check(c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            "startup probe GET /healthz, scheme HTTPS")
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
        and sts["spec"]["template"]["spec"].get("automountServiceAccountToken") is True
        and sts["spec"]["template"]["spec"].get("serviceAccountName") == API_NAME,
        "no service-link env vars; its own ServiceAccount with the token mounted (the reviews protecting /metrics)",
    )
    sa = [d for d in docs if d["kind"] == "ServiceAccount"]
    C.check(len(sa) == 1 and sa[0]["metadata"]["name"] == API_NAME and sa[0].get("automountServiceAccountToken") is False,
            f"ServiceAccount {API_NAME} (the pod mounts the token explicitly)")
    check_auth_delegator(docs, "metal-api", "metal-api")
    access = {d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] == "ClusterRole"}
    C.check(access == {f"metal-mesh:metal-api:{cap}": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
                       for cap in ("viewer", "editor")},
            "ClusterRoles metal-mesh:metal-api:viewer and :editor: get /metrics only (its own API keeps HMAC auth)")
    np_ = [d for d in docs if d["kind"] == "NetworkPolicy"]
    C.check(len(np_) == 1 and np_[0]["spec"]["podSelector"] == {"matchLabels": selector}
            and np_[0]["spec"]["policyTypes"] == ["Ingress"]
            and [r.get("ports") for r in np_[0]["spec"]["ingress"]] == [[{"protocol": "TCP", "port": 8080}]],
            "NetworkPolicy: metal-api pods, Ingress only on TCP 8080")


def check_default(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    meta = chart.metadata
    C.check(meta.get("apiVersion") == "v2", "Chart.yaml apiVersion is v2")
    vals = chart.values
    C.check(vals["metalApi"]["enabled"] is True, "values: metalApi.enabled defaults to true")
    for svc in ["lbAllocator", "volumeManager", "ruleCompiler", "machineLifecycle"]:
        C.check(vals[svc]["enabled"] is False, f"values: {svc}.enabled defaults to false")
    C.check(vals["gardenerWebhooks"]["garden"]["enabled"] is False and vals["gardenerWebhooks"]["seed"]["enabled"] is False
            and "enabled" not in vals["gardenerWebhooks"],
            "values: gardenerWebhooks.garden.enabled and .seed.enabled default to false (no single gardenerWebhooks.enabled)")

    lint(chart_dir, {}, "default values", kv)
    rendered = render(chart, {})
    docs = docs_of(rendered)
    validate(docs, "default values", kv)
    check_common(api_docs(docs), meta)
    C.check(
        sorted(d["kind"] for d in docs) == API_DEFAULT_KINDS,
        "default values render StatefulSet, 2 Services, HMAC and TLS Secrets, the CA Secret, ServiceAccount, "
        "auth-delegator binding, viewer and editor ClusterRoles, NetworkPolicy and no ConfigMap",
    )
    C.check(len(api_docs(docs)) == len(docs) - 1 and one(docs, "Secret", CA_NAME)["metadata"]["labels"].get("app.kubernetes.io/component") == "tls",
            "every object is metal-api's but the release CA Secret (component tls)")
    C.check(
        not lb_docs(docs) and not any(d["kind"] in LB_KINDS - {"Deployment"} and "lb-allocator" in d["metadata"]["name"] for d in docs),
        "default values (lbAllocator off) render no lb-allocator object, no RBAC, no ServiceAccount",
    )
    C.check(not any("lb-allocator" in v for v in rendered.values()), "default values: no lb-allocator in any template or NOTES")
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
    secret = one(docs, "Secret", API_NAME)
    C.check(secret["type"] == "Opaque", f"HMAC Secret {API_NAME} (Opaque)")
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
    check_common(api_docs(docs), chart.metadata)
    C.check(
        sorted(d["kind"] for d in docs) == sorted(API_DEFAULT_KINDS + ["ConfigMap"]),
        "custom values render the default objects plus the seed ConfigMap",
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
    secret = one(docs, "Secret", API_NAME)
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
    C.check(not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == API_NAME],
            "existingSecret: the chart renders no HMAC Secret")
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
    # Every service switch has templates now (each checked in its own section): no placeholder
    # switch is left that would render nothing.
    C.check(all((pathlib.Path(chart_dir) / "templates" / comp).is_dir() for comp in SERVICE_NAMES)
            and set(SERVICE_KEYS.values()) <= set(chart.values),
            f"every service ({', '.join(SERVICE_NAMES)}) has its values section and templates directory: no placeholder switches")
    # lbAllocator switched off but fully configured: still none of its objects.
    values = {"lbAllocator": dict(LB_REQUIRED, enabled=False, loadbalancer="cilium")}
    docs = docs_of(render(chart, values))
    C.check(
        sorted(d["kind"] for d in docs) == API_DEFAULT_KINDS
        and not lb_docs(docs),
        "lbAllocator.enabled=false (with its values set) renders no lb-allocator object",
    )


# --------------------------------------------------------------------------------------------
# lb-allocator (replaces metal-ccm)

LB_REQUIRED: dict[str, Any] = {
    "enabled": True,
    "projectId": "proj-0815",
    "partitionId": "fra-equ01",
    "clusterId": "9b2e3c6a-shoot-uid",
}

LB_VALUES: dict[str, Any] = dict(
    LB_REQUIRED,
    defaultExternalNetwork="internet",
    additionalNetworks=["internet", "dmz"],
    sshPublicKey="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIChartTest admin@example",
)

def _perms(groups: list[str], resources: list[str], verbs: list[str]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for g in groups for r in resources for v in verbs}


# What lb-allocator may do cluster-wide, as (apiGroup, resource, verb) triples: exactly this.
CLUSTER_PERMS = (
    _perms([""], ["nodes"], ["get", "list", "watch", "update", "patch", "delete"])
    | _perms([""], ["nodes/status"], ["patch", "update"])
    | _perms([""], ["services"], ["get", "list", "watch", "patch", "update"])
    | _perms([""], ["services/status"], ["patch", "update"])
    | _perms([""], ["events"], ["create", "patch"])
    | _perms(["events.k8s.io"], ["events"], ["create", "patch"])
)
CRUD = ["get", "list", "watch", "create", "update", "patch", "delete"]
CILIUM_PERMS = _perms(["cilium.io"], ["ciliumbgppeeringpolicies", "ciliumloadbalancerippools"], CRUD)
METALLB_PERMS = _perms(["metallb.io"], ["ipaddresspools", "bgppeers", "bgpadvertisements"], CRUD)


def lb_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "lb-allocator"
        or d["metadata"]["name"].startswith(LB_NAME)
    ]


def api_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "metal-api"]


def rule_perms(rules: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """A rule set as atomic permissions (group, resource, verb[, resourceName])."""
    out: set[tuple[str, ...]] = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    names = r.get("resourceNames") or [None]
                    for n in names:
                        out.add((g, res, v) if n is None else (g, res, v, n))
    return out


def has_wildcard(rules: list[dict[str, Any]]) -> bool:
    return any(
        "*" in str(x)
        for r in rules
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
        for x in r.get(field, []) or []
    )


def plain_env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def arg_value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None


def roles(docs: list[dict[str, Any]], kind: str = "Role") -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def render_error(chart: "helm.Chart", values: dict[str, Any]) -> str | None:
    """The message of a failing render, None when it renders."""
    try:
        render(chart, values)
    except helm.HelmError as e:
        return str(e)
    return None


SCHEMA_ERROR = "values don't meet the specifications of the schema"


def schema_path(key: str) -> str:
    """A values key as values.schema.json errors name it: a.b[0].c -> /a/b/0/c."""
    return "/" + re.sub(r"\[(\d+)\]", r".\1", key).replace(".", "/")


def fails_with(err: str | None, message: str) -> bool:
    """A render failed with the template's `fail` message, or, where values.schema.json already
    types the key (a type, an enum), with the schema's error naming the key the message starts
    with (Helm checks the schema before any template runs)."""
    if err is None:
        return False
    if message in err:
        return True
    m = re.match(r"^([A-Za-z][\w.\[\]]*) must", message)
    return bool(m) and SCHEMA_ERROR in err and f"{schema_path(m.group(1))}'" in err


def check_lb_rbac_common(docs: list[dict[str, Any]], mode: str) -> None:
    """ServiceAccount, bindings and the lease Role; the same in both modes."""
    sa = one(docs, "ServiceAccount", LB_NAME)
    dep = one(docs, "Deployment", LB_NAME)
    C.check(
        dep["spec"]["template"]["spec"].get("serviceAccountName") == LB_NAME
        and sa["metadata"]["namespace"] == NAMESPACE,
        f"[{mode}] pod runs as the ServiceAccount {LB_NAME} in the release namespace",
    )
    C.check(
        dep["spec"]["template"]["spec"].get("automountServiceAccountToken") is True,
        f"[{mode}] pod mounts its service account token (it talks to the Kubernetes API)",
    )
    # The access roles metal-mesh:<service>:* grant URL prefixes (/v1/nodes/*) by design; they are
    # checked rule by rule in their own section.
    all_roles = [r for r in roles(docs, "Role") + roles(docs, "ClusterRole") if not is_access_role(r)]
    C.check(
        all(not has_wildcard(r["rules"]) for r in all_roles) and all(r["rules"] for r in all_roles),
        f"[{mode}] no wildcard in any Role/ClusterRole rule ({len(all_roles)} roles, the access roles aside)",
    )
    check_auth_delegator(docs, "lb-allocator", mode)
    subject = [{"kind": "ServiceAccount", "name": LB_NAME, "namespace": NAMESPACE}]
    crb = one(docs, "ClusterRoleBinding", LB_NAME)
    C.check(
        crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LB_NAME}
        and crb["subjects"] == subject,
        f"[{mode}] ClusterRoleBinding binds the ClusterRole to the ServiceAccount",
    )
    bindings = roles(docs, "RoleBinding")
    by_name = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in roles(docs, "Role")}
    C.check(
        all(
            b["subjects"] == subject
            and b["roleRef"]["kind"] == "Role"
            and (b["metadata"]["namespace"], b["roleRef"]["name"]) in by_name
            for b in bindings
        )
        and len(bindings) == len(by_name),
        f"[{mode}] every Role has a RoleBinding in its namespace to the ServiceAccount",
    )
    lease_roles = [r for r in roles(docs, "Role") if any("coordination.k8s.io" in x.get("apiGroups", []) for x in r["rules"])]
    C.check(len(lease_roles) == 1, f"[{mode}] one Role for leader election")
    if lease_roles:
        lr = lease_roles[0]
        perms = rule_perms(lr["rules"])
        C.check(lr["metadata"]["namespace"] == NAMESPACE, f"[{mode}] leader-election Role is in the release namespace")
        C.check(
            {p[:3] for p in perms} == _perms(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
            f"[{mode}] leader-election Role: coordination.k8s.io leases get/create/update, nothing else",
        )
        lease = arg_value(container(dep)["args"], "--leader-elect-lease-name")
        C.check(
            all(len(p) == 4 and p[3] == lease for p in perms if p[2] in ("get", "update")),
            f"[{mode}] lease get/update limited to the Lease {lease!r} (create cannot be limited)",
        )


def check_lb_default_wiring(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = {"lbAllocator": LB_VALUES}
    lint(chart_dir, values, "lbAllocator on, embedded metal-api", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "lbAllocator on, embedded metal-api", kv)
    # metal-api is unchanged next to it.
    check_common(api_docs(docs), chart.metadata)
    lb = lb_docs(docs)
    C.check(
        sorted(d["kind"] for d in lb)
        == sorted(["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "Service", "ServiceAccount",
                   "ClusterRoleBinding", "ClusterRole", "ClusterRole", "NetworkPolicy", "Secret"]),
        "lbAllocator (metallb): Deployment, Service, ServiceAccount, ClusterRole(+Binding), 2 Roles(+Bindings), auth-delegator binding, "
        "viewer and editor ClusterRoles, NetworkPolicy, its TLS Secret and no credential Secret of its own",
    )
    C.check(len(lb) + len(api_docs(docs)) + 1 == len(docs), "every object belongs to metal-api or lb-allocator (or is the release CA)")
    C.check(not any(d["kind"] == "Secret" and d["metadata"]["name"] == LB_NAME for d in docs), "no lb-allocator credential Secret")
    for d in lb:
        labels = d["metadata"].get("labels", {})
        C.check(
            labels.get("app.kubernetes.io/name") == "metal-mesh"
            and labels.get("app.kubernetes.io/instance") == RELEASE
            and labels.get("app.kubernetes.io/component") == "lb-allocator"
            and labels.get("app.kubernetes.io/part-of") == "metal-mesh",
            f"{d['kind']}/{d['metadata']['name']} has the lb-allocator labels",
        )

    dep = one(docs, "Deployment", LB_NAME)
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = container(dep)
    C.check(spec["replicas"] == 2, "Deployment runs 2 replicas by default")
    C.check(
        all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items())
        and spec["selector"]["matchLabels"].get("app.kubernetes.io/component") == "lb-allocator"
        and "app.kubernetes.io/version" not in spec["selector"]["matchLabels"],
        "Deployment selector matches its pod labels (component lb-allocator, no version)",
    )
    C.check(c["command"] == ["/usr/local/bin/lb-allocator"], "container runs /usr/local/bin/lb-allocator")
    args = c["args"]
    C.check(args[:2] == ["--listen", "0.0.0.0:8080"], "args: --listen 0.0.0.0:8080")
    C.check("--leader-elect" in args, "args: --leader-elect (always)")
    C.check(arg_value(args, "--leader-elect-lease-name") == "lb-allocator", "args: --leader-elect-lease-name lb-allocator")
    C.check(arg_value(args, "--metallb-namespace") == "metallb-system", "args: --metallb-namespace metallb-system")
    C.check(
        arg_value(args, "--sync-interval") == "1m" and arg_value(args, "--ssh-key-interval") == "5m"
        and arg_value(args, "--machine-cache-ttl") == "1m" and arg_value(args, "--health-watchdog-failures") == "60"
        and arg_value(args, "--delete-gone-nodes") == "true" and arg_value(args, "--leader-elect-lease-duration") == "15s",
        "args: interval, watchdog, lease-duration and delete-gone-nodes defaults",
    )
    C.check(arg_value(args, "--log-format") == "text" and arg_value(args, "--log-level") == "info", "args: --log-format text --log-level info")
    C.check("--no-kubernetes" not in args and "--kubeconfig" not in args, "no --no-kubernetes, no --kubeconfig (in-cluster config)")
    env = plain_env(c)
    expected = {
        "METAL_API_URL": f"https://{API_NAME}:8080",
        "METAL_API_CA_FILE": "/etc/metal-mesh/metal-api-ca/ca.crt",
        "METAL_AUTH_HMAC_AUTH_TYPE": "Metal-Admin",
        "METAL_PROJECT_ID": LB_VALUES["projectId"],
        "METAL_PARTITION_ID": LB_VALUES["partitionId"],
        "METAL_CLUSTER_ID": LB_VALUES["clusterId"],
        "METAL_DEFAULT_EXTERNAL_NETWORK_ID": "internet",
        "METAL_ADDITIONAL_NETWORKS": "internet,dmz",
        "METAL_SSH_PUBLICKEY": LB_VALUES["sshPublicKey"],
        "LOADBALANCER": "metallb",
    }
    for k, v in expected.items():
        C.check(env.get(k) == v, f"env {k}={v!r}")
    C.check(set(env) == set(expected), "no other plain env vars")
    field = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"] if "fieldRef" in e.get("valueFrom", {})}
    C.check(
        field == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"},
        "POD_NAME and POD_NAMESPACE from the downward API",
    )
    refs = secret_ref_env(c)
    C.check(
        refs == {"METAL_AUTH_HMAC": (API_NAME, "admin-key")},
        f"default wiring: METAL_AUTH_HMAC from secretKeyRef {API_NAME}/admin-key (embedded metal-api), no token",
    )
    api_secret = one(docs, "Secret", API_NAME)
    C.check("admin-key" in api_secret["data"], "the referenced embedded metal-api Secret has admin-key")
    api_svc = one(docs, "Service", API_NAME)
    C.check(api_svc["spec"]["ports"][0]["port"] == 8080, "METAL_API_URL port is the embedded metal-api Service's port")

    C.check({p["name"]: p["containerPort"] for p in c["ports"]} == {"https": 8080}, "lb-allocator container port https=8080")
    C.check(
        c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
        and c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
        and c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
        "probes: liveness and startup /healthz, readiness /readyz, scheme HTTPS",
    )
    check_server_tls(docs, "lb-allocator", "metallb", f"{LB_NAME}-tls")
    sc, psc = c["securityContext"], pod["securityContext"]
    C.check(
        sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        and psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532
        and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
        "lb-allocator security context: uid 65532, read-only root fs, drop ALL, seccomp RuntimeDefault",
    )
    C.check({m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            == {"tmp": "/tmp", "tls": "/etc/metal-mesh/tls", "metal-api-ca": "/etc/metal-mesh/metal-api-ca"}
            and all(m.get("readOnly") for m in c["volumeMounts"] if m["name"] != "tmp"),
            "mounts: writable emptyDir on /tmp only; its TLS Secret and metal-api's CA read-only")
    ca_vol = {v["name"]: v for v in pod["volumes"]}.get("metal-api-ca", {}).get("secret", {})
    C.check(ca_vol == {"secretName": f"{API_NAME}-tls", "defaultMode": 0o444, "items": [{"key": "ca.crt", "path": "ca.crt"}]},
            f"metal-api's CA: only ca.crt of {API_NAME}-tls (never its key) on /etc/metal-mesh/metal-api-ca")
    C.check(psc.get("fsGroup") == 65532, "fsGroup 65532: the TLS Secret (mode 0440) is readable for uid 65532")
    C.check("requests" in c.get("resources", {}), "lb-allocator has resource requests")
    C.check(pod.get("enableServiceLinks") is False, "no service-link env vars")

    svc = one(docs, "Service", LB_NAME)
    C.check(
        svc["spec"]["type"] == "ClusterIP"
        and [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("https", 8080, "https")]
        and svc["spec"]["selector"] == spec["selector"]["matchLabels"],
        "Service: ClusterIP, https 8080 -> https, selects the lb-allocator pods",
    )

    cr = one(docs, "ClusterRole", LB_NAME)
    perms = rule_perms(cr["rules"])
    missing, extra = CLUSTER_PERMS - perms, perms - CLUSTER_PERMS
    C.check(not any("nonResourceURLs" in r for r in cr["rules"]) and not any("tokenreviews" in str(r) for r in cr["rules"]),
            "[metallb] its own ClusterRole has no review rules (those come from system:auth-delegator)")
    for m in sorted(missing):
        print(f"        missing: {m}")
    for x in sorted(extra):
        print(f"        extra:   {x}")
    C.check(not missing and not extra, f"[metallb] ClusterRole rules are exactly the {len(CLUSTER_PERMS)} listed permissions")
    C.check(not has_wildcard(cr["rules"]) and not any("resourceNames" in r or "nonResourceURLs" in r for r in cr["rules"]),
            "[metallb] ClusterRole: no wildcards, no nonResourceURLs")
    C.check(not any(p[0] == "cilium.io" for p in perms), "[metallb] no cilium.io rules")
    metallb = [r for r in roles(docs) if any("metallb.io" in x.get("apiGroups", []) for x in r["rules"])]
    C.check(len(metallb) == 1, "[metallb] one Role for metallb.io")
    if metallb:
        C.check(metallb[0]["metadata"]["namespace"] == "metallb-system", "[metallb] the MetalLB Role is in metallb-system")
        C.check(rule_perms(metallb[0]["rules"]) == METALLB_PERMS,
                "[metallb] MetalLB Role: ipaddresspools, bgppeers, bgpadvertisements get/list/watch/create/update/patch/delete, nothing else")
        rb = [b for b in roles(docs, "RoleBinding") if b["roleRef"]["name"] == metallb[0]["metadata"]["name"]]
        C.check(len(rb) == 1 and rb[0]["metadata"]["namespace"] == "metallb-system",
                "[metallb] its RoleBinding is in metallb-system too")
    C.check(not any(d["kind"] == "CustomResourceDefinition" for d in docs), "no CRDs among the rendered templates")
    crd_docs = [d for f in chart.crds for d in yaml.safe_load_all(f.get("data", "")) if d]
    C.check(
        not any(d.get("spec", {}).get("group") in ("metallb.io", "cilium.io") for d in crd_docs),
        f"chart crds/ ships no metallb.io or cilium.io CRD ({len(crd_docs)} CRDs, MetalLB's chart brings its own)",
    )
    check_lb_rbac_common(docs, "metallb")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check(LB_NAME in notes and f"https://{API_NAME}:8080" in notes, "NOTES mention the lb-allocator Deployment and its metal-api URL")

    # The embedded URL follows metal-api's --base-path; a user Secret of metal-api is followed too.
    values = {
        "metalApi": {"extraArgs": ["--base-path", "/metal/"], "hmac": {"existingSecret": "my-metal-keys"}},
        "lbAllocator": LB_REQUIRED,
    }
    c = container(one(docs_of(render(chart, values)), "Deployment", LB_NAME))
    C.check(plain_env(c).get("METAL_API_URL") == f"https://{API_NAME}:8080/metal",
            "embedded wiring: METAL_API_URL carries metal-api's --base-path (/metal)")
    C.check(secret_ref_env(c) == {"METAL_AUTH_HMAC": ("my-metal-keys", "admin-key")},
            "embedded wiring: admin-key from metalApi.hmac.existingSecret when metal-api uses one")


def check_lb_explicit(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    lbv = dict(
        LB_VALUES,
        replicas=3,
        metalApi={"url": "https://api.example.com/metal", "auth": {"hmac": "edit-hmac-key", "hmacAuthType": "Metal-Edit"}},
        metallbNamespace="lb-system",
        leaderElection={"leaseName": "lb-lease", "leaseDuration": "20s"},
        syncInterval="30s", sshKeyInterval="10m", machineCacheTtl="2m",
        healthWatchdogFailures=0, deleteGoneNodes=False,
        logFormat="json", logLevel="debug", otlpEndpoint="http://otel:4317", shutdownTimeout="10s",
        extraArgs=["--some-flag"], extraEnv=[{"name": "RUST_LOG", "value": "lb_allocator=trace"}],
        podAnnotations={"prometheus.io/scrape": "true"},
        nodeSelector={"node-role.kubernetes.io/control-plane": ""},
        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        priorityClassName="system-cluster-critical",
    )
    values = {"metalApi": {"enabled": False}, "lbAllocator": lbv}
    lint(chart_dir, values, "lbAllocator explicit, metalApi off", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "lbAllocator explicit, metalApi off", kv)
    C.check(not api_docs(docs), "metalApi off: no metal-api objects next to lb-allocator")
    dep = one(docs, "Deployment", LB_NAME)
    c = container(dep)
    args, env = c["args"], plain_env(c)
    C.check(dep["spec"]["replicas"] == 3, "replicas value applied")
    C.check(env.get("METAL_API_URL") == "https://api.example.com/metal", "METAL_API_URL is the given URL")
    C.check("METAL_API_CA_FILE" not in env and "metal-api-ca" not in {v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]},
            "a given URL without caSecret: no METAL_API_CA_FILE, no CA mounted (the system roots)")
    C.check(env.get("METAL_AUTH_HMAC_AUTH_TYPE") == "Metal-Edit", "METAL_AUTH_HMAC_AUTH_TYPE=Metal-Edit given")
    C.check(secret_ref_env(c) == {"METAL_AUTH_HMAC": (LB_NAME, "hmac")}, f"inline hmac: METAL_AUTH_HMAC from secretKeyRef {LB_NAME}/hmac")
    C.check("METAL_AUTH_HMAC" not in env, "the HMAC key is never a plain env value")
    secret = one(docs, "Secret", LB_NAME)
    C.check(
        {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"hmac": "edit-hmac-key"},
        "the chart's own Secret holds exactly the inline hmac",
    )
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    C.check(len(ann.get("checksum/auth", "")) == 64 and ann.get("prometheus.io/scrape") == "true",
            "pod template: checksum/auth (a new credential rolls the pods) and podAnnotations")
    C.check(
        arg_value(args, "--metallb-namespace") == "lb-system"
        and arg_value(args, "--leader-elect-lease-name") == "lb-lease"
        and arg_value(args, "--leader-elect-lease-duration") == "20s"
        and arg_value(args, "--sync-interval") == "30s"
        and arg_value(args, "--ssh-key-interval") == "10m"
        and arg_value(args, "--machine-cache-ttl") == "2m"
        and arg_value(args, "--health-watchdog-failures") == "0"
        and arg_value(args, "--delete-gone-nodes") == "false",
        "args follow the values (namespace, lease, intervals, watchdog 0, delete-gone-nodes false)",
    )
    C.check(
        arg_value(args, "--log-format") == "json" and arg_value(args, "--log-level") == "debug"
        and arg_value(args, "--otlp-endpoint") == "http://otel:4317" and arg_value(args, "--shutdown-timeout") == "10s",
        "runtime flags: --log-format json --log-level debug --otlp-endpoint --shutdown-timeout",
    )
    C.check("--leader-elect" in args and args[-1] == "--some-flag", "--leader-elect kept, extraArgs appended")
    C.check({"name": "RUST_LOG", "value": "lb_allocator=trace"} in c["env"], "extraEnv appended")
    pod = dep["spec"]["template"]["spec"]
    C.check(
        pod.get("priorityClassName") == "system-cluster-critical"
        and pod.get("nodeSelector") == lbv["nodeSelector"] and pod.get("tolerations") == lbv["tolerations"],
        "priorityClassName, nodeSelector and tolerations applied",
    )
    metallb = [r for r in roles(docs) if any("metallb.io" in x.get("apiGroups", []) for x in r["rules"])]
    C.check(len(metallb) == 1 and metallb[0]["metadata"]["namespace"] == "lb-system", "MetalLB Role follows lbAllocator.metallbNamespace")
    lease_role = [r for r in roles(docs) if r["metadata"]["namespace"] == NAMESPACE]
    C.check(
        len(lease_role) == 1 and ("coordination.k8s.io", "leases", "update", "lb-lease") in rule_perms(lease_role[0]["rules"]),
        "leader-election Role names the configured Lease",
    )
    check_lb_rbac_common(docs, "explicit")

    # A token from an existing Secret: no Secret of ours, no HMAC variables.
    values = {"lbAllocator": dict(LB_REQUIRED, metalApi={"url": "https://api.example.com/metal", "auth": {
        "existingSecret": "metal-creds", "existingSecretKey": "api-token", "existingSecretKind": "token"}})}
    docs = docs_of(render(chart, values))
    validate(docs, "lbAllocator existingSecret token", kv[-1:])
    c = container(one(docs, "Deployment", LB_NAME))
    C.check(secret_ref_env(c) == {"METAL_AUTH_TOKEN": ("metal-creds", "api-token")},
            "existingSecret (token): METAL_AUTH_TOKEN from secretKeyRef metal-creds/api-token, no METAL_AUTH_HMAC")
    C.check("METAL_AUTH_HMAC_AUTH_TYPE" not in plain_env(c), "token: no METAL_AUTH_HMAC_AUTH_TYPE")
    C.check(not any(d["kind"] == "Secret" and d["metadata"]["name"] == LB_NAME for d in docs), "existingSecret: no lb-allocator Secret rendered")

    # An HMAC key from an existing Secret, against the embedded metal-api's URL.
    values = {"lbAllocator": dict(LB_REQUIRED, metalApi={"auth": {"existingSecret": "metal-creds"}})}
    c = container(one(docs_of(render(chart, values)), "Deployment", LB_NAME))
    C.check(
        secret_ref_env(c) == {"METAL_AUTH_HMAC": ("metal-creds", "hmac")}
        and plain_env(c).get("METAL_API_URL") == f"https://{API_NAME}:8080",
        "existingSecret (hmac, default key `hmac`) next to the embedded metal-api URL",
    )

    # An inline token.
    values = {"lbAllocator": dict(LB_REQUIRED, metalApi={"url": "https://api.example.com/metal", "auth": {"token": "bearer-xyz"}})}
    docs = docs_of(render(chart, values))
    c = container(one(docs, "Deployment", LB_NAME))
    secret = one(docs, "Secret", LB_NAME)
    C.check(
        secret_ref_env(c) == {"METAL_AUTH_TOKEN": (LB_NAME, "token")}
        and {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"token": "bearer-xyz"},
        "inline token: METAL_AUTH_TOKEN from the chart's own Secret (key `token`)",
    )


def check_lb_cilium(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = {"lbAllocator": dict(LB_VALUES, loadbalancer="cilium")}
    lint(chart_dir, values, "lbAllocator cilium", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "lbAllocator cilium", kv)
    c = container(one(docs, "Deployment", LB_NAME))
    C.check(plain_env(c).get("LOADBALANCER") == "cilium", "[cilium] env LOADBALANCER=cilium")
    C.check("--metallb-namespace" not in c["args"] and "--leader-elect" in c["args"], "[cilium] no --metallb-namespace, --leader-elect kept")
    perms = rule_perms(one(docs, "ClusterRole", LB_NAME)["rules"])
    want = CLUSTER_PERMS | CILIUM_PERMS
    for m in sorted(want - perms):
        print(f"        missing: {m}")
    for x in sorted(perms - want):
        print(f"        extra:   {x}")
    C.check(perms == want, f"[cilium] ClusterRole rules are exactly the listed ones plus cilium.io ({len(want)} permissions)")
    C.check(
        not any("metallb.io" in x.get("apiGroups", []) for r in roles(docs) + roles(docs, "ClusterRole") for x in r["rules"]),
        "[cilium] no metallb.io rules anywhere",
    )
    C.check(
        not any(d["metadata"].get("namespace") == "metallb-system" for d in docs)
        and [r["metadata"]["namespace"] for r in roles(docs)] == [NAMESPACE],
        "[cilium] no MetalLB Role: only the leader-election Role, nothing in metallb-system",
    )
    check_lb_rbac_common(docs, "cilium")
    # The cilium rules never appear in metallb mode (checked above) nor with an explicit metallb.
    perms = rule_perms(one(docs_of(render(chart, {"lbAllocator": dict(LB_REQUIRED, loadbalancer="metallb")})), "ClusterRole", LB_NAME)["rules"])
    C.check(perms == CLUSTER_PERMS, "[metallb explicit] ClusterRole without cilium.io")


def check_lb_failures(chart: "helm.Chart") -> None:
    cases = [
        ("clusterId missing", {"lbAllocator": {k: v for k, v in LB_REQUIRED.items() if k != "clusterId"}},
         "lbAllocator.clusterId is required"),
        ("clusterId empty", {"lbAllocator": dict(LB_REQUIRED, clusterId="")}, "lbAllocator.clusterId is required"),
        ("projectId missing", {"lbAllocator": {k: v for k, v in LB_REQUIRED.items() if k != "projectId"}},
         "lbAllocator.projectId is required"),
        ("partitionId missing", {"lbAllocator": {k: v for k, v in LB_REQUIRED.items() if k != "partitionId"}},
         "lbAllocator.partitionId is required"),
        ("loadbalancer invalid", {"lbAllocator": dict(LB_REQUIRED, loadbalancer="haproxy")},
         'lbAllocator.loadbalancer must be metallb or cilium, not "haproxy"'),
        ("no URL and no embedded metal-api", {"metalApi": {"enabled": False}, "lbAllocator": LB_REQUIRED},
         "lbAllocator.metalApi.url is required"),
        ("URL without credential", {"lbAllocator": dict(LB_REQUIRED, metalApi={"url": "https://api.example.com/metal"})},
         "no credential for metal-api"),
        ("hmac and token", {"lbAllocator": dict(LB_REQUIRED, metalApi={"auth": {"hmac": "a", "token": "b"}})},
         "set either hmac or token, not both"),
        ("existingSecret and inline", {"lbAllocator": dict(LB_REQUIRED, metalApi={"auth": {"existingSecret": "s", "hmac": "a"}})},
         "set either existingSecret or an inline hmac/token"),
        ("existingSecretKind invalid", {"lbAllocator": dict(LB_REQUIRED, metalApi={"auth": {"existingSecret": "s", "existingSecretKind": "oidc"}})},
         "existingSecretKind must be hmac or token"),
        ("hmacAuthType invalid", {"lbAllocator": dict(LB_REQUIRED, metalApi={"auth": {"hmacAuthType": "Metal-Root"}})},
         "hmacAuthType must be Metal-Admin, Metal-Edit or Metal-View"),
        ("logFormat invalid", {"lbAllocator": dict(LB_REQUIRED, logFormat="xml")}, "lbAllocator.logFormat must be text or json"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


# --------------------------------------------------------------------------------------------
# rule-compiler (replaces firewall-controller)

RC_POLICY_ROLE = f"{RC_NAME}-policy"
RC_SEED_ROLE = f"{RC_NAME}-seed"
RC_FW_CM = f"{RC_NAME}-firewall"
# Plus, since TLS and delegated auth: the auth-delegator binding, the viewer and editor
# ClusterRoles, the NetworkPolicy and the self-signed TLS Secret.
RC_KINDS_AUTH = ["ClusterRoleBinding", "ClusterRole", "ClusterRole", "NetworkPolicy", "Secret"]
RC_KINDS_ALL = sorted(["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Role", "Role", "RoleBinding", "RoleBinding", "Service",
                       "ServiceAccount"] + RC_KINDS_AUTH)

# Exactly what rule-compiler may do, as (apiGroup, resource, verb[, resourceName]).
# Cluster-wide: CWNPs of all namespaces and their status (wrong-namespace ones are stamped
# `ignored` and get a Warning event), all Services, events.
RC_CLUSTER_PERMS = (
    _perms(["metal-stack.io"], ["clusterwidenetworkpolicies"], ["get", "list", "watch"])
    | _perms(["metal-stack.io"], ["clusterwidenetworkpolicies/status"], ["get", "update", "patch"])
    | _perms([""], ["services"], ["get", "list", "watch"])
    | _perms([""], ["events"], ["create", "patch"])
    | _perms(["events.k8s.io"], ["events"], ["create", "patch"])
)
# In the policy namespace: the FirewallMonitor (no status subresource: the object), the
# fqdnstate ConfigMap.
RC_POLICY_PERMS = (
    _perms(["firewall.metal-stack.io"], ["firewallmonitors"], ["get", "list", "watch", "update", "patch"])
    | _perms([""], ["configmaps"], ["create"])
    | {("", "configmaps", v, "fqdnstate") for v in ["get", "update", "patch"]}
)
# In the seed namespace, only when this cluster is the seed (no inline Firewall, no seed kubeconfig).
RC_SEED_PERMS = _perms(["firewall.metal-stack.io"], ["firewalls"], ["get", "list", "watch"])

RC_FIREWALL: dict[str, Any] = {
    "apiVersion": "firewall.metal-stack.io/v2",
    "kind": "Firewall",
    "metadata": {"name": "shoot--proj--fw-1", "namespace": "shoot--proj--c1"},
    "spec": {
        "interval": "10s",
        "internalPrefixes": ["10.0.0.0/8"],
        "egressRules": [{"networkID": "internet", "ips": ["203.0.113.10"]}],
        "dnsServerAddress": "8.8.8.8",
        "dnsPort": 53,
    },
    "status": {
        "firewallNetworks": [
            {"networkID": "tenant", "networkType": "privateprimaryunshared", "vrf": 3981,
             "prefixes": ["10.0.16.0/22"], "ips": ["10.0.16.1"], "nat": True},
            {"networkID": "internet", "networkType": "external", "vrf": 104009,
             "prefixes": ["203.0.113.0/24"], "ips": ["203.0.113.5"], "nat": True},
        ],
    },
}


def rc_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "rule-compiler"
        or d["metadata"]["name"].startswith(RC_NAME)
    ]


def rc_values(**kw: Any) -> dict[str, Any]:
    return {"ruleCompiler": dict({"enabled": True}, **kw)}


def rc_render(chart: "helm.Chart", **kw: Any) -> list[dict[str, Any]]:
    return docs_of(render(chart, rc_values(**kw)))


def rc_perms_check(docs: list[dict[str, Any]], label: str, policy_ns: str, seed_ns: str | None) -> None:
    """The ClusterRole and Roles are exactly the listed permissions, bound to the ServiceAccount."""
    def exact(have: set[tuple[str, ...]], want: set[tuple[str, ...]], what: str) -> None:
        for m in sorted(want - have):
            print(f"        missing: {m}")
        for x in sorted(have - want):
            print(f"        extra:   {x}")
        C.check(have == want, f"[{label}] {what}: exactly the {len(want)} listed permissions")

    cr = one(docs, "ClusterRole", RC_NAME)
    exact(rule_perms(cr["rules"]), RC_CLUSTER_PERMS, "ClusterRole (CWNPs and their status, Services, events; cluster-wide)")
    check_auth_delegator(docs, "rule-compiler", label)
    rs = {r["metadata"]["name"]: r for r in roles(docs) if r["metadata"]["name"].startswith(RC_NAME)}
    policy = rs.get(RC_POLICY_ROLE)
    C.check(policy is not None and policy["metadata"]["namespace"] == policy_ns,
            f"[{label}] Role {RC_POLICY_ROLE} is in the policy namespace {policy_ns}")
    if policy:
        exact(rule_perms(policy["rules"]), RC_POLICY_PERMS,
              "policy Role (firewallmonitors, configmap fqdnstate)")
    if seed_ns is None:
        C.check(RC_SEED_ROLE not in rs and sorted(rs) == [RC_POLICY_ROLE],
                f"[{label}] no firewalls access: the Firewall does not come from this cluster")
    else:
        seed = rs.get(RC_SEED_ROLE)
        C.check(seed is not None and seed["metadata"]["namespace"] == seed_ns and sorted(rs) == [RC_POLICY_ROLE, RC_SEED_ROLE],
                f"[{label}] Role {RC_SEED_ROLE} in the seed namespace {seed_ns}")
        if seed:
            exact(rule_perms(seed["rules"]), RC_SEED_PERMS, "seed Role (firewalls)")
    all_rules = [x for r in [cr, *rs.values()] for x in r["rules"]]
    perms = rule_perms(all_rules)
    C.check(not has_wildcard(all_rules) and not any("nonResourceURLs" in x for x in all_rules),
            f"[{label}] no wildcards, no nonResourceURLs")
    C.check(not any(p[1] in ("leases", "secrets", "pods", "nodes") for p in perms),
            f"[{label}] no leases (no leader election), no secrets, pods or nodes")
    subject = [{"kind": "ServiceAccount", "name": RC_NAME, "namespace": NAMESPACE}]
    crb = one(docs, "ClusterRoleBinding", RC_NAME)
    C.check(crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RC_NAME}
            and crb["subjects"] == subject, f"[{label}] ClusterRoleBinding binds the ClusterRole to the ServiceAccount")
    bindings = [b for b in roles(docs, "RoleBinding") if b["metadata"]["name"].startswith(RC_NAME)]
    C.check(
        len(bindings) == len(rs)
        and all(b["subjects"] == subject and b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": b["metadata"]["name"]}
                and b["metadata"]["namespace"] == rs.get(b["metadata"]["name"], {}).get("metadata", {}).get("namespace")
                for b in bindings),
        f"[{label}] every Role has a RoleBinding in its namespace to the ServiceAccount",
    )
    sa = one(docs, "ServiceAccount", RC_NAME)
    ds = one(docs, "DaemonSet", RC_NAME)
    C.check(sa["metadata"]["namespace"] == NAMESPACE and ds["spec"]["template"]["spec"].get("serviceAccountName") == RC_NAME
            and ds["spec"]["template"]["spec"].get("automountServiceAccountToken") is True,
            f"[{label}] pod runs as the ServiceAccount {RC_NAME} and mounts its token")


def rc_pod(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    ds = one(docs, "DaemonSet", RC_NAME)
    c = container(ds)
    return ds["spec"]["template"]["spec"], c, c["args"]


def check_rc_off(chart: "helm.Chart") -> None:
    C.check(chart.values["ruleCompiler"]["enabled"] is False, "values: ruleCompiler.enabled defaults to false")
    rendered = render(chart, {})
    docs = docs_of(rendered)
    C.check(not rc_docs(docs) and not any(d["kind"] == "DaemonSet" for d in docs),
            "default values: no rule-compiler object (no DaemonSet, RBAC, Service, ConfigMap)")
    C.check(not any("rule-compiler" in v for v in rendered.values()), "default values: no rule-compiler in any template or NOTES")
    # Switched off but fully configured: still nothing.
    values = {"ruleCompiler": {"enabled": False, "firewall": RC_FIREWALL, "dryRun": True, "dnsListen": "10.0.0.1:53",
                               "ruleFile": "/etc/nftables/firewall-controller.v4", "enableIds": True}}
    rendered = render(chart, values)
    C.check(not rc_docs(docs_of(rendered)) and not any("rule-compiler" in v for v in rendered.values()),
            "ruleCompiler.enabled=false with every option set renders no rule-compiler object")


def check_rc_crd(chart: "helm.Chart", kv: list[str]) -> None:
    files = {f["name"]: f for f in chart.crds}
    path = "crds/metal-stack.io_clusterwidenetworkpolicies.yaml"
    C.check(path in files, f"the chart ships the CWNP CRD as {path}")
    crds = [d for f in chart.crds for d in yaml.safe_load_all(f.get("data", "")) if d]
    cwnp = [d for d in crds if d.get("kind") == "CustomResourceDefinition"
            and d.get("metadata", {}).get("name") == "clusterwidenetworkpolicies.metal-stack.io"]
    C.check(len(cwnp) == 1, "exactly one CRD clusterwidenetworkpolicies.metal-stack.io")
    if cwnp:
        spec = cwnp[0]["spec"]
        versions = {v["name"]: v for v in spec["versions"]}
        C.check(spec["group"] == "metal-stack.io" and spec["names"]["kind"] == "ClusterwideNetworkPolicy"
                and spec["names"]["plural"] == "clusterwidenetworkpolicies" and "cwnp" in spec["names"].get("shortNames", [])
                and spec["scope"] == "Namespaced",
                "CWNP CRD: group metal-stack.io, kind ClusterwideNetworkPolicy, plural clusterwidenetworkpolicies, shortName cwnp, Namespaced")
        C.check("v1" in versions and versions["v1"].get("served") and versions["v1"].get("storage")
                and "status" in versions["v1"].get("subresources", {}),
                "CWNP CRD: v1 served and stored, with the status subresource (what clusterwidenetworkpolicies/status is for)")
    C.check(not any(d.get("spec", {}).get("group") == "firewall.metal-stack.io" for d in crds),
            "no firewall.metal-stack.io CRD in crds/ (firewall-controller-manager owns Firewall and FirewallMonitor)")
    for v in kv:
        bad = []
        for d in crds:
            try:
                kubernetes_validate.validate(d, v, strict=True)
            except Exception as e:
                bad.append(f"{d.get('metadata', {}).get('name')}: {getattr(e, 'message', e)}")
        for b in bad:
            print(f"        invalid: {b}")
        C.check(not bad, f"kubernetes-validate strict, Kubernetes {v}: the {len(crds)} CRD(s) in crds/ are valid")


def check_rc_defaults(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = rc_values()
    lint(chart_dir, values, "ruleCompiler on, defaults", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "ruleCompiler on, defaults", kv)
    check_common(api_docs(docs), chart.metadata)
    rc = rc_docs(docs)
    C.check(sorted(d["kind"] for d in rc) == RC_KINDS_ALL,
            "ruleCompiler (defaults): DaemonSet, Service, ServiceAccount, ClusterRole(+Binding), policy and seed Roles(+Bindings), no ConfigMap")
    C.check(len(rc) + len(api_docs(docs)) + 1 == len(docs), "every object belongs to metal-api or rule-compiler (or is the release CA)")
    C.check(not any(d["kind"] in ("Deployment", "StatefulSet") for d in rc), "rule-compiler is a DaemonSet only (no Deployment)")
    for d in rc:
        labels = d["metadata"].get("labels", {})
        C.check(labels.get("app.kubernetes.io/name") == "metal-mesh" and labels.get("app.kubernetes.io/instance") == RELEASE
                and labels.get("app.kubernetes.io/component") == "rule-compiler" and labels.get("app.kubernetes.io/part-of") == "metal-mesh",
                f"{d['kind']}/{d['metadata']['name']} has the rule-compiler labels")
    ds = one(docs, "DaemonSet", RC_NAME)
    spec = ds["spec"]
    pod, c, args = rc_pod(docs)
    sel = spec["selector"]["matchLabels"]
    C.check(all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
            and sel.get("app.kubernetes.io/component") == "rule-compiler" and "app.kubernetes.io/version" not in sel,
            "DaemonSet selector matches its pod labels (component rule-compiler, no version)")
    C.check(ds["metadata"]["namespace"] == NAMESPACE, "DaemonSet in the release namespace")
    C.check(spec.get("updateStrategy") == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "updateStrategy RollingUpdate, maxUnavailable 1")
    C.check(pod.get("hostNetwork") is True and pod.get("dnsPolicy") == "ClusterFirstWithHostNet",
            "hostNetwork: true with dnsPolicy ClusterFirstWithHostNet")
    C.check(pod.get("nodeSelector") == {"metal-mesh/rule-compiler": "true"},
            "default nodeSelector metal-mesh/rule-compiler=true (never on every node by accident)")
    C.check(pod.get("enableServiceLinks") is False, "no service-link env vars")
    C.check(c["command"] == ["/usr/local/bin/rule-compiler"], "container runs /usr/local/bin/rule-compiler")
    C.check(c["image"] == f"metal-mesh:{chart.metadata['appVersion']}", "the shared image by default")
    sc, psc = c["securityContext"], pod["securityContext"]
    C.check(sc.get("capabilities") == {"drop": ["ALL"], "add": ["NET_ADMIN"]},
            "capabilities: drop ALL, add NET_ADMIN only (no NET_RAW, no NET_BIND_SERVICE without a DNS port < 1024)")
    C.check(sc.get("runAsUser") == 0 and sc.get("runAsNonRoot") is False and psc.get("runAsUser") == 0,
            "runs as uid 0 (nft needs root)")
    C.check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
            and not sc.get("privileged") and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
            and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            "read-only root filesystem, no privilege escalation, not privileged, seccomp RuntimeDefault")
    C.check(not pod.get("hostPID") and not pod.get("hostIPC"), "no hostPID, no hostIPC")
    C.check({p["name"]: (p["containerPort"], p["protocol"]) for p in c["ports"]} == {"https": (8084, "TCP")},
            "one container port: https 8084/TCP")
    C.check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
            and c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "liveness GET /healthz, readiness GET /readyz, on port https, scheme HTTPS")
    check_server_tls(docs, "rule-compiler", "defaults", f"{RC_NAME}-tls")
    C.check(args[:2] == ["--listen", "0.0.0.0:8084"], "args: --listen 0.0.0.0:8084")
    C.check(arg_value(args, "--log-format") == "text" and arg_value(args, "--log-level") == "info",
            "args: --log-format text --log-level info")
    C.check(arg_value(args, "--policy-namespace") == "firewall", "args: --policy-namespace firewall")
    C.check(arg_value(args, "--enable-ids") == "false" and "--suricata-socket" not in args,
            "args: --enable-ids false (no Suricata on cluster nodes), no --suricata-socket")
    C.check(arg_value(args, "--nft") == "nft" and arg_value(args, "--interval") == "10s"
            and arg_value(args, "--apply-backoff") == "1s" and arg_value(args, "--apply-backoff-max") == "1m"
            and arg_value(args, "--monitor-interval") == "10s",
            "args: --nft nft, --interval 10s, --apply-backoff 1s, --apply-backoff-max 1m, --monitor-interval 10s")
    for flag in ["--dry-run", "--dns-listen", "--dns-upstream", "--firewall-file", "--seed-kubeconfig", "--rule-file",
                 "--kubeconfig", "--firewall-name", "--otlp-endpoint", "--shutdown-timeout"]:
        C.check(flag not in args, f"defaults: no {flag}")
    C.check(arg_value(args, "--seed-namespace") == NAMESPACE,
            "this cluster is the seed: --seed-namespace is the release namespace (where the seed Role is)")
    env = {e["name"]: e for e in c.get("env", [])}
    C.check(list(env) == ["RULE_COMPILER_FIREWALL_NAME"]
            and env["RULE_COMPILER_FIREWALL_NAME"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
            "env RULE_COMPILER_FIREWALL_NAME from spec.nodeName (downward API), nothing else")
    C.check({m["name"]: m["mountPath"] for m in c["volumeMounts"]} == {"tmp": "/tmp", "tls": "/etc/metal-mesh/tls"}
            and not any("hostPath" in v for v in pod["volumes"]),
            "only an emptyDir on /tmp and its TLS Secret; no hostPath volume by default")
    C.check("requests" in c.get("resources", {}), "resource requests")
    svc = one(docs, "Service", RC_NAME)
    C.check(svc["spec"]["type"] == "ClusterIP"
            and [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]] == [("https", 8084, "https", "TCP")]
            and svc["spec"]["selector"] == sel,
            "Service: ClusterIP, https 8084 -> https, selects the rule-compiler pods")
    C.check(not any(d["kind"] == "ServiceMonitor" for d in docs), "no ServiceMonitor (its CRD cannot be validated strictly)")
    rc_perms_check(docs, "defaults", "firewall", NAMESPACE)
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check(RC_NAME in notes and "metal-mesh/rule-compiler=true" in notes and "crds/" in notes,
            "NOTES name the DaemonSet, the node label and the CRD in crds/")


def check_rc_firewall_file(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = rc_values(firewall=RC_FIREWALL, dryRun=True, dnsListen="10.0.16.1:53", dnsUpstream="9.9.9.9:53")
    lint(chart_dir, values, "ruleCompiler inline Firewall, dry run, DNS proxy", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "ruleCompiler inline Firewall, dry run, DNS proxy", kv)
    rc = rc_docs(docs)
    C.check(sorted(d["kind"] for d in rc) == sorted(["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Role", "RoleBinding", "Service",
                                                     "ServiceAccount"] + RC_KINDS_AUTH),
            "inline Firewall: its ConfigMap, and no seed Role")
    cm = one(docs, "ConfigMap", RC_FW_CM)
    C.check(sorted(cm["data"]) == ["firewall.yaml"] and yaml.safe_load(cm["data"]["firewall.yaml"]) == RC_FIREWALL,
            "ConfigMap holds the inline Firewall as firewall.yaml, unchanged")
    pod, c, args = rc_pod(docs)
    C.check(arg_value(args, "--firewall-file") == "/etc/rule-compiler/firewall/firewall.yaml",
            "--firewall-file /etc/rule-compiler/firewall/firewall.yaml")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    C.check(vols.get("firewall", {}).get("configMap", {}).get("name") == RC_FW_CM
            and mounts.get("firewall", {}).get("mountPath") == "/etc/rule-compiler/firewall"
            and mounts["firewall"].get("readOnly") is True and "subPath" not in mounts["firewall"],
            "the ConfigMap is mounted read-only on /etc/rule-compiler/firewall (no subPath)")
    C.check("--seed-kubeconfig" not in args and "--seed-namespace" not in args, "inline Firewall: no --seed-kubeconfig, no --seed-namespace")
    ann = one(docs, "DaemonSet", RC_NAME)["spec"]["template"]["metadata"].get("annotations", {})
    C.check(len(ann.get("checksum/firewall", "")) == 64, "pod template carries checksum/firewall (a changed Firewall rolls the pods)")
    C.check("--dry-run" in args, "dryRun: --dry-run")
    C.check(arg_value(args, "--dns-listen") == "10.0.16.1:53" and arg_value(args, "--dns-upstream") == "9.9.9.9:53",
            "dnsListen/dnsUpstream: --dns-listen 10.0.16.1:53 --dns-upstream 9.9.9.9:53")
    C.check(c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_BIND_SERVICE"]},
            "DNS proxy on port 53: NET_BIND_SERVICE added next to NET_ADMIN, nothing else")
    C.check([p["name"] for p in c["ports"]] == ["https"], "the DNS port is not declared (no hostPort clash with node-local DNS)")
    np_ = one(docs, "NetworkPolicy", RC_NAME)
    C.check(np_["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8084}, {"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
            "dnsListen: the NetworkPolicy admits TCP 8084 and the DNS proxy's 53 over UDP and TCP")
    rc_perms_check(docs, "inline Firewall", "firewall", None)

    # The same Firewall given as a YAML string (--set-file) renders the same document.
    as_string = yaml.safe_dump(RC_FIREWALL)
    docs = rc_render(chart, firewall=as_string)
    C.check(yaml.safe_load(one(docs, "ConfigMap", RC_FW_CM)["data"]["firewall.yaml"]) == RC_FIREWALL,
            "the inline Firewall given as a YAML string renders the same document")
    # ... and as JSON.
    docs = rc_render(chart, firewall=json.dumps(RC_FIREWALL))
    C.check(yaml.safe_load(one(docs, "ConfigMap", RC_FW_CM)["data"]["firewall.yaml"]) == RC_FIREWALL,
            "the inline Firewall given as a JSON string parses to the same document")
    # A DNS proxy on a high port needs no NET_BIND_SERVICE.
    _, c, _ = rc_pod(rc_render(chart, dnsListen="10.0.16.1:5353"))
    C.check(c["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"], "DNS proxy on port 5353: NET_ADMIN only")
    _, c, args = rc_pod(rc_render(chart, dnsListen="[fd00::1]:53"))
    C.check(arg_value(args, "--dns-listen") == "[fd00::1]:53" and "NET_BIND_SERVICE" in c["securityContext"]["capabilities"]["add"],
            "an IPv6 --dns-listen [fd00::1]:53 is passed as is, with NET_BIND_SERVICE")


def check_rc_seed_secret(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = rc_values(seedKubeconfigSecret="seed-kubeconfig", seedNamespace="shoot--proj--c1", policyNamespace="fw-policies",
                       firewallName="shoot--proj--fw-1")
    lint(chart_dir, values, "ruleCompiler seed kubeconfig Secret", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "ruleCompiler seed kubeconfig Secret", kv)
    pod, c, args = rc_pod(docs)
    C.check(arg_value(args, "--seed-kubeconfig") == "/etc/rule-compiler/seed/kubeconfig",
            "--seed-kubeconfig /etc/rule-compiler/seed/kubeconfig")
    C.check(arg_value(args, "--seed-namespace") == "shoot--proj--c1", "--seed-namespace from seedNamespace")
    C.check(arg_value(args, "--policy-namespace") == "fw-policies", "--policy-namespace from policyNamespace")
    C.check("--firewall-file" not in args and not any(d["kind"] == "ConfigMap" for d in rc_docs(docs)),
            "seed kubeconfig: no --firewall-file, no ConfigMap")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    sec = vols.get("seed-kubeconfig", {}).get("secret", {})
    C.check(sec.get("secretName") == "seed-kubeconfig" and sec.get("items") == [{"key": "kubeconfig", "path": "kubeconfig"}]
            and mounts.get("seed-kubeconfig", {}).get("mountPath") == "/etc/rule-compiler/seed"
            and mounts["seed-kubeconfig"].get("readOnly") is True,
            "the Secret seed-kubeconfig (key kubeconfig) is mounted read-only on /etc/rule-compiler/seed")
    C.check([d["metadata"]["name"] for d in rc_docs(docs) if d["kind"] == "Secret"] == [f"{RC_NAME}-tls"],
            "the chart renders no Secret of its own for the seed (only its TLS Secret)")
    env = {e["name"]: e for e in c["env"]}
    C.check(env["RULE_COMPILER_FIREWALL_NAME"] == {"name": "RULE_COMPILER_FIREWALL_NAME", "value": "shoot--proj--fw-1"},
            "firewallName: RULE_COMPILER_FIREWALL_NAME is the given name, not the node name")
    rc_perms_check(docs, "seed kubeconfig", "fw-policies", None)
    # Another key of the Secret.
    _, c, args = rc_pod(rc_render(chart, seedKubeconfigSecret="seed", seedKubeconfigSecretKey="seed.yaml"))
    C.check(arg_value(args, "--seed-kubeconfig") == "/etc/rule-compiler/seed/seed.yaml",
            "seedKubeconfigSecretKey seed.yaml: --seed-kubeconfig /etc/rule-compiler/seed/seed.yaml")
    # This cluster as the seed, with a seed namespace: the seed Role goes there.
    docs = rc_render(chart, seedNamespace="shoot--proj--c1")
    _, _, args = rc_pod(docs)
    C.check(arg_value(args, "--seed-namespace") == "shoot--proj--c1", "in-cluster seed with seedNamespace: --seed-namespace follows it")
    rc_perms_check(docs, "in-cluster seed, seedNamespace", "firewall", "shoot--proj--c1")


def check_rc_host_options(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    rcv = dict(
        ruleFile="/etc/nftables/firewall-controller.v4",
        enableIds=True, suricataSocket="/run/suricata-command.socket", suricataInterface="vlan104009",
        port=9631, listenAddress="10.0.16.1", nft="/usr/sbin/nft",
        applyBackoff="2s", applyBackoffMax="2m", interval="30s", monitorInterval="20s",
        logFormat="json", logLevel="debug", otlpEndpoint="http://otel:4317", shutdownTimeout="10s",
        extraArgs=["--some-flag"], extraEnv=[{"name": "RUST_LOG", "value": "rule_compiler=trace"}],
        podAnnotations={"prometheus.io/scrape": "true"}, podLabels={"team": "net"},
        service={"annotations": {"prometheus.io/port": "9631"}},
        nodeSelector=None,
        tolerations=[{"operator": "Exists"}],
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node-role.kubernetes.io/firewall", "operator": "Exists"}]}]}}},
        priorityClassName="system-node-critical",
        updateStrategy={"type": "OnDelete"},
        image={"repository": "registry.example.com/metal-mesh-nft", "tag": "9.9.9"},
    )
    values = rc_values(**rcv)
    lint(chart_dir, values, "ruleCompiler host options", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "ruleCompiler host options", kv)
    ds = one(docs, "DaemonSet", RC_NAME)
    pod, c, args = rc_pod(docs)
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    C.check(arg_value(args, "--rule-file") == "/etc/nftables/firewall-controller.v4"
            and vols.get("rule-dir", {}).get("hostPath") == {"path": "/etc/nftables", "type": "DirectoryOrCreate"}
            and mounts.get("rule-dir", {}).get("mountPath") == "/etc/nftables" and not mounts["rule-dir"].get("readOnly"),
            "ruleFile: --rule-file, and its directory /etc/nftables mounted writable from the node")
    C.check(arg_value(args, "--enable-ids") == "true" and arg_value(args, "--suricata-socket") == "/run/suricata-command.socket"
            and arg_value(args, "--suricata-interface") == "vlan104009"
            and vols.get("suricata-socket", {}).get("hostPath") == {"path": "/run/suricata-command.socket", "type": "Socket"}
            and mounts.get("suricata-socket", {}).get("mountPath") == "/run/suricata-command.socket",
            "enableIds: --enable-ids true, --suricata-socket/--suricata-interface, the socket mounted from the node (type Socket)")
    C.check(args[:2] == ["--listen", "10.0.16.1:9631"] and {p["name"]: p["containerPort"] for p in c["ports"]} == {"https": 9631},
            "listenAddress/port: --listen 10.0.16.1:9631, container port https 9631")
    C.check(one(docs, "NetworkPolicy", RC_NAME)["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9631}]}],
            "NetworkPolicy follows the port (9631), no DNS port without dnsListen")
    svc = one(docs, "Service", RC_NAME)
    C.check(svc["spec"]["ports"][0]["port"] == 9631 and svc["metadata"].get("annotations") == {"prometheus.io/port": "9631"},
            "Service port and annotations follow the values")
    C.check(arg_value(args, "--nft") == "/usr/sbin/nft" and arg_value(args, "--apply-backoff") == "2s"
            and arg_value(args, "--apply-backoff-max") == "2m" and arg_value(args, "--interval") == "30s"
            and arg_value(args, "--monitor-interval") == "20s",
            "--nft, --apply-backoff, --apply-backoff-max, --interval, --monitor-interval follow the values")
    C.check(arg_value(args, "--log-format") == "json" and arg_value(args, "--log-level") == "debug"
            and arg_value(args, "--otlp-endpoint") == "http://otel:4317" and arg_value(args, "--shutdown-timeout") == "10s",
            "runtime flags: --log-format json --log-level debug --otlp-endpoint --shutdown-timeout")
    C.check(args[-1] == "--some-flag" and {"name": "RUST_LOG", "value": "rule_compiler=trace"} in c["env"],
            "extraArgs appended, extraEnv appended")
    C.check(c["image"] == "registry.example.com/metal-mesh-nft:9.9.9", "ruleCompiler.image overrides the shared image")
    tmeta = ds["spec"]["template"]["metadata"]
    C.check(tmeta.get("annotations") == {"prometheus.io/scrape": "true"} and tmeta["labels"].get("team") == "net",
            "podAnnotations and podLabels applied")
    C.check("nodeSelector" not in pod and pod.get("tolerations") == rcv["tolerations"] and pod.get("affinity") == rcv["affinity"]
            and pod.get("priorityClassName") == "system-node-critical",
            "nodeSelector=null removes the default; tolerations, affinity, priorityClassName applied")
    C.check(ds["spec"]["updateStrategy"] == {"type": "OnDelete"}, "updateStrategy OnDelete (without rollingUpdate)")
    # Without the host network (tests): no hostNetwork, no dnsPolicy.
    pod, _, _ = rc_pod(rc_render(chart, hostNetwork=False))
    C.check("hostNetwork" not in pod and "dnsPolicy" not in pod, "hostNetwork=false: neither hostNetwork nor dnsPolicy")
    _, _, args = rc_pod(rc_render(chart, listenAddress="::"))
    C.check(args[:2] == ["--listen", "[::]:8084"], "an IPv6 listenAddress gets brackets: --listen [::]:8084")


def check_rc_failures(chart: "helm.Chart") -> None:
    cases = [
        ("firewall and seedKubeconfigSecret", rc_values(firewall=RC_FIREWALL, seedKubeconfigSecret="s"),
         "set either firewall (an inline Firewall, --firewall-file) or seedKubeconfigSecret"),
        ("firewall of another kind", rc_values(firewall=dict(RC_FIREWALL, kind="FirewallSet")),
         'ruleCompiler.firewall.kind must be Firewall, not "FirewallSet"'),
        ("firewall of another apiVersion", rc_values(firewall=dict(RC_FIREWALL, apiVersion="metal-stack.io/v1")),
         "ruleCompiler.firewall.apiVersion must be firewall.metal-stack.io/v2"),
        ("firewall without spec", rc_values(firewall={"kind": "Firewall", "metadata": {"name": "fw"}}),
         "ruleCompiler.firewall needs a spec"),
        ("firewall not YAML", rc_values(firewall="spec: [unclosed"), "ruleCompiler.firewall is not a YAML/JSON object"),
        ("seedKubeconfigSecretKey empty", rc_values(seedKubeconfigSecret="s", seedKubeconfigSecretKey=""),
         "ruleCompiler.seedKubeconfigSecretKey must name the key"),
        ("dnsListen without port", rc_values(dnsListen="10.0.0.1"), "ruleCompiler.dnsListen must be ADDR:PORT"),
        ("dnsListen port not a number", rc_values(dnsListen="10.0.0.1:dns"), "ruleCompiler.dnsListen must be ADDR:PORT"),
        ("dnsListen port out of range", rc_values(dnsListen="10.0.0.1:70000"), "ruleCompiler.dnsListen port must be 1..65535"),
        ("ruleFile relative", rc_values(ruleFile="nftables/fw.v4"), "ruleCompiler.ruleFile must be an absolute file path"),
        ("ruleFile in /", rc_values(ruleFile="/fw.v4"), "ruleCompiler.ruleFile must be an absolute file path"),
        ("ruleFile a directory", rc_values(ruleFile="/etc/nftables/"), "ruleCompiler.ruleFile must be an absolute file path"),
        ("suricataSocket relative", rc_values(enableIds=True, suricataSocket="run/s.sock"), "ruleCompiler.suricataSocket must be an absolute path"),
        ("logFormat invalid", rc_values(logFormat="xml"), 'ruleCompiler.logFormat must be text or json, not "xml"'),
        ("port invalid", rc_values(port=0), "ruleCompiler.port must be 1..65535"),
        ("policyNamespace empty", rc_values(policyNamespace=""), "ruleCompiler.policyNamespace must not be empty"),
        ("updateStrategy invalid", rc_values(updateStrategy={"type": "Recreate"}),
         'ruleCompiler.updateStrategy.type must be RollingUpdate or OnDelete, not "Recreate"'),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_rc_docs() -> None:
    chart_dir = ROOT / "helm" / "metal-mesh"
    doc = chart_dir / "docs" / "rule-compiler-systemd.md"
    readme = (chart_dir / "README.md").read_text()
    C.check(doc.is_file(), "helm/metal-mesh/docs/rule-compiler-systemd.md exists")
    C.check("docs/rule-compiler-systemd.md" in readme, "README.md links docs/rule-compiler-systemd.md")
    C.check("crds/metal-stack.io_clusterwidenetworkpolicies.yaml" in readme, "README.md says the CWNP CRD ships in crds/")
    if doc.is_file():
        text = doc.read_text()
        for needle in ["ExecStart=", "ip vrf exec", "--seed-kubeconfig /etc/firewall-controller/.seed-kubeconfig",
                       "--kubeconfig", "--dns-listen", "--rule-file /etc/nftables/firewall-controller.v4",
                       "Restart=always", "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE", "inet firewall", "/metrics"]:
            C.check(needle in text, f"systemd doc contains {needle!r}")


# --------------------------------------------------------------------------------------------
# volume-manager (replaces csi-driver-lvm)

VM_CAP_ROLE = f"{VM_NAME}-capacity"
VM_DRIVER = "lvm.csi.metal-stack.io"
VM_SIDECAR_IMAGES = {
    "csi-provisioner": "registry.k8s.io/sig-storage/csi-provisioner:v6.3.0",
    "csi-resizer": "registry.k8s.io/sig-storage/csi-resizer:v2.2.1",
    "csi-snapshotter": "registry.k8s.io/sig-storage/csi-snapshotter:v8.4.0",
    "node-driver-registrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.17.0",
    "livenessprobe": "registry.k8s.io/sig-storage/livenessprobe:v2.19.0",
}
VM_CONTAINERS = ["volume-manager", "csi-provisioner", "csi-resizer", "csi-snapshotter", "node-driver-registrar", "livenessprobe"]
VM_KINDS = sorted(["ClusterRole", "ClusterRoleBinding", "CSIDriver", "DaemonSet", "Role", "RoleBinding", "ServiceAccount",
                   "StorageClass", "StorageClass", "StorageClass", "VolumeSnapshotClass",
                   # TLS and delegated auth
                   "ClusterRoleBinding", "ClusterRole", "ClusterRole", "NetworkPolicy", "Secret"])
VM_CLASSES = {"csi-driver-lvm-linear": "linear", "csi-driver-lvm-striped": "striped", "csi-driver-lvm-mirror": "mirror"}
VM_COMPAT_CLASSES = {"csi-lvm-sc-linear": "linear", "csi-lvm-sc-mirror": "mirror", "csi-lvm-sc-striped": "striped"}

# Exactly what the sidecars may do cluster-wide, as (apiGroup, resource, verb).
# external-provisioner (node deployment; restore from snapshot incl. v6.3's source-protection
# finalizer on VolumeSnapshots), external-resizer, the events of all of them.
VM_CLUSTER_PERMS = (
    _perms([""], ["persistentvolumes"], ["get", "list", "watch", "create", "patch", "delete"])
    | _perms([""], ["persistentvolumeclaims"], ["get", "list", "watch", "update"])
    | _perms(["storage.k8s.io"], ["storageclasses", "csinodes"], ["get", "list", "watch"])
    | _perms([""], ["nodes"], ["get", "list", "watch"])
    | _perms(["snapshot.storage.k8s.io"], ["volumesnapshots"], ["get", "list", "watch", "update"])
    | _perms(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"], ["get", "list"])
    | _perms([""], ["persistentvolumeclaims/status"], ["patch"])
    | _perms([""], ["pods"], ["list", "watch"])
    | _perms([""], ["events"], ["list", "watch", "create", "update", "patch"])
)
# external-snapshotter (sidecar), only with sidecars.snapshotter.enabled.
VM_SNAPSHOTTER_PERMS = (
    _perms(["snapshot.storage.k8s.io"], ["volumesnapshotclasses"], ["get", "list", "watch"])
    | _perms(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"], ["get", "list", "watch", "update", "patch"])
    | _perms(["snapshot.storage.k8s.io"], ["volumesnapshotcontents/status"], ["update", "patch"])
)
# In the release namespace: the CSIStorageCapacity objects and the provisioner's own Pod (owner
# lookup, --capacity-ownerref-level=1 needs nothing of apps).
VM_CAPACITY_PERMS = (
    _perms(["storage.k8s.io"], ["csistoragecapacities"], CRUD)
    | _perms([""], ["pods"], ["get"])
)


def vm_values(**kw: Any) -> dict[str, Any]:
    return {"volumeManager": dict({"enabled": True}, **kw)}


def vm_render(chart: "helm.Chart", **kw: Any) -> list[dict[str, Any]]:
    return docs_of(render(chart, vm_values(**kw)))


def vm_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "volume-manager"
        or d["metadata"]["name"].startswith(VM_NAME)
        or d["kind"] in ("CSIDriver", "StorageClass", "VolumeSnapshotClass")
    ]


def vm_pod(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    ds = one(docs, "DaemonSet", VM_NAME)
    pod = ds["spec"]["template"]["spec"]
    return pod, {c["name"]: c for c in pod["containers"]}


def vm_validate(docs: list[dict[str, Any]], label: str, kv: list[str]) -> None:
    """kubernetes-validate (strict) for every object but the VolumeSnapshotClass, whose CRD
    kubernetes-validate has no schema for; that one is checked field by field here."""
    vscs = [d for d in docs if d["kind"] == "VolumeSnapshotClass"]
    validate([d for d in docs if d["kind"] != "VolumeSnapshotClass"], label, kv)
    for v in vscs:
        meta = v["metadata"]
        ann = meta.get("annotations") or {}
        problems = []
        if strip_meta(v).keys() - {"apiVersion", "kind", "metadata", "driver", "deletionPolicy", "parameters"}:
            problems.append(f"unknown fields {sorted(strip_meta(v).keys() - {'apiVersion', 'kind', 'metadata', 'driver', 'deletionPolicy', 'parameters'})}")
        if v.get("apiVersion") != "snapshot.storage.k8s.io/v1":
            problems.append(f"apiVersion {v.get('apiVersion')!r}")
        if not isinstance(v.get("driver"), str) or not v["driver"]:
            problems.append("driver missing")
        if v.get("deletionPolicy") not in ("Delete", "Retain"):
            problems.append(f"deletionPolicy {v.get('deletionPolicy')!r}")
        if "parameters" in v and not all(isinstance(x, str) for x in (v["parameters"] or {}).values()):
            problems.append("parameters must be strings")
        if meta.keys() - {"name", "labels", "annotations"} or "namespace" in meta:
            problems.append(f"metadata keys {sorted(meta)} (cluster-scoped: no namespace)")
        if not all(isinstance(x, str) for x in list((meta.get("labels") or {}).values()) + list(ann.values())):
            problems.append("labels/annotations must be strings")
        for p in problems:
            print(f"        invalid: VolumeSnapshotClass/{meta.get('name')}: {p}")
        C.check(not problems, f"VolumeSnapshotClass/{meta.get('name')} ({label}): snapshot.storage.k8s.io/v1 fields checked by hand "
                              "(no schema in kubernetes-validate): driver, deletionPolicy, metadata")


def vm_perms_check(docs: list[dict[str, Any]], label: str, snapshotter: bool = True) -> None:
    def exact(have: set[tuple[str, ...]], want: set[tuple[str, ...]], what: str) -> None:
        for m in sorted(want - have):
            print(f"        missing: {m}")
        for x in sorted(have - want):
            print(f"        extra:   {x}")
        C.check(have == want, f"[{label}] {what}: exactly the {len(want)} listed permissions")

    cr = one(docs, "ClusterRole", VM_NAME)
    want = VM_CLUSTER_PERMS | (VM_SNAPSHOTTER_PERMS if snapshotter else set())
    exact(rule_perms(cr["rules"]), want,
          "ClusterRole (provisioner, resizer" + (", snapshotter" if snapshotter else "") + "; cluster-wide)")
    check_auth_delegator(docs, "volume-manager", label)
    rs = [r for r in roles(docs) if r["metadata"]["name"].startswith(VM_NAME)]
    C.check(len(rs) == 1 and rs[0]["metadata"]["name"] == VM_CAP_ROLE and rs[0]["metadata"]["namespace"] == NAMESPACE,
            f"[{label}] one Role {VM_CAP_ROLE}, in the release namespace")
    if rs:
        exact(rule_perms(rs[0]["rules"]), VM_CAPACITY_PERMS, "capacity Role (csistoragecapacities, pods get)")
    all_rules = cr["rules"] + [x for r in rs for x in r["rules"]]
    perms = rule_perms(all_rules)
    C.check(not has_wildcard(all_rules) and not any("nonResourceURLs" in x or "resourceNames" in x for x in all_rules),
            f"[{label}] no wildcards, no nonResourceURLs, no resourceNames")
    C.check(not any(p[1] in ("leases", "secrets", "volumeattachments", "replicasets", "daemonsets") for p in perms),
            f"[{label}] no leases (no leader election), secrets, volumeattachments (no attacher) or apps objects")
    subject = [{"kind": "ServiceAccount", "name": VM_NAME, "namespace": NAMESPACE}]
    crb = one(docs, "ClusterRoleBinding", VM_NAME)
    C.check(crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": VM_NAME}
            and crb["subjects"] == subject, f"[{label}] ClusterRoleBinding binds the ClusterRole to the ServiceAccount")
    rb = one(docs, "RoleBinding", VM_CAP_ROLE)
    C.check(rb["metadata"]["namespace"] == NAMESPACE and rb["subjects"] == subject
            and rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": VM_CAP_ROLE},
            f"[{label}] RoleBinding binds the capacity Role to the ServiceAccount")
    sa = one(docs, "ServiceAccount", VM_NAME)
    pod, _ = vm_pod(docs)
    C.check(sa["metadata"]["namespace"] == NAMESPACE and sa.get("automountServiceAccountToken") is False
            and pod.get("serviceAccountName") == VM_NAME and pod.get("automountServiceAccountToken") is True,
            f"[{label}] pod runs as the ServiceAccount {VM_NAME} and mounts its token (the SA itself does not automount)")


def check_vm_off(chart: "helm.Chart") -> None:
    C.check(chart.values["volumeManager"]["enabled"] is False, "values: volumeManager.enabled defaults to false")
    rendered = render(chart, {})
    docs = docs_of(rendered)
    C.check(not vm_docs(docs), "default values: no volume-manager object (no DaemonSet, CSIDriver, StorageClass, VolumeSnapshotClass, RBAC)")
    C.check(not any("volume-manager" in v or VM_DRIVER in v for v in rendered.values()),
            "default values: no volume-manager or driver name in any template or NOTES")
    values = {"volumeManager": {"enabled": False, "volumeGroups": [{"name": "hdd", "devices": ["/dev/sdb"]}],
                                "storageClasses": {"compat03x": True, "defaultClass": "linear", "mirrorIntegrity": True},
                                "snapshotClass": {"isDefault": True}, "devices": []}}
    rendered = render(chart, values)
    C.check(not vm_docs(docs_of(rendered)) and not any("volume-manager" in v for v in rendered.values()),
            "volumeManager.enabled=false with options set (even invalid ones) renders no volume-manager object")


def check_vm_defaults(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = vm_values()
    lint(chart_dir, values, "volumeManager on, defaults", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    vm_validate(docs, "volumeManager on, defaults", kv)
    check_common(api_docs(docs), chart.metadata)
    vm = vm_docs(docs)
    C.check(sorted(d["kind"] for d in vm) == VM_KINDS,
            "volumeManager (defaults): DaemonSet, ServiceAccount, ClusterRole(+Binding), Role(+Binding), CSIDriver, 3 StorageClasses, VolumeSnapshotClass, "
            "auth-delegator binding, viewer and editor ClusterRoles, NetworkPolicy, TLS Secret")
    C.check(len(vm) + len(api_docs(docs)) + 1 == len(docs), "every object belongs to metal-api or volume-manager (or is the release CA)")
    C.check(not any(d["kind"] in ("Deployment", "StatefulSet", "Service") for d in vm),
            "volume-manager is node-local: a DaemonSet only (no Deployment or StatefulSet controller, no Service)")
    for d in vm:
        labels = d["metadata"].get("labels", {})
        C.check(labels.get("app.kubernetes.io/name") == "metal-mesh" and labels.get("app.kubernetes.io/instance") == RELEASE
                and labels.get("app.kubernetes.io/component") == "volume-manager" and labels.get("app.kubernetes.io/part-of") == "metal-mesh",
                f"{d['kind']}/{d['metadata']['name']} has the volume-manager labels")
    ds = one(docs, "DaemonSet", VM_NAME)
    spec = ds["spec"]
    pod, cs = vm_pod(docs)
    sel = spec["selector"]["matchLabels"]
    C.check(ds["metadata"]["namespace"] == NAMESPACE
            and all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
            and sel.get("app.kubernetes.io/component") == "volume-manager" and "app.kubernetes.io/version" not in sel,
            "DaemonSet in the release namespace; selector matches its pod labels (component volume-manager, no version)")
    C.check(spec.get("updateStrategy") == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "updateStrategy RollingUpdate, maxUnavailable 1")
    C.check([c["name"] for c in pod["containers"]] == VM_CONTAINERS,
            "containers: volume-manager, csi-provisioner, csi-resizer, csi-snapshotter, node-driver-registrar, livenessprobe")
    C.check(not any("attacher" in c["name"] or "attacher" in c["image"] for c in pod["containers"]),
            "no csi-attacher (attachRequired: false)")
    C.check(not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC") and pod.get("enableServiceLinks") is False
            and "nodeSelector" not in pod and "tolerations" not in pod and "priorityClassName" not in pod,
            "no host network/PID/IPC, no service links; no nodeSelector, tolerations or priorityClassName by default")

    p = cs["volume-manager"]
    C.check(p["image"] == f"metal-mesh:{chart.metadata['appVersion']}", "plugin: the shared image by default")
    C.check(p["command"] == ["/usr/local/bin/volume-manager"], "plugin runs /usr/local/bin/volume-manager")
    want_args = [
        "--csi-endpoint", "unix:///csi/csi.sock", "--node-id", "$(KUBE_NODE_NAME)", "--vg-name", "csi-lvm",
        "--devices", "/dev/nvme[0-9]n[0-9]", "--listen", "0.0.0.0:8083",
        "--driver-name", VM_DRIVER, "--default-type", "linear", "--max-volumes-per-node", "0",
        "--host-write-path", "/etc/lvm", "--log-format", "text", "--log-level", "info",
    ] + server_args()
    if p["args"] != want_args:
        print(f"        got: {p['args']}")
    C.check(p["args"] == want_args,
            "plugin args exactly: --csi-endpoint unix:///csi/csi.sock --node-id $(KUBE_NODE_NAME) --vg-name csi-lvm "
            "--devices /dev/nvme[0-9]n[0-9] --listen 0.0.0.0:8083 --driver-name lvm.csi.metal-stack.io --default-type linear "
            "--max-volumes-per-node 0 --host-write-path /etc/lvm --log-format text --log-level info "
            "--tls-cert-file /etc/metal-mesh/tls/tls.crt --tls-key-file /etc/metal-mesh/tls/tls.key --auth kubernetes")
    C.check(" ".join(p["args"][:10]) == "--csi-endpoint unix:///csi/csi.sock --node-id $(KUBE_NODE_NAME) --vg-name csi-lvm "
            "--devices /dev/nvme[0-9]n[0-9] --listen 0.0.0.0:8083", "plugin CLI starts verbatim with the endpoint, node id, VG, devices and listener")
    C.check(p["env"] == [{"name": "KUBE_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "plugin env: KUBE_NODE_NAME from spec.nodeName only")
    C.check({x["name"]: (x["containerPort"], x["protocol"]) for x in p["ports"]} == {"https": (8083, "TCP")}, "plugin port https 8083/TCP")
    C.check(p["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
            and p["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            "plugin probes: readiness GET /readyz, liveness GET /healthz on its listen port, scheme HTTPS")
    check_server_tls(docs, "volume-manager", "defaults", f"{VM_NAME}-tls")
    C.check(one(docs, "NetworkPolicy", VM_NAME)["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8083}, {"protocol": "TCP", "port": 9898}]}],
            "NetworkPolicy: the plugin's TCP 8083 and the livenessprobe sidecar's TCP 9898 only")
    C.check(p["securityContext"] == {"privileged": True, "runAsNonRoot": False, "runAsUser": 0},
            "plugin: privileged, uid 0")
    C.check("requests" in p.get("resources", {}), "plugin has resource requests")
    mounts = {m["name"]: m for m in p["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    want_mounts = {
        "socket-dir": ("/csi", None, False),
        "mountpoint-dir": ("/var/lib/kubelet/pods", "Bidirectional", False),
        "plugins-dir": ("/var/lib/kubelet/plugins", "Bidirectional", False),
        "dev-dir": ("/dev", "Bidirectional", False),
        "lib-modules": ("/lib/modules", None, True),
        "lvm-host-write": ("/etc/lvm", "Bidirectional", False),
        "tls": ("/etc/metal-mesh/tls", None, True),
    }
    got_mounts = {n: (m["mountPath"], m.get("mountPropagation"), bool(m.get("readOnly"))) for n, m in mounts.items()}
    if got_mounts != want_mounts:
        print(f"        got: {got_mounts}")
    C.check(got_mounts == want_mounts,
            "plugin mounts: /csi; kubelet pods and plugins, /dev and /etc/lvm Bidirectional; /lib/modules and the TLS Secret read-only")
    want_vols = {
        "socket-dir": {"path": "/var/lib/kubelet/plugins/lvm.csi.metal-stack.io", "type": "DirectoryOrCreate"},
        "mountpoint-dir": {"path": "/var/lib/kubelet/pods", "type": "Directory"},
        "plugins-dir": {"path": "/var/lib/kubelet/plugins", "type": "Directory"},
        "registration-dir": {"path": "/var/lib/kubelet/plugins_registry", "type": "Directory"},
        "dev-dir": {"path": "/dev", "type": "Directory"},
        "lib-modules": {"path": "/lib/modules"},
        "lvm-host-write": {"path": "/etc/lvm", "type": "DirectoryOrCreate"},
    }
    got_vols = {n: v.get("hostPath") for n, v in vols.items() if n != "tls"}
    if got_vols != want_vols:
        print(f"        got: {got_vols}")
    C.check(got_vols == want_vols and vols["tls"] == {"name": "tls", "secret": {"secretName": f"{VM_NAME}-tls", "defaultMode": 0o440}},
            "volumes: hostPaths only, but the TLS Secret; socket dir <kubelet>/plugins/lvm.csi.metal-stack.io (DirectoryOrCreate), "
            "kubelet pods/plugins/plugins_registry, /dev, /lib/modules, /etc/lvm")

    want_sidecar_args = {
        "csi-provisioner": ["--csi-address=/csi/csi.sock", "--node-deployment", "--enable-capacity", "--capacity-ownerref-level=1",
                            "--strict-topology", "--extra-create-metadata"],
        "csi-resizer": ["--csi-address=/csi/csi.sock"],
        "csi-snapshotter": ["--csi-address=/csi/csi.sock", "--node-deployment"],
        "node-driver-registrar": ["--csi-address=/csi/csi.sock",
                                  "--kubelet-registration-path=/var/lib/kubelet/plugins/lvm.csi.metal-stack.io/csi.sock"],
        "livenessprobe": ["--csi-address=/csi/csi.sock", "--http-endpoint=:9898"],
    }
    for name, args in want_sidecar_args.items():
        c = cs[name]
        C.check(c["image"] == VM_SIDECAR_IMAGES[name], f"{name}: image {VM_SIDECAR_IMAGES[name]}")
        if c.get("args") != args:
            print(f"        got: {c.get('args')}")
        C.check(c.get("args") == args and "command" not in c, f"{name}: args exactly {' '.join(args)}")
        sc = c.get("securityContext", {})
        C.check(not sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
                and sc.get("capabilities") == {"drop": ["ALL"]} and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
                f"{name}: not privileged, no privilege escalation, read-only root, drop ALL, seccomp RuntimeDefault")
        want = {"socket-dir": "/csi"} | ({"registration-dir": "/registration"} if name == "node-driver-registrar" else {})
        C.check({m["name"]: m["mountPath"] for m in c["volumeMounts"]} == want
                and not any(m.get("mountPropagation") for m in c["volumeMounts"]),
                f"{name}: mounts {want} only, no propagation")
        C.check("requests" in c.get("resources", {}), f"{name}: resource requests")

    def field_env(c: dict[str, Any]) -> dict[str, str]:
        return {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c.get("env", [])}

    C.check(field_env(cs["csi-provisioner"]) == {"NODE_NAME": "spec.nodeName", "NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"},
            "csi-provisioner env NODE_NAME, NAMESPACE, POD_NAME from the downward API")
    C.check(field_env(cs["csi-snapshotter"]) == {"NODE_NAME": "spec.nodeName"}, "csi-snapshotter env NODE_NAME (required by --node-deployment)")
    C.check(not cs["csi-resizer"].get("env") and not cs["node-driver-registrar"].get("env") and not cs["livenessprobe"].get("env"),
            "resizer, registrar and livenessprobe get no env")
    C.check({x["name"]: x["containerPort"] for x in cs["livenessprobe"].get("ports", [])} == {"csi-healthz": 9898}
            and not any(cs[n].get("ports") for n in ("csi-provisioner", "csi-resizer", "csi-snapshotter", "node-driver-registrar")),
            "livenessprobe declares port csi-healthz 9898; the other sidecars no port")
    vm_perms_check(docs, "defaults")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check(VM_NAME in notes and VM_DRIVER in notes and "csi-driver-lvm-linear" in notes and "--enable-distributed-snapshotting" in notes,
            "NOTES name the DaemonSet, the driver, the StorageClasses and the snapshot-controller requirement")


def check_vm_storage_objects(chart: "helm.Chart", kv: list[str]) -> None:
    docs = vm_render(chart)
    drv = one(docs, "CSIDriver", VM_DRIVER)
    C.check(drv["apiVersion"] == "storage.k8s.io/v1" and "namespace" not in drv["metadata"], "CSIDriver storage.k8s.io/v1, cluster-scoped")
    C.check(drv["spec"] == {"attachRequired": False, "podInfoOnMount": True, "storageCapacity": True,
                            "volumeLifecycleModes": ["Persistent", "Ephemeral"], "fsGroupPolicy": "File"},
            "CSIDriver spec exactly: attachRequired false, podInfoOnMount true, storageCapacity true, Persistent+Ephemeral, fsGroupPolicy File")
    scs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StorageClass"}
    C.check(sorted(scs) == sorted(VM_CLASSES), "StorageClasses exactly csi-driver-lvm-linear, -striped, -mirror")
    for name, t in VM_CLASSES.items():
        sc = scs.get(name, {})
        C.check(sc.get("provisioner") == VM_DRIVER and sc.get("parameters") == {"type": t}
                and sc.get("volumeBindingMode") == "WaitForFirstConsumer" and sc.get("allowVolumeExpansion") is True
                and sc.get("reclaimPolicy") == "Delete" and not sc.get("metadata", {}).get("annotations"),
                f"StorageClass {name}: provisioner {VM_DRIVER}, parameters {{type: {t}}}, WaitForFirstConsumer, expansion, Delete, not default")
    vsc = one(docs, "VolumeSnapshotClass", "csi-driver-lvm")
    C.check(strip_meta(vsc).keys() == {"apiVersion", "kind", "metadata", "driver", "deletionPolicy"}
            and vsc["apiVersion"] == "snapshot.storage.k8s.io/v1" and vsc["driver"] == VM_DRIVER and vsc["deletionPolicy"] == "Delete"
            and not vsc["metadata"].get("annotations") and "namespace" not in vsc["metadata"],
            "VolumeSnapshotClass csi-driver-lvm: snapshot.storage.k8s.io/v1, driver lvm.csi.metal-stack.io, deletionPolicy Delete, not default")

    # defaultClass, reclaimPolicy, vgName, fsType, compat03x, mirrorIntegrity; the snapshot class's options.
    values = vm_values(volumeGroups=[{"name": "hdd", "devices": ["/dev/sd[b-z]"]}],
                       storageClasses={"defaultClass": "striped", "reclaimPolicy": "Retain", "compat03x": True,
                                       "mirrorIntegrity": True, "vgName": "hdd", "fsType": "xfs"},
                       snapshotClass={"deletionPolicy": "Retain", "isDefault": True})
    docs = docs_of(render(chart, values))
    vm_validate(docs, "volumeManager StorageClass options", kv[-1:])
    scs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StorageClass"}
    want = dict(VM_CLASSES, **VM_COMPAT_CLASSES, **{"csi-driver-lvm-mirror-integrity": "mirror"})
    C.check(sorted(scs) == sorted(want), "compat03x + mirrorIntegrity: also csi-lvm-sc-linear/-mirror/-striped and csi-driver-lvm-mirror-integrity")
    for name, t in want.items():
        params = {"type": t, "vgName": "hdd", "csi.storage.k8s.io/fstype": "xfs"}
        if name == "csi-driver-lvm-mirror-integrity":
            params["integrity"] = "true"
        sc = scs.get(name, {})
        C.check(sc.get("parameters") == params and sc.get("reclaimPolicy") == "Retain" and sc.get("provisioner") == VM_DRIVER
                and sc.get("volumeBindingMode") == "WaitForFirstConsumer" and sc.get("allowVolumeExpansion") is True,
                f"StorageClass {name}: parameters {params}, reclaimPolicy Retain")
    defaults = sorted(n for n, d in scs.items()
                      if (d["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true")
    C.check(defaults == ["csi-driver-lvm-striped"], "defaultClass striped: only csi-driver-lvm-striped is the default class (not its compat twin)")
    vsc = one(docs, "VolumeSnapshotClass", "csi-driver-lvm")
    C.check(vsc["deletionPolicy"] == "Retain"
            and vsc["metadata"].get("annotations") == {"snapshot.storage.kubernetes.io/is-default-class": "true"},
            "snapshotClass deletionPolicy Retain and isDefault: the default-class annotation")
    for cls in ("linear", "mirror"):
        docs = vm_render(chart, storageClasses={"defaultClass": cls})
        defaults = [d["metadata"]["name"] for d in docs if d["kind"] == "StorageClass"
                    and (d["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
        C.check(defaults == [f"csi-driver-lvm-{cls}"], f"defaultClass {cls}: csi-driver-lvm-{cls} is the only default class")
    # Switched off: none of them.
    docs = vm_render(chart, storageClasses={"enabled": False}, snapshotClass={"enabled": False})
    C.check(not any(d["kind"] in ("StorageClass", "VolumeSnapshotClass") for d in docs) and any(d["kind"] == "CSIDriver" for d in docs),
            "storageClasses.enabled=false and snapshotClass.enabled=false: no StorageClass, no VolumeSnapshotClass (the CSIDriver stays)")


def check_vm_rbac_variants(chart: "helm.Chart", kv: list[str]) -> None:
    values = vm_values(sidecars={"snapshotter": {"enabled": False}}, snapshotClass={"enabled": False})
    docs = docs_of(render(chart, values))
    vm_validate(docs, "volumeManager without snapshotter", kv[-1:])
    _, cs = vm_pod(docs)
    C.check(list(cs) == [c for c in VM_CONTAINERS if c != "csi-snapshotter"] and not any(d["kind"] == "VolumeSnapshotClass" for d in docs),
            "sidecars.snapshotter.enabled=false: no csi-snapshotter container, no VolumeSnapshotClass")
    vm_perms_check(docs, "without snapshotter", snapshotter=False)
    C.check(rule_perms(one(docs, "ClusterRole", VM_NAME)["rules"]) >= _perms(["snapshot.storage.k8s.io"], ["volumesnapshotcontents"], ["get", "list"]),
            "[without snapshotter] the provisioner keeps its restore-from-snapshot reads")


def check_vm_custom(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    vmv = dict(
        driverName="lvm.csi.example.com", vgName="fast", devices=["/dev/nvme0n1", "/dev/nvme1n1"],
        volumeGroups=[{"name": "hdd", "devices": ["/dev/sd[b-d]", "/dev/sdf"]}, {"name": "ssd", "devices": ["/dev/disk/by-id/ata-SSD*"]}],
        defaultType="mirror", maxVolumesPerNode=50, hostWritePath="/var/etc/lvm", kubeletDir="/var/lib/k0s/kubelet/",
        port=9083, listenAddress="::",
        logFormat="json", logLevel="debug", otlpEndpoint="http://otel:4317", shutdownTimeout="10s",
        extraArgs=["--some-flag"], extraEnv=[{"name": "RUST_LOG", "value": "volume_manager=trace"}],
        image={"repository": "registry.example.com/metal-mesh-lvm", "tag": "9.9.9"},
        sidecars={"pullPolicy": "Always",
                  "provisioner": {"image": {"digest": "sha256:" + "a" * 64}, "extraArgs": ["--timeout=60s"]},
                  "livenessprobe": {"healthPort": 9899}},
        nodeSelector={"node.kubernetes.io/local-storage": "true"}, tolerations=[{"operator": "Exists"}],
        priorityClassName="system-node-critical", podAnnotations={"prometheus.io/scrape": "true"}, podLabels={"team": "storage"},
        updateStrategy={"type": "OnDelete"}, serviceAccount={"annotations": {"example.com/owner": "storage"}},
        storageClasses={"compat03x": True, "defaultClass": "linear"},
    )
    values = vm_values(**vmv)
    lint(chart_dir, values, "volumeManager custom values", kv[-1:])
    docs = docs_of(render(chart, values))
    vm_validate(docs, "volumeManager custom values", kv)
    ds = one(docs, "DaemonSet", VM_NAME)
    pod, cs = vm_pod(docs)
    p = cs["volume-manager"]
    args = p["args"]
    C.check(args[:10] == ["--csi-endpoint", "unix:///csi/csi.sock", "--node-id", "$(KUBE_NODE_NAME)", "--vg-name", "fast",
                          "--devices", "/dev/nvme0n1,/dev/nvme1n1", "--listen", "[::]:9083"],
            "vgName/devices/port/listenAddress: --vg-name fast --devices /dev/nvme0n1,/dev/nvme1n1 --listen [::]:9083")
    vgs = [args[i + 1] for i, a in enumerate(args) if a == "--volume-group"]
    C.check(vgs == ["hdd=/dev/sd[b-d],/dev/sdf", "ssd=/dev/disk/by-id/ata-SSD*"],
            "volumeGroups: --volume-group hdd=/dev/sd[b-d],/dev/sdf --volume-group ssd=/dev/disk/by-id/ata-SSD* (once per entry)")
    C.check(arg_value(args, "--driver-name") == "lvm.csi.example.com" and arg_value(args, "--default-type") == "mirror"
            and arg_value(args, "--max-volumes-per-node") == "50" and arg_value(args, "--host-write-path") == "/var/etc/lvm",
            "--driver-name, --default-type mirror, --max-volumes-per-node 50, --host-write-path /var/etc/lvm")
    C.check(arg_value(args, "--log-format") == "json" and arg_value(args, "--log-level") == "debug"
            and arg_value(args, "--otlp-endpoint") == "http://otel:4317" and arg_value(args, "--shutdown-timeout") == "10s",
            "runtime flags: --log-format json --log-level debug --otlp-endpoint --shutdown-timeout")
    C.check(args[-1] == "--some-flag" and {"name": "RUST_LOG", "value": "volume_manager=trace"} in p["env"],
            "extraArgs appended, extraEnv appended")
    C.check(p["image"] == "registry.example.com/metal-mesh-lvm:9.9.9", "volumeManager.image overrides the shared image")
    C.check({x["name"]: x["containerPort"] for x in p["ports"]} == {"https": 9083}, "plugin port https 9083")
    C.check(one(docs, "NetworkPolicy", VM_NAME)["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9083}, {"protocol": "TCP", "port": 9899}]}],
            "NetworkPolicy follows port (9083) and healthPort (9899)")
    k = "/var/lib/k0s/kubelet"
    sock = f"{k}/plugins/lvm.csi.example.com"
    mounts = {m["name"]: (m["mountPath"], m.get("mountPropagation")) for m in p["volumeMounts"]}
    vols = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    C.check(mounts["mountpoint-dir"] == (f"{k}/pods", "Bidirectional") and mounts["plugins-dir"] == (f"{k}/plugins", "Bidirectional")
            and vols["mountpoint-dir"] == f"{k}/pods" and vols["plugins-dir"] == f"{k}/plugins"
            and vols["registration-dir"] == f"{k}/plugins_registry" and vols["socket-dir"] == sock,
            "kubeletDir /var/lib/k0s/kubelet/ (trailing slash dropped): pods, plugins, plugins_registry and the socket dir below it")
    C.check(mounts["lvm-host-write"] == ("/var/etc/lvm", "Bidirectional") and vols["lvm-host-write"] == "/var/etc/lvm",
            "hostWritePath /var/etc/lvm (Talos): mounted from the node at the same path, Bidirectional")
    C.check(f"--kubelet-registration-path={sock}/csi.sock" in cs["node-driver-registrar"]["args"],
            f"registration path follows kubeletDir and driverName: {sock}/csi.sock")
    C.check(cs["csi-provisioner"]["image"] == "registry.k8s.io/sig-storage/csi-provisioner@sha256:" + "a" * 64
            and cs["csi-provisioner"]["args"][-1] == "--timeout=60s",
            "sidecar image digest wins over the tag; sidecar extraArgs appended")
    C.check(all(cs[n]["imagePullPolicy"] == "Always" for n in VM_SIDECAR_IMAGES) and p["imagePullPolicy"] == "IfNotPresent",
            "sidecars.pullPolicy for the sidecars, image.pullPolicy for the plugin")
    C.check("--http-endpoint=:9899" in cs["livenessprobe"]["args"] and cs["livenessprobe"]["ports"][0]["containerPort"] == 9899,
            "livenessprobe healthPort 9899: --http-endpoint=:9899, port csi-healthz 9899")
    C.check(one(docs, "CSIDriver")["metadata"]["name"] == "lvm.csi.example.com"
            and all(d["provisioner"] == "lvm.csi.example.com" for d in docs if d["kind"] == "StorageClass")
            and one(docs, "VolumeSnapshotClass")["driver"] == "lvm.csi.example.com",
            "driverName names the CSIDriver and is the StorageClasses' provisioner and the snapshot class's driver")
    scs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StorageClass"}
    C.check(sorted(scs) == sorted(list(VM_CLASSES) + list(VM_COMPAT_CLASSES))
            and [n for n, d in scs.items() if d["metadata"].get("annotations")] == ["csi-driver-lvm-linear"],
            "compat03x: the six StorageClasses; defaultClass linear annotates csi-driver-lvm-linear only")
    tmeta = ds["spec"]["template"]["metadata"]
    C.check(pod.get("nodeSelector") == vmv["nodeSelector"] and pod.get("tolerations") == vmv["tolerations"]
            and pod.get("priorityClassName") == "system-node-critical"
            and tmeta.get("annotations") == {"prometheus.io/scrape": "true"} and tmeta["labels"].get("team") == "storage",
            "nodeSelector, tolerations, priorityClassName, podAnnotations and podLabels applied")
    C.check(ds["spec"]["updateStrategy"] == {"type": "OnDelete"}, "updateStrategy OnDelete (without rollingUpdate)")
    C.check(one(docs, "ServiceAccount", VM_NAME)["metadata"].get("annotations") == {"example.com/owner": "storage"},
            "serviceAccount.annotations applied")
    # devices given as one comma-separated string (--set volumeManager.devices=...).
    _, cs = vm_pod(vm_render(chart, devices="/dev/sdb, /dev/sdc"))
    C.check(arg_value(cs["volume-manager"]["args"], "--devices") == "/dev/sdb,/dev/sdc",
            "devices as a comma-separated string: --devices /dev/sdb,/dev/sdc")


def check_vm_failures(chart: "helm.Chart") -> None:
    cases = [
        ("devices empty", vm_values(devices=[]), "volumeManager.devices must not be empty"),
        ("devices null", vm_values(devices=None), "volumeManager.devices must not be empty"),
        ("device relative", vm_values(devices=["nvme0n1"]), 'volumeManager.devices: "nvme0n1" is not a device glob'),
        ("device with a comma", vm_values(devices=["/dev/a,/dev/b", "/dev/c"]), 'volumeManager.devices: "/dev/a,/dev/b" is not a device glob'),
        ("defaultType invalid", vm_values(defaultType="raid5"), 'volumeManager.defaultType must be linear, striped or mirror, not "raid5"'),
        ("defaultClass invalid", vm_values(storageClasses={"defaultClass": "fast"}),
         'volumeManager.storageClasses.defaultClass must be empty (no default class) or linear, striped or mirror, not "fast"'),
        ("vgName invalid", vm_values(vgName="-bad"), "volumeManager.vgName must be an LVM volume group name"),
        ("vgName empty", vm_values(vgName=""), "volumeManager.vgName must be an LVM volume group name"),
        ("volume group without devices", vm_values(volumeGroups=[{"name": "hdd", "devices": []}]),
         "volumeManager.volumeGroups[0].devices must not be empty"),
        ("volume group without name", vm_values(volumeGroups=[{"devices": ["/dev/sdb"]}]),
         "volumeManager.volumeGroups[0].name must be an LVM volume group name"),
        ("volume group named like vgName", vm_values(volumeGroups=[{"name": "csi-lvm", "devices": ["/dev/sdb"]}]),
         'volumeManager.volumeGroups[0].name "csi-lvm" is used twice'),
        ("volume group not a map", vm_values(volumeGroups=["hdd=/dev/sdb"]), "volumeManager.volumeGroups[0] must be a map"),
        ("storageClasses.vgName unknown", vm_values(storageClasses={"vgName": "hdd"}),
         'volumeManager.storageClasses.vgName "hdd" is no volume group of the driver'),
        ("fsType invalid", vm_values(storageClasses={"fsType": "ext4 -E x"}), "volumeManager.storageClasses.fsType must be a filesystem name"),
        ("reclaimPolicy invalid", vm_values(storageClasses={"reclaimPolicy": "Recycle"}),
         'volumeManager.storageClasses.reclaimPolicy must be Delete or Retain, not "Recycle"'),
        ("deletionPolicy invalid", vm_values(snapshotClass={"deletionPolicy": "Keep"}),
         'volumeManager.snapshotClass.deletionPolicy must be Delete or Retain, not "Keep"'),
        ("snapshotClass without snapshotter", vm_values(sidecars={"snapshotter": {"enabled": False}}),
         "volumeManager.snapshotClass.enabled needs volumeManager.sidecars.snapshotter.enabled"),
        ("driverName invalid", vm_values(driverName="LVM_Driver"), "volumeManager.driverName must be a CSI driver name"),
        ("hostWritePath relative", vm_values(hostWritePath="etc/lvm"), "volumeManager.hostWritePath must be an absolute directory"),
        ("hostWritePath /", vm_values(hostWritePath="/"), "volumeManager.hostWritePath must be an absolute directory"),
        ("kubeletDir relative", vm_values(kubeletDir="var/lib/kubelet"), "volumeManager.kubeletDir must be an absolute directory"),
        ("maxVolumesPerNode negative", vm_values(maxVolumesPerNode=-1), "volumeManager.maxVolumesPerNode must be a whole number"),
        ("port invalid", vm_values(port=0), "volumeManager.port must be 1..65535"),
        ("healthPort equals port", vm_values(sidecars={"livenessprobe": {"healthPort": 8083}}),
         "volumeManager.sidecars.livenessprobe.healthPort must be 1..65535 and differ from volumeManager.port"),
        ("logFormat invalid", vm_values(logFormat="xml"), 'volumeManager.logFormat must be text or json, not "xml"'),
        ("updateStrategy invalid", vm_values(updateStrategy={"type": "Recreate"}),
         'volumeManager.updateStrategy.type must be RollingUpdate or OnDelete, not "Recreate"'),
        ("sidecar image without tag", vm_values(sidecars={"resizer": {"image": {"tag": ""}}}),
         "volumeManager.sidecars.resizer.image needs a repository and a tag"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_vm_docs() -> None:
    readme = (ROOT / "helm" / "metal-mesh" / "README.md").read_text()
    for needle in ["## What volume-manager gets", "volumeManager.hostWritePath", "/var/etc/lvm", "csi-driver-lvm-linear",
                   "`integrity`", "`vgName`", "csi.storage.k8s.io/fstype", "--enable-distributed-snapshotting", "compat03x"]:
        C.check(needle in readme, f"README.md (volume-manager) mentions {needle!r}")


# --------------------------------------------------------------------------------------------
# gardener-webhooks (replaces gardener-extension-provider-metal's admission and seed webhooks)

GW_GARDEN_ROLE = f"{GW_NAME}-garden"
GW_SEED_ROLE = f"{GW_NAME}-seed"
GW_SHOOT_CONFIG = f"{GW_NAME}-shoot"
GW_OS_ROLE = f"{GW_NAME}-os-controller"
GW_LEASE_ROLE = f"{GW_NAME}-leader-election"
GW_LEASE = "gardener-webhooks-os-controller"
GW_EXT_ROLE = f"{GW_NAME}-extensions"
GW_EXT_LEASE = "provider-metal-leader-election"
GW_EXT_CA = f"{GW_NAME}-metal-api-ca"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
METAL_SHOOT_SELECTOR = {"matchLabels": {"provider.extensions.gardener.cloud/metal": "true"}}
METAL_SECRET_SELECTOR = {"matchLabels": {"provider.shoot.gardener.cloud/metal": "true"}}


def gw_rule(group: str, version: str, resource: str) -> dict[str, Any]:
    return {"apiGroups": [group], "apiVersions": [version], "resources": [resource], "operations": ["CREATE", "UPDATE"], "scope": "*"}


def ns_in(key: str, value: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}


# Every webhook of the chart, as upstream registers it (names, paths, one rule per type,
# CREATE+UPDATE, selectors); clientConfig, failurePolicy and the shared settings are added by
# gw_expected_webhook.
GW_WEBHOOKS: dict[str, dict[str, Any]] = {
    "validator": {
        "name": "validator.admission-metal.extensions.gardener.cloud", "path": "/webhooks/validate",
        "objectSelector": METAL_SHOOT_SELECTOR,
        "rules": [gw_rule("core.gardener.cloud", "v1beta1", "shoots"), gw_rule("core.gardener.cloud", "v1beta1", "cloudprofiles"),
                  gw_rule("core.gardener.cloud", "v1beta1", "secretbindings"),
                  gw_rule("security.gardener.cloud", "v1alpha1", "credentialsbindings")],
    },
    "secrets-validator": {
        "name": "secrets.validator.admission-metal.extensions.gardener.cloud", "path": "/webhooks/validate/secrets",
        "objectSelector": METAL_SECRET_SELECTOR, "rules": [gw_rule("", "v1", "secrets")],
    },
    "mutator": {
        "name": "mutator.admission-metal.extensions.gardener.cloud", "path": "/webhooks/mutate",
        "objectSelector": METAL_SHOOT_SELECTOR, "rules": [gw_rule("core.gardener.cloud", "v1beta1", "shoots")],
    },
    "controlplane": {
        "name": "controlplane.metal.extensions.gardener.cloud", "path": "/webhooks/controlplane",
        "namespaceSelector": ns_in("shoot.gardener.cloud/provider", "metal"),
        "rules": [gw_rule("", "v1", "configmaps"), gw_rule("apps", "v1", "deployments"),
                  gw_rule("extensions.gardener.cloud", "v1alpha1", "operatingsystemconfigs")],
    },
    "seedprovider": {
        "name": "seedprovider.metal.extensions.gardener.cloud", "path": "/webhooks/seedprovider",
        "namespaceSelector": ns_in("seed.gardener.cloud/provider", "metal"),
        "rules": [gw_rule("", "v1", "services"), gw_rule("apps", "v1", "deployments"), gw_rule("druid.gardener.cloud", "v1alpha1", "etcds")],
    },
    "shoot": {
        "name": "shoot.metal.extensions.gardener.cloud", "path": "/webhooks/shoot",
        "namespaceSelector": ns_in("gardener.cloud/purpose", "kube-system"),
        "rules": [gw_rule("apps", "v1", "deployments"), gw_rule("apps", "v1", "daemonsets"), gw_rule("", "v1", "configmaps"),
                  gw_rule("", "v1", "secrets")],
    },
}

# What gardener-webhooks may do, as (apiGroup, resource, verb) triples: exactly this.
GW_GARDEN_PERMS = (_perms(["core.gardener.cloud"], ["cloudprofiles", "namespacedcloudprofiles"], ["get", "list", "watch"])
                   | _perms([""], ["secrets"], ["get"]))
GW_SEED_PERMS = _perms(["extensions.gardener.cloud"], ["clusters"], ["get", "list", "watch"]) | _perms([""], ["secrets"], ["get"])
# seed.osController: the OperatingSystemConfig controller's ClusterRole, rule by rule, and the
# Role of its Lease in the release namespace.
GW_OS_RULES = [
    {"apiGroups": ["extensions.gardener.cloud"], "resources": ["operatingsystemconfigs"], "verbs": ["get", "list", "watch", "patch", "update"]},
    {"apiGroups": ["extensions.gardener.cloud"], "resources": ["operatingsystemconfigs/status"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
GW_OS_PERMS = rule_perms(GW_OS_RULES)


def gw_lease_rules(*leases: str) -> list[dict[str, Any]]:
    """The Lease Role's rules: create, and get/update of exactly the given Leases."""
    return [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": list(leases), "verbs": ["get", "update"]},
    ]


GW_LEASE_RULES = gw_lease_rules(GW_LEASE)
# seed.extensions: the extension controllers' ClusterRole, rule by rule.
_RW = ["get", "list", "watch", "create", "update", "patch", "delete"]
_RO = ["get", "list", "watch"]
GW_EXT_RULES = [
    {"apiGroups": ["extensions.gardener.cloud"], "resources": ["infrastructures", "controlplanes", "workers"],
     "verbs": ["get", "list", "watch", "patch", "update"]},
    {"apiGroups": ["extensions.gardener.cloud"], "resources": ["infrastructures/status", "controlplanes/status", "workers/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["extensions.gardener.cloud"], "resources": ["clusters", "operatingsystemconfigs", "dnsrecords"], "verbs": _RO},
    {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": _RW},
    {"apiGroups": ["machine.sapcloud.io"], "resources": ["machineclasses", "machinedeployments"], "verbs": _RW},
    {"apiGroups": ["machine.sapcloud.io"], "resources": ["machines", "machinesets"], "verbs": _RO},
    {"apiGroups": ["firewall.metal-stack.io"], "resources": ["firewalldeployments"], "verbs": _RW},
    {"apiGroups": ["firewall.metal-stack.io"], "resources": ["firewallsets"], "verbs": _RO + ["patch", "delete"]},
    {"apiGroups": ["firewall.metal-stack.io"], "resources": ["firewalls"], "verbs": _RO + ["create", "patch", "delete"]},
    {"apiGroups": ["resources.gardener.cloud"], "resources": ["managedresources"], "verbs": _RW},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _RO},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": _RO},
    {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
     "verbs": ["get", "delete"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
GW_EXT_PERMS = rule_perms(GW_EXT_RULES)
GW_DOWNWARD_ENV = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                   {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]

# garden.defaults key -> (value, its DEFAULTER_* variable and value); the key upper-cased is the name.
GW_DEFAULTS_ALL: dict[str, tuple[Any, str, str]] = {
    "maxPods": (110, "DEFAULTER_MAXPODS", "110"),
    "nodeCIDRMaskSize": (24, "DEFAULTER_NODECIDRMASKSIZE", "24"),
    "podsCIDR": ("10.244.0.0/16", "DEFAULTER_PODSCIDR", "10.244.0.0/16"),
    "servicesCIDR": ("fd00:10:96::/112", "DEFAULTER_SERVICESCIDR", "fd00:10:96::/112"),
    "networkType": ("cilium", "DEFAULTER_NETWORKTYPE", "cilium"),
    "calicoBackend": ("bird", "DEFAULTER_CALICOBACKEND", "bird"),
    "calicoKubeProxyEnabled": (False, "DEFAULTER_CALICOKUBEPROXYENABLED", "false"),
    "calicoPoolMode": ("Always", "DEFAULTER_CALICOPOOLMODE", "Always"),
    "calicoTyphaEnabled": (True, "DEFAULTER_CALICOTYPHAENABLED", "true"),
    "ciliumHubbleEnabled": (False, "DEFAULTER_CILIUMHUBBLEENABLED", "false"),
    "ciliumKubeProxyEnabled": (True, "DEFAULTER_CILIUMKUBEPROXYENABLED", "true"),
    "ciliumTunnel": ("vxlan", "DEFAULTER_CILIUMTUNNEL", "vxlan"),
    "ciliumDevices": (["lan+", "lo", "eth0"], "DEFAULTER_CILIUMDEVICES", "lan+,lo,eth0"),
    "ciliumDirectRoutingDevice": ("lan0", "DEFAULTER_CILIUMDIRECTROUTINGDEVICE", "lan0"),
    "ciliumBGPControlPlane": (False, "DEFAULTER_CILIUMBGPCONTROLPLANE", "false"),
    "ciliumIPv4NativeRoutingCIDREnabled": (False, "DEFAULTER_CILIUMIPV4NATIVEROUTINGCIDRENABLED", "false"),
    "ciliumLoadBalancingMode": ("snat", "DEFAULTER_CILIUMLOADBALANCINGMODE", "snat"),
    "ciliumMTU": (9000, "DEFAULTER_CILIUMMTU", "9000"),
}


def gw_values(garden: bool | dict[str, Any] = False, seed: bool | dict[str, Any] = False, **kw: Any) -> dict[str, Any]:
    """gardener-webhooks for a garden and/or a seed (metal-api off): True switches one on, a map
    switches it on with those settings (unless it says enabled: false); kw are further
    gardenerWebhooks values."""
    def switch(v: bool | dict[str, Any]) -> dict[str, Any]:
        return dict({"enabled": True}, **v) if isinstance(v, dict) else {"enabled": v}
    gw = deep_merge({"garden": switch(garden), "seed": switch(seed)}, kw)
    return {"metalApi": {"enabled": False}, "gardenerWebhooks": gw}


def gw_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gardener-webhooks"
            or d["metadata"]["name"].startswith(GW_NAME)]


def gw_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in one(docs, "Deployment", GW_NAME)["spec"]["template"]["spec"]["containers"] if c["name"] == "gardener-webhooks")


def gw_args(webhooks: str, seed: list[str] | None = None, listen: str = "0.0.0.0:9443", runtime: list[str] | None = None,
            require_auth: bool = False, extra: list[str] | None = None, **server: Any) -> list[str]:
    """gardener-webhooks' exact command line: --listen, the runtime flags, --webhooks, the seed
    flags, then the flags every service gets and extraArgs."""
    args = ["--listen", listen] + (runtime if runtime is not None else ["--log-format", "text", "--log-level", "info"])
    args += ["--webhooks", webhooks] + (["--webhooks-require-auth"] if require_auth else []) + (seed or [])
    return args + server_args(**server) + (extra or [])


def gw_seed_args(image: str) -> list[str]:
    """The seed flags with the default values: the chart's image for the MCM sidecar, 16Gi."""
    return ["--machine-controller-manager-image", image, "--etcd-storage-capacity", "16Gi"]


def gw_expected_webhook(key: str, port: int = 443, url: str | None = None, failure: str = "Fail") -> dict[str, Any]:
    spec = GW_WEBHOOKS[key]
    if url:
        client = {"url": url}
    else:
        client = {"service": {"name": GW_NAME, "namespace": NAMESPACE, "port": port, "path": spec["path"]}}
    w = {"name": spec["name"], "admissionReviewVersions": ["v1"], "clientConfig": client, "failurePolicy": failure,
         "matchPolicy": "Equivalent", "sideEffects": "None", "timeoutSeconds": 10, "rules": spec["rules"]}
    for sel in ("namespaceSelector", "objectSelector"):
        if sel in spec:
            w[sel] = spec[sel]
    return w


def without_ca(w: dict[str, Any]) -> dict[str, Any]:
    out = dict(w, clientConfig={k: v for k, v in w["clientConfig"].items() if k != "caBundle"})
    return out


def webhook_configs(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in WEBHOOK_KINDS}


def all_webhooks(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [w for d in docs if d["kind"] in WEBHOOK_KINDS for w in d.get("webhooks", [])]


def check_gw_configs(docs: list[dict[str, Any]], label: str, validating: list[str], mutating: list[str],
                     shoot: dict[str, Any] | None = None, port: int = 443) -> None:
    """The webhook configurations, exactly: which exist, their webhooks in order (name, path,
    rules, selectors, failurePolicy, sideEffects, timeout, AdmissionReview v1), every
    clientConfig.service pointing at the rendered Service (name, namespace, its https port),
    the standard labels plus Gardener's remediation exclusion; cluster-scoped."""
    configs = webhook_configs(docs)
    want = {}
    if validating:
        want[("ValidatingWebhookConfiguration", GW_NAME)] = [gw_expected_webhook(k, port) for k in validating]
    if mutating:
        want[("MutatingWebhookConfiguration", GW_NAME)] = [gw_expected_webhook(k, port) for k in mutating]
    if shoot:
        want[("MutatingWebhookConfiguration", GW_SHOOT_CONFIG)] = [gw_expected_webhook("shoot", port, **shoot)]
    C.check(sorted(configs) == sorted(want), f"[{label}] webhook configurations exactly {sorted(f'{k}/{n}' for k, n in want)}")
    for key, webhooks in want.items():
        cfg = configs.get(key, {"webhooks": [], "metadata": {"labels": {}}})
        got = [without_ca(w) for w in cfg.get("webhooks", [])]
        if got != webhooks:
            print(f"        got:  {json.dumps(got)}\n        want: {json.dumps(webhooks)}")
        paths = ", ".join(w["clientConfig"].get("service", {}).get("path") or w["clientConfig"].get("url", "") for w in webhooks)
        C.check(got == webhooks, f"[{label}] {key[0]}/{key[1]}: exactly the webhooks {paths} (rules, selectors, failurePolicy "
                                 f"{'/'.join(sorted({w['failurePolicy'] for w in webhooks}))}, sideEffects None, timeout 10s, v1 reviews)")
        labels = cfg["metadata"].get("labels", {})
        C.check(labels.get("app.kubernetes.io/component") == "gardener-webhooks" and labels.get("app.kubernetes.io/instance") == RELEASE
                and labels.get("remediation.webhook.shoot.gardener.cloud/exclude") == "true" and "namespace" not in cfg["metadata"]
                and (labels.get("metal-mesh/webhook-target") == "shoot") == (key[1] == GW_SHOOT_CONFIG),
                f"[{label}] {key[0]}/{key[1]}: gardener-webhooks' labels, remediation excluded, cluster-scoped"
                f"{', labelled metal-mesh/webhook-target=shoot' if key[1] == GW_SHOOT_CONFIG else ''}")
    svc = one(docs, "Service", GW_NAME)
    svc_port = svc["spec"]["ports"][0]
    container_ports = {p["name"]: p["containerPort"] for p in gw_container(docs)["ports"]}
    refs = [w["clientConfig"]["service"] for w in all_webhooks(docs) if "service" in w["clientConfig"]]
    C.check(refs and all(r["name"] == svc["metadata"]["name"] and r["namespace"] == svc["metadata"]["namespace"]
                         and r["port"] == svc_port["port"] for r in refs)
            and svc_port["name"] == "https" and svc_port["targetPort"] == "https" and "https" in container_ports
            and svc["spec"]["selector"] == one(docs, "Deployment", GW_NAME)["spec"]["selector"]["matchLabels"],
            f"[{label}] every clientConfig.service ({len(refs)}) is the rendered Service {svc['metadata']['namespace']}/"
            f"{svc['metadata']['name']} port {svc_port['port']} (https -> container port {container_ports.get('https')}), "
            "which selects the Deployment's pods")


def check_gw_ca_bundle_self_signed(docs: list[dict[str, Any]], label: str) -> None:
    """Self-signed: every webhook's caBundle decodes to the CA certificate that signed the
    rendered serving certificate of gardener-webhooks (parsed, signature checked)."""
    bundles = {w["clientConfig"].get("caBundle") for w in all_webhooks(docs)}
    secret = tls_secrets(docs).get(f"{GW_NAME}-tls")
    ca_secret = tls_secrets(docs).get(CA_NAME)
    C.check(len(bundles) == 1 and None not in bundles and secret is not None and ca_secret is not None,
            f"[{label}] every webhook carries the same caBundle; the serving Secret and the release CA are rendered")
    if len(bundles) != 1 or None in bundles or secret is None or ca_secret is None:
        return
    bundle = base64.b64decode(next(iter(bundles)))
    ca = Cert(bundle)
    serving = Cert(b64(secret, "tls.crt"))
    C.check(ca.is_ca and serving.signed_by(ca) and bundle == b64(secret, "ca.crt") == b64(ca_secret, "tls.crt"),
            f"[{label}] caBundle decodes to the CA certificate that signed the serving certificate {GW_NAME}-tls "
            f"({CERT_TOOL}: signature checked), the same as its ca.crt and the release CA {CA_NAME}")
    C.check(sorted(serving.dns) == sorted(expected_sans("gardener-webhooks")) and f"{GW_NAME}.{NAMESPACE}.svc" in serving.dns,
            f"[{label}] the serving certificate names the Service as the kube-apiserver calls it ({GW_NAME}.{NAMESPACE}.svc)")


def check_gw_off(chart: "helm.Chart") -> None:
    rendered = render(chart, {"gardenerWebhooks": {"garden": {"defaults": {"maxPods": 110}}, "seed": {"shootWebhookURL": "https://x"}}})
    docs = docs_of(rendered)
    C.check(not gw_docs(docs) and not any(d["kind"] in WEBHOOK_KINDS for d in docs)
            and f"{GW_NAME}-tls" not in tls_secrets(docs),
            "neither garden nor seed (values set): no gardener-webhooks object, no webhook configuration, no certificate")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check("gardener-webhooks" not in notes, "neither garden nor seed: NOTES do not mention gardener-webhooks")
    C.check(not any(n.startswith("metal-mesh:gardener-webhooks") for n in access_roles(docs)),
            "neither garden nor seed: no metal-mesh:gardener-webhooks:* ClusterRoles")
    for what, values in [("gardenerWebhooks.enabled=true", {"gardenerWebhooks": {"enabled": True}}),
                         ("gardenerWebhooks.enabled=true with seed on", {"gardenerWebhooks": {"enabled": True, "seed": {"enabled": True}}})]:
        err = render_error(chart, values)
        message = "gardenerWebhooks.enabled is replaced by two switches: gardenerWebhooks.garden.enabled"
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"the old switch {what}: rendering fails with {message!r}")
    C.check(render_error(chart, {"gardenerWebhooks": {"enabled": False}}) is None,
            "the old switch set to false: renders (nothing to migrate)")


def check_gw_common(docs: list[dict[str, Any]], label: str, image: str) -> None:
    """What every mode shares: the Deployment's pod (image, command, TLS, auth, probes, locked
    down), its ServiceAccount and auth-delegator binding, the Service, NetworkPolicy, PDB and the
    access ClusterRoles."""
    dep = one(docs, "Deployment", GW_NAME)
    pod = dep["spec"]["template"]["spec"]
    c = gw_container(docs)
    C.check(c["image"] == image and c["command"] == ["/usr/local/bin/gardener-webhooks"] and dep["spec"]["replicas"] == 2,
            f"[{label}] Deployment {GW_NAME}: 2 replicas, image {image}, command /usr/local/bin/gardener-webhooks")
    check_server_tls(docs, "gardener-webhooks", label, f"{GW_NAME}-tls")
    check_auth_delegator(docs, "gardener-webhooks", label)
    sc, psc = c["securityContext"], pod["securityContext"]
    C.check(sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities") == {"drop": ["ALL"]} and psc.get("runAsUser") == 65532 and psc.get("fsGroup") == 65532
            and pod.get("enableServiceLinks") is False,
            f"[{label}] locked-down pod: uid 65532, fsGroup 65532, read-only root, drop ALL, no service links")
    C.check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
            and c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
            and c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            f"[{label}] probes: liveness and startup GET /healthz, readiness GET /readyz, scheme HTTPS on port https")
    sel = dep["spec"]["selector"]["matchLabels"]
    C.check(sel == {"app.kubernetes.io/name": "metal-mesh", "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "gardener-webhooks"}
            and all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
            f"[{label}] the Deployment selects its pods by name, instance and component gardener-webhooks")
    svc = one(docs, "Service", GW_NAME)
    C.check(svc["spec"]["type"] == "ClusterIP" and svc["spec"]["selector"] == sel
            and svc["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
            f"[{label}] Service {GW_NAME}: ClusterIP, port https 443 -> https")
    np_ = one(docs, "NetworkPolicy", GW_NAME)
    C.check(np_["spec"]["podSelector"] == {"matchLabels": sel} and np_["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9443}]}],
            f"[{label}] NetworkPolicy {GW_NAME}: its pods, ingress from anywhere on TCP 9443 only")
    pdb = one(docs, "PodDisruptionBudget", GW_NAME)
    C.check(pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": sel}},
            f"[{label}] PodDisruptionBudget {GW_NAME}: maxUnavailable 1 (the webhooks fail closed)")
    roles_ = access_roles(docs)
    C.check({n: r for n, r in roles_.items() if ":gardener-webhooks:" in n}
            == {"metal-mesh:gardener-webhooks:viewer": GW_RULES, "metal-mesh:gardener-webhooks:editor": GW_RULES},
            f"[{label}] ClusterRoles metal-mesh:gardener-webhooks:viewer and :editor: create /v1/default/shoot, /v1/render/ignition, /v1/validate/shoot; get /metrics")
    C.check(all(not has_wildcard(d["rules"]) for d in docs if d["kind"] == "ClusterRole"), f"[{label}] no wildcard in any rule")


def gw_roles(docs: list[dict[str, Any]]) -> dict[str, set[tuple[str, ...]]]:
    """gardener-webhooks' own ClusterRoles (not the access roles) as permission sets, and checks
    that each is bound to its ServiceAccount."""
    out = {}
    for d in docs:
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] in (GW_GARDEN_ROLE, GW_SEED_ROLE, GW_OS_ROLE, GW_EXT_ROLE):
            out[d["metadata"]["name"]] = rule_perms(d["rules"])
            crb = one(docs, "ClusterRoleBinding", d["metadata"]["name"])
            C.check(crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": d["metadata"]["name"]}
                    and crb["subjects"] == [{"kind": "ServiceAccount", "name": GW_NAME, "namespace": NAMESPACE}],
                    f"ClusterRoleBinding {d['metadata']['name']}: binds its ClusterRole to the ServiceAccount {GW_NAME}")
    return out


def check_gw_garden(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = gw_values(garden=True)
    lint(chart_dir, values, "gardener-webhooks garden", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "gardener-webhooks garden", kv)
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    C.check(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs) == sorted([
        f"Deployment/{GW_NAME}", f"Service/{GW_NAME}", f"ServiceAccount/{GW_NAME}", f"NetworkPolicy/{GW_NAME}",
        f"PodDisruptionBudget/{GW_NAME}", f"ClusterRole/{GW_GARDEN_ROLE}", f"ClusterRoleBinding/{GW_GARDEN_ROLE}",
        f"ClusterRoleBinding/{GW_NAME}-auth-delegator", f"ValidatingWebhookConfiguration/{GW_NAME}",
        f"MutatingWebhookConfiguration/{GW_NAME}", f"Secret/{CA_NAME}", f"Secret/{GW_NAME}-tls",
        "ClusterRole/metal-mesh:gardener-webhooks:editor", "ClusterRole/metal-mesh:gardener-webhooks:viewer"]),
        "[garden] exactly: Deployment, Service, ServiceAccount, NetworkPolicy, PDB, the garden ClusterRole and binding, "
        "auth-delegator binding, Validating- and MutatingWebhookConfiguration, CA and serving Secret, access ClusterRoles")
    args = gw_container(docs)["args"]
    want = gw_args("validator,secrets-validator,mutator")
    if args != want:
        print(f"        got: {args}")
    C.check(args == want, f"[garden] args exactly: {' '.join(want)}")
    C.check("env" not in gw_container(docs), "[garden] no garden.defaults: no env at all (the binary's defaults)")
    check_gw_common(docs, "garden", image)
    check_gw_configs(docs, "garden", ["validator", "secrets-validator"], ["mutator"])
    check_gw_ca_bundle_self_signed(docs, "garden")
    perms = gw_roles(docs)
    C.check(perms == {GW_GARDEN_ROLE: GW_GARDEN_PERMS},
            "[garden] RBAC exactly: core.gardener.cloud cloudprofiles, namespacedcloudprofiles get/list/watch; secrets get (no seed role)")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    for needle in [f"Deployment {GW_NAME}", "--webhooks validator,secrets-validator,mutator", "/webhooks/validate/secrets",
                   f"{GW_NAME}-tls", "/v1/validate/shoot", "metal-mesh:gardener-webhooks:viewer"]:
        C.check(needle in notes, f"[garden] NOTES mention {needle!r}")


def check_gw_seed(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = gw_values(seed=True)
    lint(chart_dir, values, "gardener-webhooks seed", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "gardener-webhooks seed", kv)
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    C.check(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["kind"] not in ("Secret",) and not is_access_role(d)) == sorted([
        f"Deployment/{GW_NAME}", f"Service/{GW_NAME}", f"ServiceAccount/{GW_NAME}", f"NetworkPolicy/{GW_NAME}",
        f"PodDisruptionBudget/{GW_NAME}", f"ClusterRole/{GW_SEED_ROLE}", f"ClusterRoleBinding/{GW_SEED_ROLE}",
        f"ClusterRoleBinding/{GW_NAME}-auth-delegator", f"MutatingWebhookConfiguration/{GW_NAME}"]),
        "[seed] exactly: Deployment, Service, ServiceAccount, NetworkPolicy, PDB, the seed ClusterRole and binding, "
        "auth-delegator binding, MutatingWebhookConfiguration (no validating one, no shoot one without shootWebhookURL)")
    args = gw_container(docs)["args"]
    want = gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(image))
    if args != want:
        print(f"        got: {args}")
    C.check(args == want, f"[seed] args exactly: {' '.join(want)}")
    check_gw_common(docs, "seed", image)
    check_gw_configs(docs, "seed", [], ["controlplane", "seedprovider"])
    check_gw_ca_bundle_self_signed(docs, "seed")
    C.check(gw_roles(docs) == {GW_SEED_ROLE: GW_SEED_PERMS},
            "[seed] RBAC exactly: extensions.gardener.cloud clusters get/list/watch; secrets get (no garden role)")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check("gardenerWebhooks.seed.shootWebhookURL" in notes, "[seed] NOTES say how to render the shoot webhook's configuration")

    # The shoot webhook's configuration, for the shoots: by URL.
    url = f"https://{GW_NAME}.{NAMESPACE}.svc:443"
    for given in (url, url + "/"):
        values = gw_values(seed={"shootWebhookURL": given})
        lint(chart_dir, values, f"seed, shootWebhookURL {given}", kv[-1:])
        rendered = render(chart, values)
        docs = docs_of(rendered)
        validate(docs, f"seed, shootWebhookURL {given}", kv)
        check_gw_configs(docs, f"seed, shootWebhookURL {given}", [], ["controlplane", "seedprovider"],
                         shoot={"url": f"{url}/webhooks/shoot"})
        check_gw_ca_bundle_self_signed(docs, f"seed, shootWebhookURL {given}")
    shoot = webhook_configs(docs)[("MutatingWebhookConfiguration", GW_SHOOT_CONFIG)]["webhooks"][0]["clientConfig"]
    C.check("service" not in shoot and shoot["url"] == f"{url}/webhooks/shoot",
            "[shoot webhook] clientConfig.url = shootWebhookURL (trailing slash dropped) + /webhooks/shoot, no service reference")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check(f"helm get manifest {RELEASE} -n {NAMESPACE} | kubectl --kubeconfig <shoot kubeconfig> apply -l metal-mesh/webhook-target=shoot -f -" in notes,
            "[shoot webhook] NOTES: how to apply it in a shoot (helm get manifest | kubectl apply -l metal-mesh/webhook-target=shoot)")
    docs = docs_of(render(chart, gw_values(seed={"shootWebhookURL": url, "shootWebhookFailurePolicy": "Ignore"})))
    check_gw_configs(docs, "shootWebhookFailurePolicy Ignore", [], ["controlplane", "seedprovider"],
                     shoot={"url": f"{url}/webhooks/shoot", "failure": "Ignore"})

    # Every seed and runtime flag from values.
    values = gw_values(seed={"machineControllerManagerImage": "registry.example.com/metal-mesh:9.9.9",
                                        "etcd": {"storageClassName": "csi-driver-lvm-mirror", "storageCapacity": "25Gi",
                                                 "backupSchedule": "0 */12 * * *", "backupDeltaSnapshotPeriod": "5m",
                                                 "evictionAllowed": True}},
                       webhooksRequireAuth=True, logFormat="json", logLevel="debug", otlpEndpoint="http://otel:4317",
                       shutdownTimeout="20s", listenAddress="::", port=8443, service={"port": 9443},
                       extraArgs=["--kubeconfig", "/etc/x"], extraEnv=[{"name": "RUST_LOG", "value": "debug"}])
    values["image"] = {"repository": "registry.example.com/metal-mesh", "tag": "1.2.3"}
    lint(chart_dir, values, "seed, every flag", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "seed, every flag", kv[-1:])
    c = gw_container(docs)
    want = gw_args("controlplane,seedprovider,shoot", listen="[::]:8443", require_auth=True,
                   runtime=["--log-format", "json", "--log-level", "debug", "--otlp-endpoint", "http://otel:4317", "--shutdown-timeout", "20s"],
                   seed=["--machine-controller-manager-image", "registry.example.com/metal-mesh:9.9.9",
                         "--etcd-storage-class-name", "csi-driver-lvm-mirror", "--etcd-storage-capacity", "25Gi",
                         "--etcd-backup-schedule", "0 */12 * * *", "--etcd-backup-delta-snapshot-period", "5m", "--etcd-eviction-allowed"],
                   extra=["--kubeconfig", "/etc/x"])
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[seed, every flag] args exactly: {' '.join(want)}")
    C.check(c["image"] == "registry.example.com/metal-mesh:1.2.3" and c.get("env") == [{"name": "RUST_LOG", "value": "debug"}]
            and {p["name"]: p["containerPort"] for p in c["ports"]} == {"https": 8443},
            "[seed, every flag] the shared image; extraEnv only (no DEFAULTER_* without garden); container port https 8443")
    check_gw_configs(docs, "seed, every flag", [], ["controlplane", "seedprovider"], port=9443)
    C.check(one(docs, "NetworkPolicy", GW_NAME)["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8443}],
            "[seed, every flag] the NetworkPolicy follows port (8443)")
    docs = docs_of(render(chart, gw_values(seed={"etcd": {"storageCapacity": ""}})))
    C.check(gw_container(docs)["args"] == gw_args("controlplane,seedprovider,shoot",
                                                  seed=["--machine-controller-manager-image", image]),
            "[seed] storageCapacity empty: no --etcd-storage-capacity (the binary's 16Gi)")


def gw_os_args(ignition: str = "2.3.0", workers: str = "5", leader_elect: bool = True) -> list[str]:
    """The OperatingSystemConfig controller's flags (seed.osController), after the seed flags;
    --leader-elect comes last, after the extension controllers' flags if any."""
    return ["--os-controller", "--ignition-version", ignition, "--os-controller-workers", workers] + (["--leader-elect"] if leader_elect else [])


def check_gw_lease_role(docs: list[dict[str, Any]], label: str, leases: tuple[str, ...] = (GW_LEASE,)) -> None:
    """The Lease Role of the controllers' leader election: exactly its rules (get/update of the
    Leases of the controllers that run), in the release namespace, bound to the ServiceAccount."""
    role = one(docs, "Role", GW_LEASE_ROLE)
    rb = one(docs, "RoleBinding", GW_LEASE_ROLE)
    want = gw_lease_rules(*leases)
    if role["rules"] != want:
        print(f"        got: {json.dumps(role['rules'])}")
    C.check(role["rules"] == want and role["metadata"]["namespace"] == NAMESPACE,
            f"[{label}] Role {NAMESPACE}/{GW_LEASE_ROLE} exactly: coordination.k8s.io leases create; get/update of {', '.join(leases)} only")
    C.check(rb["metadata"]["namespace"] == NAMESPACE
            and rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": GW_LEASE_ROLE}
            and rb["subjects"] == [{"kind": "ServiceAccount", "name": GW_NAME, "namespace": NAMESPACE}],
            f"[{label}] RoleBinding {NAMESPACE}/{GW_LEASE_ROLE}: binds the Lease Role to the ServiceAccount {GW_NAME}")


def check_gw_os_controller(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    # On, with the defaults.
    values = gw_values(seed={"osController": {"enabled": True}})
    lint(chart_dir, values, "gardener-webhooks seed.osController", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "gardener-webhooks seed.osController", kv)
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    C.check(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["kind"] not in ("Secret",) and not is_access_role(d)) == sorted([
        f"Deployment/{GW_NAME}", f"Service/{GW_NAME}", f"ServiceAccount/{GW_NAME}", f"NetworkPolicy/{GW_NAME}",
        f"PodDisruptionBudget/{GW_NAME}", f"ClusterRole/{GW_SEED_ROLE}", f"ClusterRoleBinding/{GW_SEED_ROLE}",
        f"ClusterRole/{GW_OS_ROLE}", f"ClusterRoleBinding/{GW_OS_ROLE}", f"Role/{GW_LEASE_ROLE}", f"RoleBinding/{GW_LEASE_ROLE}",
        f"ClusterRoleBinding/{GW_NAME}-auth-delegator", f"MutatingWebhookConfiguration/{GW_NAME}"]),
        "[osController] exactly the seed objects plus the os-controller ClusterRole and binding and the Lease Role and RoleBinding")
    c = gw_container(docs)
    want = gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(image) + gw_os_args())
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[osController] args exactly: {' '.join(want)}")
    if c.get("env") != GW_DOWNWARD_ENV:
        print(f"        got: {c.get('env')}")
    C.check(c.get("env") == GW_DOWNWARD_ENV,
            "[osController] env exactly POD_NAME (metadata.name) and POD_NAMESPACE (metadata.namespace) from the downward API")
    C.check(one(docs, "Deployment", GW_NAME)["spec"]["replicas"] == 2 and one(docs, "PodDisruptionBudget", GW_NAME)["spec"]["maxUnavailable"] == 1,
            "[osController] still 2 replicas and the PodDisruptionBudget: every replica serves the webhooks, one leads the controller")
    check_gw_common(docs, "osController", image)
    check_gw_configs(docs, "osController", [], ["controlplane", "seedprovider"])
    C.check(gw_roles(docs) == {GW_SEED_ROLE: GW_SEED_PERMS, GW_OS_ROLE: GW_OS_PERMS},
            "[osController] RBAC exactly: the seed ClusterRole and the os-controller ClusterRole, each bound to the ServiceAccount")
    rules = one(docs, "ClusterRole", GW_OS_ROLE)["rules"]
    if rules != GW_OS_RULES:
        print(f"        got: {json.dumps(rules)}")
    C.check(rules == GW_OS_RULES,
            "[osController] ClusterRole rules exactly: operatingsystemconfigs get/list/watch/patch/update; operatingsystemconfigs/status "
            "get/patch/update; secrets get/list/watch/create/update/patch; events and events.k8s.io events create/patch")
    check_gw_lease_role(docs, "osController")
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    C.check(f"kubectl -n {NAMESPACE} get lease {GW_LEASE}" in notes, f"[osController] NOTES: how to see the leader (the Lease {GW_LEASE})")

    # Every setting, next to garden and an extraEnv that sets POD_NAME itself.
    values = gw_values(garden={"defaults": {"maxPods": 110}}, seed={"osController": {"enabled": True, "ignitionVersion": "3.4.0", "workers": 12}},
                       replicas=3, extraEnv=[{"name": "POD_NAME", "value": "fixed"}, {"name": "RUST_LOG", "value": "debug"}])
    lint(chart_dir, values, "seed.osController, every setting", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "seed.osController, every setting", kv)
    c = gw_container(docs)
    want = gw_args("validator,secrets-validator,mutator,controlplane,seedprovider,shoot", seed=gw_seed_args(image) + gw_os_args("3.4.0", "12"))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[osController, every setting] args exactly: {' '.join(want)}")
    want_env = [GW_DOWNWARD_ENV[1], {"name": "DEFAULTER_MAXPODS", "value": "110"}, {"name": "POD_NAME", "value": "fixed"},
                {"name": "RUST_LOG", "value": "debug"}]
    if c.get("env") != want_env:
        print(f"        got: {c.get('env')}")
    C.check(c.get("env") == want_env,
            "[osController, extraEnv sets POD_NAME] env exactly: POD_NAMESPACE (downward API), DEFAULTER_*, then extraEnv; no second POD_NAME")
    C.check(one(docs, "Deployment", GW_NAME)["spec"]["replicas"] == 3
            and gw_roles(docs) == {GW_GARDEN_ROLE: GW_GARDEN_PERMS, GW_SEED_ROLE: GW_SEED_PERMS, GW_OS_ROLE: GW_OS_PERMS},
            "[osController + garden, 3 replicas] RBAC exactly: the garden, seed and os-controller ClusterRoles")
    check_gw_lease_role(docs, "osController + garden")

    # Off (the default, and explicitly with other settings): nothing of the controller, settings unchecked.
    for what, seed in [("default", True), ("enabled: false, other settings", {"osController": {"enabled": False, "ignitionVersion": "3.4.0", "workers": 0}})]:
        docs = docs_of(render(chart, gw_values(seed=seed)))
        c = gw_container(docs)
        C.check(c["args"] == gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(image)) and "env" not in c
                and not any(d["kind"] in ("Role", "RoleBinding") for d in gw_docs(docs)) and gw_roles(docs) == {GW_SEED_ROLE: GW_SEED_PERMS},
                f"[osController off ({what})] no --os-controller/--leader-elect, no env, no os-controller ClusterRole, no Lease Role")

    cases = [
        ("osController without seed (garden only)", gw_values(garden=True, seed={"enabled": False, "osController": {"enabled": True}}),
         "gardenerWebhooks.seed.osController.enabled needs gardenerWebhooks.seed.enabled: the OperatingSystemConfig controller runs in a seed cluster"),
        ("osController without garden or seed", {"gardenerWebhooks": {"seed": {"osController": {"enabled": True}}}},
         "gardenerWebhooks.seed.osController.enabled needs gardenerWebhooks.seed.enabled"),
        ("ignitionVersion 3.0.0", gw_values(seed={"osController": {"enabled": True, "ignitionVersion": "3.0.0"}}),
         'gardenerWebhooks.seed.osController.ignitionVersion must be 2.3.0 or 3.4.0, not "3.0.0"'),
        ("ignitionVersion empty", gw_values(seed={"osController": {"enabled": True, "ignitionVersion": ""}}),
         'gardenerWebhooks.seed.osController.ignitionVersion must be 2.3.0 or 3.4.0, not ""'),
        ("workers 0", gw_values(seed={"osController": {"enabled": True, "workers": 0}}),
         "gardenerWebhooks.seed.osController.workers must be a whole number >= 1 (at most 65535), not 0"),
        ("workers 1.5", gw_values(seed={"osController": {"enabled": True, "workers": 1.5}}),
         "gardenerWebhooks.seed.osController.workers must be a whole number >= 1 (at most 65535), not 1.5"),
        ("workers many", gw_values(seed={"osController": {"enabled": True, "workers": "many"}}),
         "gardenerWebhooks.seed.osController.workers must be a whole number >= 1 (at most 65535), not many"),
        ("workers 70000", gw_values(seed={"osController": {"enabled": True, "workers": 70000}}),
         "gardenerWebhooks.seed.osController.workers must be a whole number >= 1 (at most 65535), not 70000"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"gardener-webhooks {what}: rendering fails with {message!r}")


def gw_ext_args(image: str, workers: str = "5", images: list[str] | None = None, prefixes: list[str] | None = None,
                timeout: str | None = "30s", ca: bool = False, leader_elect: bool = True) -> list[str]:
    """The extension controllers' flags (seed.extensions), after the seed (and OS controller)
    flags, then --leader-elect."""
    args = ["--extensions", "--extension-workers", workers]
    for i in images or []:
        args += ["--machine-image", i]
    for p in prefixes or []:
        args += ["--firewall-internal-prefix", p]
    if timeout is not None:
        args += ["--metal-api-timeout", timeout]
    if ca:
        args += ["--metal-api-ca-file", "/etc/metal-mesh/metal-api-ca/ca.crt"]
    return args + ["--control-plane-image", image] + (["--leader-elect"] if leader_elect else [])


def gw_ext_values(ext: dict[str, Any] | None = None, seed: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """gardener-webhooks in a seed with seed.extensions on (plus ext settings)."""
    return gw_values(seed=deep_merge({"extensions": dict({"enabled": True}, **(ext or {}))}, seed or {}), **kw)


def gw_ca_mount(docs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The metal-api CA volume and its mount in gardener-webhooks' pod (None when absent)."""
    pod = one(docs, "Deployment", GW_NAME)["spec"]["template"]["spec"]
    vol = next((v for v in pod["volumes"] if v["name"] == "metal-api-ca"), None)
    mount = next((m for m in gw_container(docs)["volumeMounts"] if m["name"] == "metal-api-ca"), None)
    return vol, mount


def check_gw_extensions(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    seed_objects = [f"Deployment/{GW_NAME}", f"Service/{GW_NAME}", f"ServiceAccount/{GW_NAME}", f"NetworkPolicy/{GW_NAME}",
                    f"PodDisruptionBudget/{GW_NAME}", f"ClusterRole/{GW_SEED_ROLE}", f"ClusterRoleBinding/{GW_SEED_ROLE}",
                    f"ClusterRoleBinding/{GW_NAME}-auth-delegator", f"MutatingWebhookConfiguration/{GW_NAME}"]

    # Off (the default, explicitly with other settings, and with garden only): nothing of the
    # controllers, their settings unchecked.
    off_settings = {"enabled": False, "workers": 0, "machineImages": [{"name": ""}], "firewallInternalPrefixes": ["nope"],
                    "metalApiTimeout": "soon", "metalApiCA": "not PEM", "controlPlaneImage": "x y"}
    for what, values in [("default", gw_values(seed=True)), ("enabled: false, bad other settings", gw_values(seed={"extensions": off_settings})),
                         ("garden only, extensions values set", gw_values(garden=True, seed={"enabled": False, "extensions": off_settings}))]:
        rendered = render(chart, values)
        docs = docs_of(rendered)
        args = gw_container(docs)["args"]
        C.check(not any(a in args for a in ("--extensions", "--extension-workers", "--machine-image", "--firewall-internal-prefix",
                                           "--metal-api-timeout", "--metal-api-ca-file", "--control-plane-image", "--leader-elect"))
                and "env" not in gw_container(docs) and GW_EXT_ROLE not in gw_roles(docs)
                and not any(d["kind"] in ("Role", "RoleBinding", "ConfigMap") for d in gw_docs(docs))
                and gw_ca_mount(docs) == (None, None) and "annotations" not in one(docs, "Deployment", GW_NAME)["spec"]["template"]["metadata"],
                f"[extensions off ({what})] no extension flags, no --leader-elect, no env, no extensions ClusterRole, no Lease Role, "
                "no metal-api CA ConfigMap or mount")
    docs = docs_of(render(chart, gw_values(seed=True)))
    C.check(gw_container(docs)["args"] == gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(image)),
            "[extensions off (default)] args exactly the seed's")

    # On, with the defaults.
    values = gw_ext_values()
    lint(chart_dir, values, "gardener-webhooks seed.extensions", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "gardener-webhooks seed.extensions", kv)
    C.check(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["kind"] not in ("Secret",) and not is_access_role(d)) == sorted(
        seed_objects + [f"ClusterRole/{GW_EXT_ROLE}", f"ClusterRoleBinding/{GW_EXT_ROLE}", f"Role/{GW_LEASE_ROLE}", f"RoleBinding/{GW_LEASE_ROLE}"]),
        "[extensions] exactly the seed objects plus the extensions ClusterRole and binding and the Lease Role and RoleBinding (no CA ConfigMap)")
    c = gw_container(docs)
    want = gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(image) + gw_ext_args(image))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[extensions] args exactly: {' '.join(want)}")
    if c.get("env") != GW_DOWNWARD_ENV:
        print(f"        got: {c.get('env')}")
    C.check(c.get("env") == GW_DOWNWARD_ENV,
            "[extensions] env exactly POD_NAME (metadata.name) and POD_NAMESPACE (metadata.namespace) from the downward API")
    C.check(one(docs, "Deployment", GW_NAME)["spec"]["replicas"] == 2 and gw_ca_mount(docs) == (None, None),
            "[extensions] still 2 replicas (one leads the controllers); no metal-api CA volume without metalApiCA")
    check_gw_common(docs, "extensions", image)
    check_gw_configs(docs, "extensions", [], ["controlplane", "seedprovider"])
    C.check(gw_roles(docs) == {GW_SEED_ROLE: GW_SEED_PERMS, GW_EXT_ROLE: GW_EXT_PERMS},
            "[extensions] RBAC exactly: the seed ClusterRole and the extensions ClusterRole, each bound to the ServiceAccount")
    rules = one(docs, "ClusterRole", GW_EXT_ROLE)["rules"]
    if rules != GW_EXT_RULES:
        print(f"        got: {json.dumps(rules)}")
    C.check(rules == GW_EXT_RULES,
            "[extensions] ClusterRole rules exactly: infrastructures/controlplanes/workers get/list/watch/patch/update, their status "
            "get/patch/update; clusters, operatingsystemconfigs, dnsrecords get/list/watch; secrets, configmaps, machineclasses, machinedeployments, "
            "firewalldeployments, managedresources get/list/watch/create/update/patch/delete; machines, machinesets, firewalls, "
            "deployments, nodes get/list/watch; mutating/validatingwebhookconfigurations get/delete; events create/patch")
    C.check(one(docs, "ClusterRole", GW_EXT_ROLE)["metadata"]["labels"].get("app.kubernetes.io/component") == "gardener-webhooks",
            "[extensions] the extensions ClusterRole carries gardener-webhooks' labels")
    check_gw_lease_role(docs, "extensions", (GW_EXT_LEASE,))

    # Every setting, next to the OS controller, garden, podAnnotations and an extraEnv that sets
    # POD_NAMESPACE itself.
    pem = some_ca_pem(chart).decode()
    ext = {"workers": 12,
           "machineImages": [{"name": "ubuntu", "version": "24.4.20240503", "image": "ubuntu-24.04"},
                             {"name": "firewall-ubuntu", "version": "3.0.20240101", "image": "firewall-ubuntu-3.0"},
                             {"name": "debian", "version": "12.0.20240101", "image": "debian-12=x:y"}],
           "firewallInternalPrefixes": ["10.0.0.0/8", "172.16.0.0/12", "fd00::/8"],
           "metalApiTimeout": "1m30s", "metalApiCA": pem, "controlPlaneImage": "registry.example.com/metal-mesh@sha256:" + "ab" * 32}
    values = gw_ext_values(ext, seed={"osController": {"enabled": True, "ignitionVersion": "3.4.0", "workers": 7}}, garden=True,
                           podAnnotations={"example.com/a": "b"},
                           extraEnv=[{"name": "POD_NAMESPACE", "value": "fixed"}, {"name": "RUST_LOG", "value": "debug"}])
    lint(chart_dir, values, "seed.extensions, every setting", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "seed.extensions, every setting", kv)
    c = gw_container(docs)
    want = gw_args("validator,secrets-validator,mutator,controlplane,seedprovider,shoot",
                   seed=gw_seed_args(image) + gw_os_args("3.4.0", "7", leader_elect=False)
                   + gw_ext_args(ext["controlPlaneImage"], "12",
                                 images=["ubuntu:24.4.20240503=ubuntu-24.04", "firewall-ubuntu:3.0.20240101=firewall-ubuntu-3.0",
                                         "debian:12.0.20240101=debian-12=x:y"],
                                 prefixes=["10.0.0.0/8", "172.16.0.0/12", "fd00::/8"], timeout="1m30s", ca=True))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[extensions + osController, every setting] args exactly (one --leader-elect): {' '.join(want)}")
    C.check(c["args"].count("--leader-elect") == 1, "[extensions + osController] --leader-elect once for both controllers")
    want_env = [GW_DOWNWARD_ENV[0], {"name": "POD_NAMESPACE", "value": "fixed"}, {"name": "RUST_LOG", "value": "debug"}]
    got_env = [e for e in c.get("env", []) if not e["name"].startswith("DEFAULTER_")]
    if got_env != want_env:
        print(f"        got: {c.get('env')}")
    C.check(got_env == want_env,
            "[extensions, extraEnv sets POD_NAMESPACE] env: POD_NAME (downward API), then extraEnv; no second POD_NAMESPACE")
    C.check(gw_roles(docs) == {GW_GARDEN_ROLE: GW_GARDEN_PERMS, GW_SEED_ROLE: GW_SEED_PERMS, GW_OS_ROLE: GW_OS_PERMS, GW_EXT_ROLE: GW_EXT_PERMS},
            "[extensions + osController + garden] RBAC exactly: the garden, seed, os-controller and extensions ClusterRoles")
    check_gw_lease_role(docs, "extensions + osController", (GW_LEASE, GW_EXT_LEASE))
    cm = one(docs, "ConfigMap", GW_EXT_CA)
    C.check(cm["metadata"]["namespace"] == NAMESPACE and cm["data"] == {"ca.crt": pem}
            and cm["metadata"]["labels"].get("app.kubernetes.io/component") == "gardener-webhooks",
            f"[extensions, metalApiCA] ConfigMap {NAMESPACE}/{GW_EXT_CA}: exactly ca.crt = the given PEM")
    vol, mount = gw_ca_mount(docs)
    C.check(vol == {"name": "metal-api-ca", "configMap": {"name": GW_EXT_CA, "defaultMode": 0o444, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
            and mount == {"name": "metal-api-ca", "mountPath": "/etc/metal-mesh/metal-api-ca", "readOnly": True},
            "[extensions, metalApiCA] the ConfigMap's ca.crt mounted read-only at /etc/metal-mesh/metal-api-ca (= --metal-api-ca-file's directory)")
    import hashlib
    ann = one(docs, "Deployment", GW_NAME)["spec"]["template"]["metadata"].get("annotations", {})
    C.check(ann == {"checksum/metal-api-ca": hashlib.sha256(pem.strip().encode()).hexdigest(), "example.com/a": "b"},
            "[extensions, metalApiCA] pod annotations: checksum/metal-api-ca (a new CA rolls the pods) and podAnnotations")

    # controlPlaneImage empty: the chart's image of the release (as the services get it), by digest too.
    for img, ref in [({"repository": "registry.example.com/metal-mesh", "tag": "1.2.3"}, "registry.example.com/metal-mesh:1.2.3"),
                     ({"repository": "registry.example.com/metal-mesh", "digest": "sha256:" + "cd" * 32},
                      "registry.example.com/metal-mesh@sha256:" + "cd" * 32)]:
        values = gw_ext_values({"metalApiTimeout": "", "controlPlaneImage": "  "})
        values["image"] = img
        docs = docs_of(render(chart, values))
        c = gw_container(docs)
        want = gw_args("controlplane,seedprovider,shoot", seed=gw_seed_args(ref) + gw_ext_args(ref, timeout=None))
        if c["args"] != want:
            print(f"        got: {c['args']}")
        C.check(c["args"] == want and c["image"] == ref,
                f"[extensions, controlPlaneImage empty, image {ref}] --control-plane-image is the pod's own image; "
                "metalApiTimeout empty: no --metal-api-timeout (the binary's 30s)")

    # firewall-controller-manager: the binary's pinned image by default, another image, or
    # none; the seed's API server URL when given.
    for fcm, seed_url, tail in [
            ({}, "", []),
            ({"image": "registry.example.com/fcm:v1"}, "https://seed.example.com",
             ["--firewall-controller-manager-image", "registry.example.com/fcm:v1", "--seed-api-url", "https://seed.example.com"]),
            ({"enabled": False, "image": "ignored"}, "", ["--firewall-controller-manager-image", ""])]:
        values = gw_ext_values({"firewallControllerManager": fcm, "seedApiUrl": seed_url})
        args = gw_container(docs_of(render(chart, values)))["args"]
        start = args.index("--control-plane-image") + 2
        got, rest = args[start:start + len(tail)], args[start + len(tail):]
        if got != tail:
            print(f"        got: {args}")
        C.check(got == tail and not {"--firewall-controller-manager-image", "--seed-api-url"} & set(rest),
                f"[extensions, firewallControllerManager {fcm}, seedApiUrl {seed_url!r}] after --control-plane-image: {tail}")

    # Bad values fail the render with a message naming the value.
    def ext_err(**e: Any) -> dict[str, Any]:
        return gw_ext_values(e)
    mi = "gardenerWebhooks.seed.extensions.machineImages"
    fp = "gardenerWebhooks.seed.extensions.firewallInternalPrefixes"
    cases = [
        ("extensions without seed (garden only)", gw_values(garden=True, seed={"enabled": False, "extensions": {"enabled": True}}),
         "gardenerWebhooks.seed.extensions.enabled needs gardenerWebhooks.seed.enabled: the extension controllers of provider metal"),
        ("extensions without garden or seed", {"gardenerWebhooks": {"seed": {"extensions": {"enabled": True}}}},
         "gardenerWebhooks.seed.extensions.enabled needs gardenerWebhooks.seed.enabled"),
        ("workers 0", ext_err(workers=0), "gardenerWebhooks.seed.extensions.workers must be a whole number >= 1 (at most 65535), not 0"),
        ("workers 2.5", ext_err(workers=2.5), "gardenerWebhooks.seed.extensions.workers must be a whole number >= 1 (at most 65535), not 2.5"),
        ("workers many", ext_err(workers="many"), "gardenerWebhooks.seed.extensions.workers must be a whole number >= 1 (at most 65535), not many"),
        ("workers 70000", ext_err(workers=70000), "gardenerWebhooks.seed.extensions.workers must be a whole number >= 1 (at most 65535), not 70000"),
        ("machine image without name", ext_err(machineImages=[{"name": "", "version": "1", "image": "x"}]),
         f"{mi}[0].name must not be empty: every machine image needs a name, a version and the metal-api image (--machine-image NAME:VERSION=IMAGE)"),
        ("machine image with a blank version", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04", "image": "x"},
                                                                     {"name": "ubuntu", "version": " ", "image": "x"}]),
         f"{mi}[1].version must not be empty"),
        ("machine image without image", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04", "image": ""}]),
         f"{mi}[0].image must not be empty"),
        ("machine image missing the image field", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04"}]),
         f"{mi}[0].image must not be empty"),
        ("machine image field a map", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04", "image": {"a": 1}}]),
         f"{mi}[0].image must not be empty"),
        ("machine image unknown field", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04", "image": "x", "arch": "amd64"}]),
         f"{mi}[0].arch is not a machine image field: the fields are name, version and image"),
        ("machine image name with ':'", ext_err(machineImages=[{"name": "ubuntu:24", "version": "04", "image": "x"}]),
         f"{mi}[0].name must not contain ':' or '=' (--machine-image NAME:VERSION=IMAGE), not \"ubuntu:24\""),
        ("machine image version with '='", ext_err(machineImages=[{"name": "ubuntu", "version": "24=04", "image": "x"}]),
         f"{mi}[0].version must not contain '=' (--machine-image NAME:VERSION=IMAGE), not \"24=04\""),
        ("machine image twice", ext_err(machineImages=[{"name": "ubuntu", "version": "24.04", "image": "x"},
                                                       {"name": "ubuntu", "version": "24.04", "image": "y"}]),
         f"{mi}[1]: ubuntu:24.04 is given twice; each name and version maps to one image"),
        ("machine image a string", ext_err(machineImages=["ubuntu:24.04=x"]), f"{mi}[0] must be a map {{name, version, image}}, not ubuntu:24.04=x"),
        ("machineImages a map", ext_err(machineImages={"name": "ubuntu"}), f"{mi} must be a list of {{name, version, image}}"),
        ("prefix without length", ext_err(firewallInternalPrefixes=["10.0.0.0"]),
         f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"10.0.0.0\""),
        ("prefix octet 300", ext_err(firewallInternalPrefixes=["10.0.0.0/8", "300.0.0.0/8"]),
         f"{fp}[1] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"300.0.0.0/8\""),
        ("prefix with a leading zero", ext_err(firewallInternalPrefixes=["10.01.0.0/16"]),
         f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"10.01.0.0/16\""),
        ("prefix /33", ext_err(firewallInternalPrefixes=["10.0.0.0/33"]), f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"10.0.0.0/33\""),
        ("IPv6 prefix /129", ext_err(firewallInternalPrefixes=["fd00::/129"]), f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"fd00::/129\""),
        ("prefix a word", ext_err(firewallInternalPrefixes=["internal"]), f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"internal\""),
        ("prefix empty", ext_err(firewallInternalPrefixes=[""]), f"{fp}[0] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not \"\""),
        ("prefixes a string", ext_err(firewallInternalPrefixes="10.0.0.0/8"), f"{fp} must be a list of CIDRs, e.g. [10.0.0.0/8]"),
        ("metalApiTimeout without unit", ext_err(metalApiTimeout="30"),
         'gardenerWebhooks.seed.extensions.metalApiTimeout must be a duration above zero (e.g. 30s or 1m30s), not "30"'),
        ("metalApiTimeout 0s", ext_err(metalApiTimeout="0s"),
         'gardenerWebhooks.seed.extensions.metalApiTimeout must be a duration above zero (e.g. 30s or 1m30s), not "0s"'),
        ("metalApiTimeout soon", ext_err(metalApiTimeout="soon"),
         'gardenerWebhooks.seed.extensions.metalApiTimeout must be a duration above zero (e.g. 30s or 1m30s), not "soon"'),
        ("metalApiCA not PEM", ext_err(metalApiCA="not a certificate"),
         "gardenerWebhooks.seed.extensions.metalApiCA must be PEM: one or more -----BEGIN CERTIFICATE----- blocks"),
        ("controlPlaneImage with a space", ext_err(controlPlaneImage="metal-mesh 1.0"),
         'gardenerWebhooks.seed.extensions.controlPlaneImage must be an image reference without spaces, not "metal-mesh 1.0"'),
        ("controlPlaneImage a map", ext_err(controlPlaneImage={"repository": "x"}),
         "gardenerWebhooks.seed.extensions.controlPlaneImage must be an image reference (a string; empty: the chart's image)"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is None or message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"gardener-webhooks seed.extensions {what}: rendering fails with {message!r}")


def check_gw_both(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = gw_values(garden=True, seed={"shootWebhookURL": f"https://{GW_NAME}.{NAMESPACE}.svc"})
    lint(chart_dir, values, "gardener-webhooks garden and seed", kv)
    docs = docs_of(render(chart, values))
    validate(docs, "gardener-webhooks garden and seed", kv)
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    C.check(len([d for d in docs if d["kind"] == "Deployment"]) == 1, "[garden+seed] ONE Deployment serves both")
    args = gw_container(docs)["args"]
    want = gw_args("validator,secrets-validator,mutator,controlplane,seedprovider,shoot", seed=gw_seed_args(image))
    if args != want:
        print(f"        got: {args}")
    C.check(args == want, f"[garden+seed] args exactly: {' '.join(want)}")
    check_gw_common(docs, "garden+seed", image)
    check_gw_configs(docs, "garden+seed", ["validator", "secrets-validator"], ["mutator", "controlplane", "seedprovider"],
                     shoot={"url": f"https://{GW_NAME}.{NAMESPACE}.svc/webhooks/shoot"})
    check_gw_ca_bundle_self_signed(docs, "garden+seed")
    C.check(gw_roles(docs) == {GW_GARDEN_ROLE: GW_GARDEN_PERMS, GW_SEED_ROLE: GW_SEED_PERMS},
            "[garden+seed] RBAC exactly: the garden and the seed ClusterRole, each bound to the ServiceAccount")
    # Next to every other service: one CA signs all, the webhooks trust exactly it.
    docs = docs_of(render(chart, all_services()))
    check_gw_ca_bundle_self_signed(docs, "all services")
    # Replicas and the PodDisruptionBudget.
    docs = docs_of(render(chart, gw_values(garden=True, replicas=1)))
    C.check(one(docs, "Deployment", GW_NAME)["spec"]["replicas"] == 1 and not any(d["kind"] == "PodDisruptionBudget" for d in docs),
            "replicas 1: no PodDisruptionBudget (it would block every drain)")
    docs = docs_of(render(chart, gw_values(garden=True, podDisruptionBudget={"enabled": False})))
    C.check(not any(d["kind"] == "PodDisruptionBudget" for d in docs), "podDisruptionBudget.enabled=false: no PodDisruptionBudget")
    # With networkPolicy.from the kube-apiservers must be admitted: networkPolicy.extraFrom.
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    apiservers = [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    docs = docs_of(render(chart, deep_merge(gw_values(garden=True, networkPolicy={"extraFrom": apiservers}), {"networkPolicy": {"from": peers}})))
    validate([one(docs, "NetworkPolicy", GW_NAME)], "gardener-webhooks networkPolicy.extraFrom", kv[-1:])
    C.check(one(docs, "NetworkPolicy", GW_NAME)["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9443}], "from": peers + apiservers}],
            "networkPolicy.from + gardenerWebhooks.networkPolicy.extraFrom: the given peers and the kube-apiservers' sources")
    docs = docs_of(render(chart, gw_values(garden=True, networkPolicy={"extraFrom": apiservers})))
    C.check(one(docs, "NetworkPolicy", GW_NAME)["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9443}]}],
            "extraFrom without networkPolicy.from: still from anywhere")


def some_ca_pem(chart: "helm.Chart") -> bytes:
    """A real CA certificate (PEM) from a render, for gardenerWebhooks.caBundle."""
    return b64(tls_secrets(docs_of(render(chart, {})))[CA_NAME], "tls.crt")


def check_gw_tls_modes(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    # cert-manager: a Certificate for the Service names; cainjector fills the caBundle in.
    values = gw_values(garden=True, seed={"shootWebhookURL": "https://hook.example"}) | {
        "tls": {"certManager": True, "issuerRef": {"name": "mesh-ca"}}}
    lint(chart_dir, values, "gardener-webhooks, tls.certManager", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "gardener-webhooks, tls.certManager", kv)
    configs = webhook_configs(docs)
    C.check(len(configs) == 3 and all(c["metadata"].get("annotations") == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/{GW_NAME}"}
                                       for c in configs.values()),
            f"[certManager] every webhook configuration is annotated cert-manager.io/inject-ca-from: {NAMESPACE}/{GW_NAME} (its Certificate)")
    C.check(all("caBundle" not in w["clientConfig"] for w in all_webhooks(docs)), "[certManager] no caBundle (cainjector injects it)")
    cert = one(docs, "Certificate", GW_NAME)
    C.check(cert["spec"]["secretName"] == f"{GW_NAME}-cert-manager-tls" and sorted(cert["spec"]["dnsNames"]) == sorted(expected_sans("gardener-webhooks")),
            f"[certManager] the Certificate {GW_NAME} (named in the annotation) covers the Service's DNS names, Secret {GW_NAME}-cert-manager-tls")
    check_server_tls(docs, "gardener-webhooks", "certManager", f"{GW_NAME}-cert-manager-tls")
    C.check(not tls_secrets(docs), "[certManager] no self-signed CA or serving Secret")
    check_gw_configs(docs, "certManager", ["validator", "secrets-validator"], ["mutator", "controlplane", "seedprovider"],
                     shoot={"url": "https://hook.example/webhooks/shoot"})

    # existingSecret: the CA cannot be read at render time: caBundle is required.
    err = render_error(chart, gw_values(garden=True, tls={"existingSecret": "gw-own"}))
    message = "gardenerWebhooks.caBundle is required with gardenerWebhooks.tls.existingSecret (gw-own)"
    if err is not None and message not in err:
        print(f"        got: {err}")
    C.check(fails_with(err, message) and "--set-file gardenerWebhooks.caBundle=ca.crt" in (err or ""),
            f"[existingSecret] without caBundle: rendering fails with {message!r} and says how to give it")
    pem = some_ca_pem(chart)
    values = gw_values(garden=True, seed={"shootWebhookURL": "https://hook.example"}, tls={"existingSecret": "gw-own"},
                       caBundle=pem.decode())
    lint(chart_dir, values, "gardener-webhooks, existingSecret + caBundle", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "gardener-webhooks, existingSecret + caBundle", kv[-1:])
    bundles = [w["clientConfig"].get("caBundle") for w in all_webhooks(docs)]
    C.check(len(bundles) == 6 and all(b is not None and base64.b64decode(b) == pem for b in bundles) and Cert(pem).is_ca,
            "[existingSecret] every webhook's caBundle (6) decodes to exactly the given gardenerWebhooks.caBundle PEM")
    C.check(not tls_secrets(docs) and not any(c["metadata"].get("annotations") for c in webhook_configs(docs).values()),
            "[existingSecret] no chart-made TLS Secret, no cert-manager annotation")
    check_server_tls(docs, "gardener-webhooks", "existingSecret", "gw-own")
    cases = [
        ("existingSecret with a non-PEM caBundle", gw_values(garden=True, tls={"existingSecret": "gw-own"}, caBundle="not a certificate"),
         "gardenerWebhooks.caBundle must be PEM"),
        ("caBundle with self-signed certificates", gw_values(garden=True, caBundle=pem.decode()),
         "gardenerWebhooks.caBundle is only used with gardenerWebhooks.tls.existingSecret: with self-signed certificates"),
        ("caBundle with tls.certManager", gw_values(seed=True, caBundle=pem.decode()) | {"tls": {"certManager": True, "issuerRef": {"name": "x"}}},
         "gardenerWebhooks.caBundle is only used with gardenerWebhooks.tls.existingSecret: with tls.certManager"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_gw_defaults_env(chart: "helm.Chart", kv: list[str]) -> None:
    docs = docs_of(render(chart, gw_values(garden={"defaults": {k: v[0] for k, v in GW_DEFAULTS_ALL.items()}})))
    validate([one(docs, "Deployment", GW_NAME)], "garden.defaults, every key", kv[-1:])
    env = gw_container(docs).get("env", [])
    want = {v[1]: v[2] for v in GW_DEFAULTS_ALL.values()}
    got = {e["name"]: e.get("value") for e in env}
    if got != want:
        print(f"        got: {got}")
    C.check(got == want and len(env) == 18 and all(set(e) == {"name", "value"} for e in env),
            "garden.defaults with all 18 keys: exactly DEFAULTER_<KEY upper-cased> each (ints and bools as strings, ciliumDevices joined with commas)")
    docs = docs_of(render(chart, gw_values(garden={"defaults": {"maxPods": 110, "ciliumDevices": "lan+, lo", "podsCIDR": None}},
                                           extraEnv=[{"name": "RUST_LOG", "value": "debug"}])))
    C.check(gw_container(docs)["env"] == [{"name": "DEFAULTER_CILIUMDEVICES", "value": "lan+,lo"}, {"name": "DEFAULTER_MAXPODS", "value": "110"},
                                           {"name": "RUST_LOG", "value": "debug"}],
            "garden.defaults {maxPods, ciliumDevices as a string, podsCIDR null}: only the keys given (null left out), then extraEnv")
    docs = docs_of(render(chart, gw_values(seed=True, garden={"enabled": False, "defaults": {"maxPods": 110}})))
    C.check("env" not in gw_container(docs), "garden.defaults without garden.enabled (seed only): no DEFAULTER_* variables")
    cases = [
        ("unknown key", {"maxPod": 110}, "gardenerWebhooks.garden.defaults.maxPod is not a defaulter setting: the keys are maxPods"),
        ("maxPods not a number", {"maxPods": "many"}, 'gardenerWebhooks.garden.defaults.maxPods must be a whole number, not "many"'),
        ("ciliumMTU fractional", {"ciliumMTU": 1440.5}, "gardenerWebhooks.garden.defaults.ciliumMTU must be a whole number"),
        ("calicoTyphaEnabled not a bool", {"calicoTyphaEnabled": "yes"}, 'gardenerWebhooks.garden.defaults.calicoTyphaEnabled must be true or false, not "yes"'),
        ("podsCIDR not a CIDR", {"podsCIDR": "10.240.0.0"}, 'gardenerWebhooks.garden.defaults.podsCIDR must be a CIDR (e.g. 10.240.0.0/13), not "10.240.0.0"'),
        ("networkType empty", {"networkType": ""}, "gardenerWebhooks.garden.defaults.networkType must not be empty"),
        ("ciliumDevices a map", {"ciliumDevices": {"a": 1}}, "gardenerWebhooks.garden.defaults.ciliumDevices must be a list"),
        ("maxPods a list", {"maxPods": [1]}, "gardenerWebhooks.garden.defaults.maxPods must be a single value, not a list"),
    ]
    for what, defaults, message in cases:
        err = render_error(chart, gw_values(garden={"defaults": defaults}))
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"garden.defaults {what}: rendering fails with {message!r}")


def check_gw_failures(chart: "helm.Chart") -> None:
    cases = [
        ("logFormat invalid", gw_values(garden=True, logFormat="xml"), 'gardenerWebhooks.logFormat must be text or json, not "xml"'),
        ("port 0", gw_values(garden=True, port=0), "gardenerWebhooks.port must be 1..65535, not 0"),
        ("service.port 70000", gw_values(seed=True, service={"port": 70000}), "gardenerWebhooks.service.port must be 1..65535, not 70000"),
        ("replicas 0", gw_values(garden=True, replicas=0), "gardenerWebhooks.replicas must be a whole number >= 1"),
        ("storageCapacity invalid", gw_values(seed={"etcd": {"storageCapacity": "lots"}}),
         'gardenerWebhooks.seed.etcd.storageCapacity must be a quantity (e.g. 16Gi), not "lots"'),
        ("backupDeltaSnapshotPeriod invalid", gw_values(seed={"etcd": {"backupDeltaSnapshotPeriod": "5 minutes"}}),
         'gardenerWebhooks.seed.etcd.backupDeltaSnapshotPeriod must be a duration (e.g. 5m), not "5 minutes"'),
        ("backupSchedule not five fields", gw_values(seed={"etcd": {"backupSchedule": "@daily"}}),
         "gardenerWebhooks.seed.etcd.backupSchedule must be a cron schedule of five fields"),
        ("shootWebhookURL http", gw_values(seed={"shootWebhookURL": "http://hook.example"}),
         f"gardenerWebhooks.seed.shootWebhookURL must be an https:// URL without user, query or fragment (the shoots' kube-apiservers call it; "
         f"/webhooks/shoot is appended), e.g. https://{GW_NAME}.{NAMESPACE}.svc:443"),
        ("shootWebhookURL with a query", gw_values(seed={"shootWebhookURL": "https://hook.example/?x=1"}),
         "gardenerWebhooks.seed.shootWebhookURL must be an https:// URL"),
        ("shootWebhookFailurePolicy invalid", gw_values(seed={"shootWebhookFailurePolicy": "Retry"}),
         'gardenerWebhooks.seed.shootWebhookFailurePolicy must be Fail or Ignore, not "Retry"'),
        ("--auth none", gw_values(garden=True, extraArgs=["--auth=none"]), "gardenerWebhooks.extraArgs: --auth none is not allowed"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"gardener-webhooks {what}: rendering fails with {message!r}")


def check_gw_docs() -> None:
    chart_dir = ROOT / "helm" / "metal-mesh"
    readme = (chart_dir / "README.md").read_text()
    for needle in ["## What gardener-webhooks gets", "gardenerWebhooks.garden.enabled", "gardenerWebhooks.seed.enabled",
                   "gardenerWebhooks.garden.defaults", "DEFAULTER_MAXPODS", "gardenerWebhooks.seed.shootWebhookURL",
                   "metal-mesh/webhook-target=shoot", "gardenerWebhooks.caBundle", "cert-manager.io/inject-ca-from",
                   "--webhooks-require-auth", "metal-mesh:gardener-webhooks:viewer", "/v1/validate/shoot", "/v1/default/shoot",
                   "--machine-controller-manager-image", "--etcd-storage-capacity", "failurePolicy", "matchPolicy",
                   "build-image.sh", "gardenerWebhooks.networkPolicy.extraFrom", "from-all-webhook-targets-allowed-ports",
                   "### The OperatingSystemConfig controller", "gardenerWebhooks.seed.osController.enabled",
                   "gardenerWebhooks.seed.osController.ignitionVersion", "--os-controller-workers", "--leader-elect",
                   GW_LEASE, "operatingsystemconfigs/status", "POD_NAMESPACE",
                   "### The extension controllers", "gardenerWebhooks.seed.extensions.enabled", "gardenerWebhooks.seed.extensions.machineImages",
                   "gardenerWebhooks.seed.extensions.firewallInternalPrefixes", "gardenerWebhooks.seed.extensions.metalApiCA",
                   "gardenerWebhooks.seed.extensions.controlPlaneImage", "--extensions", "--extension-workers", "--machine-image",
                   "--firewall-internal-prefix", "--metal-api-timeout", "--metal-api-ca-file", "--control-plane-image", GW_EXT_LEASE,
                   "<release>-metal-mesh-gardener-webhooks-metal-api-ca", "<release>-metal-mesh-gardener-webhooks-extensions", "ManagedResources", "managedresources",
                   "firewalldeployments", "machinedeployments"]:
        C.check(needle in readme, f"README.md (gardener-webhooks) mentions {needle!r}")
    C.check("`gardenerWebhooks.enabled`" not in readme.split("## Values")[1] if "## Values" in readme else False,
            "README values table: the placeholder gardenerWebhooks.enabled is gone")
    values_text = (chart_dir / "values.yaml").read_text()
    for needle in ["gardenerWebhooks:", "shootWebhookURL:", "machineControllerManagerImage:", "storageCapacity: 16Gi", "caBundle:",
                   "webhooksRequireAuth:", "defaults: {}", "osController:", 'ignitionVersion: "2.3.0"', "workers: 5",
                   "extensions:", "machineImages: []", "firewallInternalPrefixes: []", "metalApiTimeout: 30s", 'metalApiCA: ""',
                   'controlPlaneImage: ""', GW_EXT_LEASE]:
        C.check(needle in values_text, f"values.yaml documents {needle!r}")


# --------------------------------------------------------------------------------------------
# machine-lifecycle (replaces machine-controller-manager-provider-metal)

ML_NODES_ROLE = f"{ML_NAME}-nodes"
ML_LEASE_ROLE = f"{ML_NAME}-leader-election"
# The Role in the Machines' namespace, rule by rule: exactly this.
ML_ROLE_RULES = [
    {"apiGroups": ["machine.sapcloud.io"], "resources": ["machines"], "verbs": ["get", "list", "watch", "patch", "update"]},
    {"apiGroups": ["machine.sapcloud.io"], "resources": ["machines/status"], "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["machine.sapcloud.io"], "resources": ["machineclasses"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
# The target cluster's Nodes (this cluster when no targetKubeconfig is given).
ML_NODES_RULES = [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "delete"]}]
ML_DOWNWARD_ENV = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def ml_lease_rules(lease: str = "machine-lifecycle") -> list[dict[str, Any]]:
    return [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [lease], "verbs": ["get", "update"]}]


def ml_values(**kw: Any) -> dict[str, Any]:
    """machine-lifecycle on (metal-api off); kw are further machineLifecycle values."""
    return {"metalApi": {"enabled": False}, "machineLifecycle": deep_merge({"enabled": True}, kw)}


def ml_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "machine-lifecycle"
            or d["metadata"]["name"].startswith(ML_NAME)]


def ml_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in one(docs, "Deployment", ML_NAME)["spec"]["template"]["spec"]["containers"] if c["name"] == "machine-lifecycle")


def ml_args(namespace: str = NAMESPACE, listen: str = "0.0.0.0:8080", runtime: list[str] | None = None, target: str | None = None,
            workers: str = "16", creation: str = "20m", retry: tuple[str, str, str] = ("5s", "3m", "10m"), timeout: str = "30s",
            grpc: str | None = None, leader: tuple[str, str, str] | None = None, extra: list[str] | None = None, **server: Any) -> list[str]:
    """machine-lifecycle's exact command line: --listen, the runtime flags, --namespace, the
    target kubeconfig, the controller's settings, the gRPC socket, leader election (namespace,
    Lease, duration), then the flags every service gets and extraArgs."""
    args = ["--listen", listen] + (runtime if runtime is not None else ["--log-format", "text", "--log-level", "info"])
    args += ["--namespace", namespace] + (["--target-kubeconfig", target] if target else [])
    args += ["--workers", workers, "--creation-timeout", creation, "--retry-short", retry[0], "--retry-medium", retry[1],
             "--retry-long", retry[2], "--metal-api-timeout", timeout]
    args += ["--grpc-socket", grpc] if grpc else []
    if leader:
        args += ["--leader-elect", "--leader-elect-namespace", leader[0], "--leader-elect-lease-name", leader[1],
                 "--leader-elect-lease-duration", leader[2]]
    return args + server_args(**server) + (extra or [])


def ml_roles(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """machine-lifecycle's own Roles and ClusterRoles (not the access roles), keyed by (kind,
    namespace or "", name), with their rules; checks that each has exactly one binding of the
    same name (in the same namespace) to the ServiceAccount and nothing else."""
    out = {}
    subject = [{"kind": "ServiceAccount", "name": ML_NAME, "namespace": NAMESPACE}]
    for d in ml_docs(docs):
        if d["kind"] not in ("Role", "ClusterRole") or is_access_role(d):
            continue
        ns = d["metadata"].get("namespace", "")
        out[(d["kind"], ns, d["metadata"]["name"])] = d["rules"]
        bkind = "RoleBinding" if d["kind"] == "Role" else "ClusterRoleBinding"
        bindings = [b for b in docs if b["kind"] == bkind and b["metadata"]["name"] == d["metadata"]["name"]
                    and b["metadata"].get("namespace", "") == ns]
        C.check(len(bindings) == 1 and bindings[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": d["kind"],
                                                                  "name": d["metadata"]["name"]}
                and bindings[0]["subjects"] == subject,
                f"{bkind} {ns + '/' if ns else ''}{d['metadata']['name']}: binds its {d['kind']} to the ServiceAccount {NAMESPACE}/{ML_NAME}")
    bindings = [b for b in ml_docs(docs) if b["kind"] in ("RoleBinding", "ClusterRoleBinding")
                and b["roleRef"]["name"] != "system:auth-delegator"]
    C.check(len(bindings) == len(out), f"machine-lifecycle: one binding per Role/ClusterRole ({len(out)}), none of anything else")
    return out


def ml_expected_roles(namespace: str = NAMESPACE, nodes: bool = True,
                      lease: tuple[str, str] | None = None) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    want = {("Role", namespace, ML_NAME): ML_ROLE_RULES}
    if nodes:
        want[("ClusterRole", "", ML_NODES_ROLE)] = ML_NODES_RULES
    if lease:
        want[("Role", lease[0], ML_LEASE_ROLE)] = ml_lease_rules(lease[1])
    return want


def check_ml_rbac(docs: list[dict[str, Any]], label: str, **want: Any) -> None:
    got = ml_roles(docs)
    exp = ml_expected_roles(**want)
    if got != exp:
        print(f"        got:  {json.dumps({'/'.join(k): v for k, v in got.items()})}\n"
              f"        want: {json.dumps({'/'.join(k): v for k, v in exp.items()})}")
    desc = ", ".join(f"{k}/{(ns + '/') if ns else ''}{n}" for k, ns, n in sorted(exp))
    C.check(got == exp, f"[{label}] RBAC exactly: {desc} (machines, machines/status, machineclasses, secrets get/list/watch, events; "
                        f"{'nodes get/list/watch/delete; ' if want.get('nodes', True) else 'no nodes rule; '}"
                        f"{'the Lease ' + want['lease'][1] if want.get('lease') else 'no Lease'})")
    C.check(all(not has_wildcard(r) for r in got.values()), f"[{label}] no wildcard in machine-lifecycle's rules")


def check_ml_pod_common(docs: list[dict[str, Any]], label: str, image: str, replicas: int = 1) -> None:
    """What every setting shares: image, command, TLS, auth, probes, a locked-down pod, its
    ServiceAccount and auth-delegator binding, the selector and the access ClusterRoles."""
    dep = one(docs, "Deployment", ML_NAME)
    pod = dep["spec"]["template"]["spec"]
    c = ml_container(docs)
    C.check(c["image"] == image and c["command"] == ["/usr/local/bin/machine-lifecycle"] and dep["spec"]["replicas"] == replicas
            and dep["metadata"]["namespace"] == NAMESPACE,
            f"[{label}] Deployment {NAMESPACE}/{ML_NAME}: {replicas} replica(s), image {image}, command /usr/local/bin/machine-lifecycle")
    check_server_tls(docs, "machine-lifecycle", label, f"{ML_NAME}-tls")
    check_auth_delegator(docs, "machine-lifecycle", label)
    sc, psc = c["securityContext"], pod["securityContext"]
    C.check(sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities") == {"drop": ["ALL"]} and sc.get("seccompProfile") == {"type": "RuntimeDefault"}
            and psc.get("runAsUser") == 65532 and psc.get("fsGroup") == 65532 and pod.get("enableServiceLinks") is False
            and not pod.get("hostNetwork") and "privileged" not in sc,
            f"[{label}] locked-down pod: uid 65532, fsGroup 65532, read-only root, drop ALL, seccomp RuntimeDefault, no service links, "
            "pod network")
    C.check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
            and c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
            and c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            f"[{label}] probes: liveness and startup GET /healthz, readiness GET /readyz, scheme HTTPS on port https")
    sel = dep["spec"]["selector"]["matchLabels"]
    C.check(sel == {"app.kubernetes.io/name": "metal-mesh", "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "machine-lifecycle"}
            and all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
            f"[{label}] the Deployment selects its pods by name, instance and component machine-lifecycle")
    sa = one(docs, "ServiceAccount", ML_NAME)
    C.check(sa["metadata"]["namespace"] == NAMESPACE and sa.get("automountServiceAccountToken") is False,
            f"[{label}] ServiceAccount {NAMESPACE}/{ML_NAME} (the pod mounts the token explicitly)")
    roles_ = access_roles(docs)
    C.check({n: r for n, r in roles_.items() if ":machine-lifecycle:" in n}
            == {"metal-mesh:machine-lifecycle:viewer": ML_ACCESS["viewer"], "metal-mesh:machine-lifecycle:editor": ML_ACCESS["editor"]},
            f"[{label}] ClusterRoles metal-mesh:machine-lifecycle:viewer (get /metrics, /v1/machines) and :editor (also create "
            "/v1/machines, delete /v1/machines/*)")
    for d in ml_docs(docs):
        labels = d["metadata"].get("labels", {})
        C.check(labels.get("app.kubernetes.io/name") == "metal-mesh" and labels.get("app.kubernetes.io/instance") == RELEASE
                and labels.get("app.kubernetes.io/component") == "machine-lifecycle" and labels.get("app.kubernetes.io/part-of") == "metal-mesh"
                and (("namespace" not in d["metadata"]) == (d["kind"] in CLUSTER_KINDS)),
                f"[{label}] {d['kind']}/{d['metadata']['name']}: machine-lifecycle's labels; "
                f"{'cluster-scoped' if d['kind'] in CLUSTER_KINDS else 'namespace ' + d['metadata'].get('namespace', '?')}")


def notes_of(rendered: dict[str, str]) -> str:
    return next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")


def check_ml_off(chart: "helm.Chart") -> None:
    C.check(chart.values["machineLifecycle"]["enabled"] is False, "values: machineLifecycle.enabled defaults to false")
    rendered = render(chart, {})
    docs = docs_of(rendered)
    C.check(not ml_docs(docs) and f"{ML_NAME}-tls" not in tls_secrets(docs)
            and not any(n.startswith("metal-mesh:machine-lifecycle") for n in access_roles(docs)),
            "default values: no machine-lifecycle object (no Deployment, RBAC, Service, certificate, access ClusterRoles)")
    C.check(not any("machine-lifecycle" in v for v in rendered.values()), "default values: no machine-lifecycle in any template or NOTES")
    # Switched off with every option set, invalid ones too: nothing, and nothing is checked.
    values = {"machineLifecycle": {"enabled": False, "replicas": 3, "namespace": "Not A Namespace", "workers": 0,
                                   "grpcSocket": {"enabled": True, "path": "relative.sock"},
                                   "targetKubeconfig": {"secretName": "shoot", "secretKey": ""}}}
    rendered = render(chart, values)
    C.check(not ml_docs(docs_of(rendered)) and not any("machine-lifecycle" in v for v in rendered.values()),
            "machineLifecycle.enabled=false with (even invalid) options set renders no machine-lifecycle object and fails nothing")


def check_ml_defaults(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = ml_values()
    lint(chart_dir, values, "machine-lifecycle defaults", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "machine-lifecycle defaults", kv)
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    C.check(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs) == sorted([
        f"Deployment/{ML_NAME}", f"Service/{ML_NAME}", f"ServiceAccount/{ML_NAME}", f"NetworkPolicy/{ML_NAME}",
        f"Role/{ML_NAME}", f"RoleBinding/{ML_NAME}", f"ClusterRole/{ML_NODES_ROLE}", f"ClusterRoleBinding/{ML_NODES_ROLE}",
        f"ClusterRoleBinding/{ML_NAME}-auth-delegator", f"Secret/{CA_NAME}", f"Secret/{ML_NAME}-tls",
        "ClusterRole/metal-mesh:machine-lifecycle:editor", "ClusterRole/metal-mesh:machine-lifecycle:viewer"]),
        "[defaults] exactly: Deployment, Service, ServiceAccount, NetworkPolicy, the Role (+binding) in the release namespace, the nodes "
        "ClusterRole (+binding), auth-delegator binding, CA and serving Secret, access ClusterRoles (no Lease Role with 1 replica)")
    c = ml_container(docs)
    want = ml_args()
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[defaults] args exactly: {' '.join(want)}")
    C.check("env" not in c, "[defaults] no env at all: no leader election (1 replica), no CA, no extraEnv")
    pod = one(docs, "Deployment", ML_NAME)["spec"]["template"]["spec"]
    C.check([m["name"] for m in c["volumeMounts"]] == ["tmp", "tls"] and [v["name"] for v in pod["volumes"]] == ["tmp", "tls"]
            and pod["volumes"][0]["emptyDir"] == {"sizeLimit": "64Mi"} and [x["name"] for x in pod["containers"]] == ["machine-lifecycle"],
            "[defaults] one container; volumes exactly tmp (emptyDir, the read-only root's /tmp) and tls: no gRPC, CA or kubeconfig mount")
    check_ml_pod_common(docs, "defaults", image)
    svc = one(docs, "Service", ML_NAME)
    sel = one(docs, "Deployment", ML_NAME)["spec"]["selector"]["matchLabels"]
    C.check(svc["spec"]["type"] == "ClusterIP" and svc["spec"]["selector"] == sel
            and svc["spec"]["ports"] == [{"name": "https", "port": 8080, "targetPort": "https", "protocol": "TCP"}]
            and {p["name"]: p["containerPort"] for p in c["ports"]} == {"https": 8080},
            f"[defaults] Service {ML_NAME}: ClusterIP, port https 8080 -> container port https 8080")
    np_ = one(docs, "NetworkPolicy", ML_NAME)
    C.check(np_["spec"]["podSelector"] == {"matchLabels": sel} and np_["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}],
            f"[defaults] NetworkPolicy {ML_NAME}: its pods, ingress from anywhere on TCP 8080 only")
    check_ml_rbac(docs, "defaults")
    role = one(docs, "Role", ML_NAME)
    if role["rules"] != ML_ROLE_RULES:
        print(f"        got: {json.dumps(role['rules'])}")
    C.check(role["rules"] == ML_ROLE_RULES and role["metadata"]["namespace"] == NAMESPACE,
            f"[defaults] Role {NAMESPACE}/{ML_NAME} rules exactly: machines get/list/watch/patch/update; machines/status get/patch/update; "
            "machineclasses get/list/watch; secrets get/list/watch; events and events.k8s.io events create/patch")
    C.check(not any(d["kind"] in ("Role", "RoleBinding") and "coordination.k8s.io" in json.dumps(d) for d in docs),
            "[defaults] 1 replica: no Lease Role, no --leader-elect")
    notes = notes_of(rendered)
    for needle in [f"Deployment {ML_NAME} (1 replica)", f"in the namespace {NAMESPACE}", "metalAPIURL", f"ClusterRole {ML_NODES_ROLE}",
                   f"{ML_NAME}-tls", "/v1/machines", "metal-mesh:machine-lifecycle:viewer", "get machines.machine.sapcloud.io"]:
        C.check(needle in notes, f"[defaults] NOTES mention {needle!r}")
    C.check("get lease" not in notes.split("machine-lifecycle (replaces")[1] and "gRPC" not in notes,
            "[defaults] NOTES: no Lease (1 replica), no gRPC socket")


def check_ml_leader_election(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    image = f"metal-mesh:{chart.metadata['appVersion']}"
    # 2 replicas: --leader-elect, the Lease in the Machines' namespace (the release's).
    values = ml_values(replicas=2)
    lint(chart_dir, values, "machine-lifecycle, 2 replicas", kv[-1:])
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "machine-lifecycle, 2 replicas", kv)
    c = ml_container(docs)
    want = ml_args(leader=(NAMESPACE, "machine-lifecycle", "15s"))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[2 replicas] args exactly: {' '.join(want)}")
    C.check(c.get("env") == ML_DOWNWARD_ENV, "[2 replicas] env exactly POD_NAME from the downward API (the identity in the Lease)")
    check_ml_pod_common(docs, "2 replicas", image, replicas=2)
    check_ml_rbac(docs, "2 replicas", lease=(NAMESPACE, "machine-lifecycle"))
    lease = one(docs, "Role", ML_LEASE_ROLE)
    C.check(lease["rules"] == ml_lease_rules() and lease["metadata"]["namespace"] == NAMESPACE,
            f"[2 replicas] Role {NAMESPACE}/{ML_LEASE_ROLE} exactly: leases create; get/update of machine-lifecycle only")
    notes = notes_of(rendered)
    C.check(f"(2 replicas, leader election on the Lease {NAMESPACE}/machine-lifecycle)" in notes
            and f"kubectl -n {NAMESPACE} get lease machine-lifecycle" in notes,
            "[2 replicas] NOTES: the Lease and how to see who leads")

    # The Machines in a shoot namespace: the Role and (by default) the Lease go there.
    shoot = "shoot--project--cluster"
    values = ml_values(replicas=3, namespace=shoot)
    lint(chart_dir, values, "machine-lifecycle, shoot namespace, 3 replicas", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "machine-lifecycle, shoot namespace, 3 replicas", kv[-1:])
    c = ml_container(docs)
    want = ml_args(namespace=shoot, leader=(shoot, "machine-lifecycle", "15s"))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[namespace {shoot}] args exactly: {' '.join(want)}")
    check_ml_rbac(docs, f"namespace {shoot}", namespace=shoot, lease=(shoot, "machine-lifecycle"))
    C.check(all(d["metadata"]["namespace"] == NAMESPACE for d in ml_docs(docs)
                if d["kind"] not in CLUSTER_KINDS and d["kind"] not in ("Role", "RoleBinding")),
            f"[namespace {shoot}] Deployment, Service, ServiceAccount, NetworkPolicy, Secrets stay in the release namespace {NAMESPACE}")
    C.check(all(b["subjects"] == [{"kind": "ServiceAccount", "name": ML_NAME, "namespace": NAMESPACE}]
                for b in ml_docs(docs) if b["kind"] == "RoleBinding"),
            f"[namespace {shoot}] the RoleBindings there name the ServiceAccount of the release namespace")

    # A Lease of its own name, namespace and duration; extraEnv's own POD_NAME wins.
    values = ml_values(replicas=2, namespace=shoot, leaderElection={"leaseName": "ml-leader", "namespace": "leases", "leaseDuration": "30s"},
                       extraEnv=[{"name": "POD_NAME", "value": "fixed"}])
    docs = docs_of(render(chart, values))
    validate(docs, "machine-lifecycle, leaderElection settings", kv[-1:])
    c = ml_container(docs)
    want = ml_args(namespace=shoot, leader=("leases", "ml-leader", "30s"))
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[leaderElection settings] args exactly: {' '.join(want)}")
    C.check(c.get("env") == [{"name": "POD_NAME", "value": "fixed"}],
            "[leaderElection settings] extraEnv sets POD_NAME: no second POD_NAME from the downward API")
    check_ml_rbac(docs, "leaderElection settings", namespace=shoot, lease=("leases", "ml-leader"))
    # One replica: the leader election settings are not used (nor checked).
    docs = docs_of(render(chart, ml_values(leaderElection={"leaseName": "", "leaseDuration": "soon"})))
    C.check(ml_container(docs)["args"] == ml_args() and "env" not in ml_container(docs),
            "[1 replica] leaderElection values unused: no --leader-elect, no POD_NAME, no Lease Role")


def check_ml_options(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    # The target cluster's kubeconfig: mounted, passed, and no nodes rights here.
    values = ml_values(targetKubeconfig={"secretName": "shoot-kubeconfig", "secretKey": "value"})
    lint(chart_dir, values, "machine-lifecycle targetKubeconfig", kv[-1:])
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "machine-lifecycle targetKubeconfig", kv)
    c = ml_container(docs)
    pod = one(docs, "Deployment", ML_NAME)["spec"]["template"]["spec"]
    want = ml_args(target="/etc/metal-mesh/target-kubeconfig/value")
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[targetKubeconfig] args exactly: {' '.join(want)}")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    C.check(mounts.get("target-kubeconfig") == {"name": "target-kubeconfig", "mountPath": "/etc/metal-mesh/target-kubeconfig", "readOnly": True}
            and vols.get("target-kubeconfig", {}).get("secret") == {"secretName": "shoot-kubeconfig", "defaultMode": 0o440,
                                                                    "items": [{"key": "value", "path": "value"}]},
            "[targetKubeconfig] only key `value` of Secret shoot-kubeconfig, read-only on /etc/metal-mesh/target-kubeconfig (mode 0440)")
    check_ml_rbac(docs, "targetKubeconfig", nodes=False)
    C.check("Secret shoot-kubeconfig" in notes_of(rendered) and ML_NODES_ROLE not in notes_of(rendered),
            "[targetKubeconfig] NOTES: the Nodes join in the kubeconfig's cluster, no nodes ClusterRole here")

    # metal-api's CA.
    docs = docs_of(render(chart, ml_values(metalApi={"caSecret": "corp-ca", "caSecretKey": "bundle.pem"})))
    validate(docs, "machine-lifecycle metalApi.caSecret", kv[-1:])
    c = ml_container(docs)
    pod = one(docs, "Deployment", ML_NAME)["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    C.check(c.get("env") == [{"name": "METAL_API_CA_FILE", "value": "/etc/metal-mesh/metal-api-ca/bundle.pem"}]
            and mounts.get("metal-api-ca") == {"name": "metal-api-ca", "mountPath": "/etc/metal-mesh/metal-api-ca", "readOnly": True}
            and vols.get("metal-api-ca", {}).get("secret") == {"secretName": "corp-ca", "defaultMode": 0o444,
                                                               "items": [{"key": "bundle.pem", "path": "bundle.pem"}]}
            and "--metal-api-ca-file" not in c["args"],
            "[metalApi.caSecret] METAL_API_CA_FILE=/etc/metal-mesh/metal-api-ca/bundle.pem, only that key of corp-ca, read-only; not passed twice")

    # The gRPC socket in an emptyDir, shared with a container of extraContainers.
    sidecar = {"name": "driver-client", "image": "busybox:1.36", "command": ["sleep", "infinity"],
               "volumeMounts": [{"name": "grpc", "mountPath": "/run/machine-lifecycle"}]}
    values = ml_values(grpcSocket={"enabled": True}, extraContainers=[sidecar])
    lint(chart_dir, values, "machine-lifecycle grpcSocket", kv[-1:])
    rendered = render(chart, values)
    docs = docs_of(rendered)
    validate(docs, "machine-lifecycle grpcSocket", kv)
    c = ml_container(docs)
    pod = one(docs, "Deployment", ML_NAME)["spec"]["template"]["spec"]
    want = ml_args(grpc="/run/machine-lifecycle/driver.sock")
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[grpcSocket] args exactly: {' '.join(want)}")
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    C.check(mounts.get("grpc") == {"name": "grpc", "mountPath": "/run/machine-lifecycle"} and vols.get("grpc") == {"name": "grpc", "emptyDir": {"sizeLimit": "1Mi"}},
            "[grpcSocket] emptyDir `grpc` mounted writable on the socket's directory /run/machine-lifecycle")
    C.check([x["name"] for x in pod["containers"]] == ["machine-lifecycle", "driver-client"] and pod["containers"][1] == sidecar,
            "[grpcSocket] extraContainers follow the container as given (the sidecar mounts `grpc`)")
    C.check("/run/machine-lifecycle/driver.sock" in notes_of(rendered), "[grpcSocket] NOTES name the socket")
    docs = docs_of(render(chart, ml_values(grpcSocket={"enabled": True, "path": "/var/run/ml/d.sock"})))
    c = ml_container(docs)
    C.check(arg_value(c["args"], "--grpc-socket") == "/var/run/ml/d.sock"
            and {m["name"]: m["mountPath"] for m in c["volumeMounts"]}.get("grpc") == "/var/run/ml",
            "[grpcSocket.path /var/run/ml/d.sock] --grpc-socket and the emptyDir on /var/run/ml")
    docs = docs_of(render(chart, ml_values(grpcSocket={"enabled": False, "path": "relative"})))
    C.check("--grpc-socket" not in ml_container(docs)["args"], "[grpcSocket off] no --grpc-socket (path unchecked)")

    # Every flag from values.
    values = ml_values(workers=64, creationTimeout="30m", retry={"short": "2s", "medium": "1m", "long": "15m"},
                       metalApi={"timeout": "10s"}, logFormat="json", logLevel="debug", otlpEndpoint="http://otel:4317",
                       shutdownTimeout="20s", listenAddress="::", port=9443, service={"port": 443, "annotations": {"a": "b"}},
                       extraArgs=["--kubeconfig", "/etc/x"], extraEnv=[{"name": "RUST_LOG", "value": "debug"}],
                       podAnnotations={"p": "q"}, podLabels={"team": "metal"}, nodeSelector={"role": "infra"},
                       serviceAccount={"annotations": {"s": "t"}}, priorityClassName="system-cluster-critical")
    values["image"] = {"repository": "registry.example.com/metal-mesh", "tag": "1.2.3"}
    lint(chart_dir, values, "machine-lifecycle, every flag", kv[-1:])
    docs = docs_of(render(chart, values))
    validate(docs, "machine-lifecycle, every flag", kv[-1:])
    c = ml_container(docs)
    want = ml_args(listen="[::]:9443", workers="64", creation="30m", retry=("2s", "1m", "15m"), timeout="10s",
                   runtime=["--log-format", "json", "--log-level", "debug", "--otlp-endpoint", "http://otel:4317", "--shutdown-timeout", "20s"],
                   extra=["--kubeconfig", "/etc/x"])
    if c["args"] != want:
        print(f"        got: {c['args']}")
    C.check(c["args"] == want, f"[every flag] args exactly: {' '.join(want)}")
    dep = one(docs, "Deployment", ML_NAME)
    pod = dep["spec"]["template"]["spec"]
    C.check(c["image"] == "registry.example.com/metal-mesh:1.2.3" and c.get("env") == [{"name": "RUST_LOG", "value": "debug"}]
            and {p["name"]: p["containerPort"] for p in c["ports"]} == {"https": 9443}
            and dep["spec"]["template"]["metadata"].get("annotations") == {"p": "q"}
            and dep["spec"]["template"]["metadata"]["labels"].get("team") == "metal"
            and pod.get("nodeSelector") == {"role": "infra"} and pod.get("priorityClassName") == "system-cluster-critical"
            and one(docs, "ServiceAccount", ML_NAME)["metadata"].get("annotations") == {"s": "t"},
            "[every flag] the shared image, extraEnv only, container port https 9443, pod annotations and labels, nodeSelector, "
            "priorityClassName, ServiceAccount annotations")
    svc = one(docs, "Service", ML_NAME)
    C.check(svc["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]
            and svc["metadata"].get("annotations") == {"a": "b"}
            and one(docs, "NetworkPolicy", ML_NAME)["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9443}],
            "[every flag] Service port https 443 -> https (annotated); the NetworkPolicy follows port (9443)")


def check_ml_failures(chart: "helm.Chart") -> None:
    cases = [
        ("logFormat invalid", ml_values(logFormat="xml"), 'machineLifecycle.logFormat must be text or json, not "xml"'),
        ("port 0", ml_values(port=0), "machineLifecycle.port must be 1..65535, not 0"),
        ("service.port 70000", ml_values(service={"port": 70000}), "machineLifecycle.service.port must be 1..65535, not 70000"),
        ("replicas 0", ml_values(replicas=0), "machineLifecycle.replicas must be a whole number >= 1"),
        ("replicas 1.5", ml_values(replicas=1.5), "machineLifecycle.replicas must be a whole number >= 1"),
        ("workers 0", ml_values(workers=0), "machineLifecycle.workers must be a whole number 1..1024, not 0"),
        ("workers 2000", ml_values(workers=2000), "machineLifecycle.workers must be a whole number 1..1024, not 2000"),
        ("namespace invalid", ml_values(namespace="Shoot_NS"), 'machineLifecycle.namespace must be a namespace name (a lower-case DNS label), not "Shoot_NS"'),
        ("creationTimeout Go style", ml_values(creationTimeout="1.5m"),
         'machineLifecycle.creationTimeout must be a duration > 0 such as 5s, 3m or 1h30m, not "1.5m"'),
        ("retry.short 0s", ml_values(retry={"short": "0s"}), 'machineLifecycle.retry.short must be a duration > 0 such as 5s, 3m or 1h30m, not "0s"'),
        ("retry.long empty", ml_values(retry={"long": ""}), 'machineLifecycle.retry.long must be a duration > 0'),
        ("metalApi.timeout a number", ml_values(metalApi={"timeout": 30}), 'machineLifecycle.metalApi.timeout must be a duration > 0 such as 5s, 3m or 1h30m, not "30"'),
        ("leaseDuration invalid (2 replicas)", ml_values(replicas=2, leaderElection={"leaseDuration": "soon"}),
         'machineLifecycle.leaderElection.leaseDuration must be a duration > 0 such as 5s, 3m or 1h30m, not "soon"'),
        ("leaseName empty (2 replicas)", ml_values(replicas=2, leaderElection={"leaseName": ""}),
         'machineLifecycle.leaderElection.leaseName must be a Lease name (lower-case DNS subdomain), not ""'),
        ("leaderElection.namespace invalid", ml_values(replicas=2, leaderElection={"namespace": "a.b"}),
         'machineLifecycle.leaderElection.namespace must be a namespace name (a lower-case DNS label), not "a.b"'),
        ("grpcSocket.path relative", ml_values(grpcSocket={"enabled": True, "path": "driver.sock"}),
         'machineLifecycle.grpcSocket.path must be an absolute path of a socket in a directory of its own below /'),
        ("grpcSocket.path in /", ml_values(grpcSocket={"enabled": True, "path": "/driver.sock"}),
         'machineLifecycle.grpcSocket.path must be an absolute path of a socket in a directory of its own below /'),
        ("grpcSocket.path in /tmp", ml_values(grpcSocket={"enabled": True, "path": "/tmp/driver.sock"}),
         "machineLifecycle.grpcSocket.path: its directory /tmp would hide a directory of the image or another mount"),
        ("grpcSocket.path in /etc/metal-mesh/tls", ml_values(grpcSocket={"enabled": True, "path": "/etc/metal-mesh/tls/d.sock"}),
         "machineLifecycle.grpcSocket.path: its directory /etc/metal-mesh/tls would hide"),
        ("grpcSocket.path too long", ml_values(grpcSocket={"enabled": True, "path": "/run/" + "d" * 110 + ".sock"}),
         "machineLifecycle.grpcSocket.path is longer than a unix socket path may be (107 bytes)"),
        ("targetKubeconfig without key", ml_values(targetKubeconfig={"secretName": "shoot", "secretKey": ""}),
         "machineLifecycle.targetKubeconfig.secretKey must name the key of targetKubeconfig.secretName"),
        ("caSecret without key", ml_values(metalApi={"caSecret": "ca", "caSecretKey": " "}),
         "machineLifecycle.metalApi.caSecretKey must name the key of caSecret"),
        ("--auth none", ml_values(extraArgs=["--auth", "none"]), "machineLifecycle.extraArgs: --auth none is not allowed"),
    ]
    for what, values, message in cases:
        err = render_error(chart, values)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"machine-lifecycle {what}: rendering fails with {message!r}")


def check_ml_docs() -> None:
    chart_dir = ROOT / "helm" / "metal-mesh"
    readme = (chart_dir / "README.md").read_text()
    for needle in ["## What machine-lifecycle gets", "machineLifecycle.enabled", "machineLifecycle.namespace",
                   "machineLifecycle.targetKubeconfig.secretName", "--target-kubeconfig", "machineLifecycle.grpcSocket.enabled",
                   "--grpc-socket", "machineLifecycle.replicas", "--leader-elect", "--leader-elect-namespace", "POD_NAME",
                   "machineLifecycle.metalApi.caSecret", "METAL_API_CA_FILE", "metalAPIURL", "metalAPIHMac", "metalAPIKey",
                   "metal-mesh:machine-lifecycle:viewer", "metal-mesh:machine-lifecycle:editor", "/v1/machines",
                   "`machines/status` get/patch/update", "`nodes` get/list/watch/delete", "extraContainers", "build-image.sh",
                   "machineLifecycle.workers", "--creation-timeout", "--retry-short"]:
        C.check(needle in readme, f"README.md (machine-lifecycle) mentions {needle!r}")
    C.check("placeholder" not in readme.split("## Values")[1] if "## Values" in readme else False,
            "README values table: no placeholder switch left")
    values_text = (chart_dir / "values.yaml").read_text()
    for needle in ["machineLifecycle:", "targetKubeconfig:", "grpcSocket:", "path: /run/machine-lifecycle/driver.sock",
                   "leaseName: machine-lifecycle", "workers: 16", "creationTimeout: 20m", "short: 5s", "medium: 3m", "long: 10m",
                   "timeout: 30s", "extraContainers: []"]:
        C.check(needle in values_text, f"values.yaml documents {needle!r}")
    vals = yaml.safe_load(values_text)["machineLifecycle"]
    C.check(vals["enabled"] is False and vals["replicas"] == 1 and vals["namespace"] == "" and vals["port"] == 8080
            and vals["grpcSocket"]["enabled"] is False and vals["targetKubeconfig"] == {"secretName": "", "secretKey": "kubeconfig"},
            "values: machineLifecycle off, 1 replica, namespace '' (the release's), port 8080, no gRPC socket, no target kubeconfig")


# --------------------------------------------------------------------------------------------
# TLS, delegated auth, access roles and NetworkPolicies of every service

def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with over merged in, maps merged recursively (as Helm merges values)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def all_services(**over: Any) -> dict[str, Any]:
    """Values with every service on (lb-allocator wired to the embedded metal-api, gardener-webhooks
    for a garden and a seed at once, machine-lifecycle with its defaults), merged with over."""
    base = {"lbAllocator": dict(LB_REQUIRED), "ruleCompiler": {"enabled": True}, "volumeManager": {"enabled": True},
            "gardenerWebhooks": {"garden": {"enabled": True}, "seed": {"enabled": True}},
            "machineLifecycle": {"enabled": True}}
    return deep_merge(base, over)


SERVICE_KEYS = {"metal-api": "metalApi", "lb-allocator": "lbAllocator", "rule-compiler": "ruleCompiler", "volume-manager": "volumeManager",
                "gardener-webhooks": "gardenerWebhooks", "machine-lifecycle": "machineLifecycle"}
# The API port of every service with its defaults (container port `https`).
SERVICE_PORTS = {"metal-api": 8080, "lb-allocator": 8080, "rule-compiler": 8084, "volume-manager": 8083, "gardener-webhooks": 9443,
                 "machine-lifecycle": 8080}

# The access ClusterRoles, exactly: one rule per verb (verbs in alphabetical order), each with
# its nonResourceURLs sorted.
LB_GET = {"nonResourceURLs": ["/metrics", "/v1/loadbalancers", "/v1/metallb", "/v1/nodes/*"], "verbs": ["get"]}
RC_RULES = [{"nonResourceURLs": ["/v1/compile"], "verbs": ["create"]},
            {"nonResourceURLs": ["/metrics", "/v1/ruleset", "/v1/status"], "verbs": ["get"]}]
VM_RULES = [{"nonResourceURLs": ["/metrics", "/v1/capacity", "/v1/snapshots", "/v1/volumegroups", "/v1/volumes"], "verbs": ["get"]}]
API_RULES = [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
# gardener-webhooks: its two REST paths are pure computations (POST: create), for viewers too.
GW_RULES = [{"nonResourceURLs": ["/v1/default/shoot", "/v1/render/ignition", "/v1/validate/shoot"], "verbs": ["create"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
# machine-lifecycle: viewers list the Machines; editors also allocate (POST) and free (DELETE).
ML_GET = {"nonResourceURLs": ["/metrics", "/v1/machines"], "verbs": ["get"]}
ML_ACCESS = {"viewer": [ML_GET],
             "editor": [{"nonResourceURLs": ["/v1/machines"], "verbs": ["create"]},
                        {"nonResourceURLs": ["/v1/machines/*"], "verbs": ["delete"]}, ML_GET]}
ACCESS_ROLES = {
    "metal-api": {"viewer": API_RULES, "editor": API_RULES},
    "lb-allocator": {
        "viewer": [LB_GET],
        "editor": [{"nonResourceURLs": ["/v1/loadbalancers"], "verbs": ["create"]},
                   {"nonResourceURLs": ["/v1/loadbalancers/*"], "verbs": ["delete"]}, LB_GET],
    },
    "rule-compiler": {"viewer": RC_RULES, "editor": RC_RULES},
    "volume-manager": {"viewer": VM_RULES, "editor": VM_RULES},
    "gardener-webhooks": {"viewer": GW_RULES, "editor": GW_RULES},
    "machine-lifecycle": ML_ACCESS,
}


def tls_secrets(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret" and d.get("type") == "kubernetes.io/tls"}


def access_roles(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] == "ClusterRole" and is_access_role(d)}


def ca_volume(docs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """lb-allocator's metal-api CA volume (its secret) and METAL_API_CA_FILE."""
    dep = one(docs, "Deployment", LB_NAME)
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    return vols.get("metal-api-ca", {}).get("secret"), plain_env(container(dep)).get("METAL_API_CA_FILE")


def check_self_signed_secrets(docs: list[dict[str, Any]], label: str, components: list[str], days: int = 3650,
                              domain: str = "cluster.local") -> None:
    """The release CA and one serving certificate per component, parsed: SANs, chain, keys."""
    secrets = tls_secrets(docs)
    want = sorted([CA_NAME] + [f"{SERVICE_NAMES[c]}-tls" for c in components])
    C.check(sorted(secrets) == want, f"[{label}] kubernetes.io/tls Secrets: exactly the release CA and {', '.join(want[1:])}")
    ca_secret = secrets.get(CA_NAME)
    if not ca_secret:
        return
    ca = Cert(b64(ca_secret, "tls.crt"))
    C.check(sorted(ca_secret["data"]) == ["ca.crt", "tls.crt", "tls.key"] and b64(ca_secret, "ca.crt") == b64(ca_secret, "tls.crt")
            and ca_secret["metadata"]["labels"].get("app.kubernetes.io/component") == "tls",
            f"[{label}] CA Secret {CA_NAME}: tls.crt, tls.key, ca.crt (= tls.crt), component label tls")
    C.check(ca.is_ca and ca.matches_key(b64(ca_secret, "tls.key")) and abs(ca.validity_days - days) <= 1,
            f"[{label}] the CA ({CERT_TOOL}): basicConstraints CA:TRUE, its key matches, valid {days} days")
    seen = set()
    for comp in components:
        name = SERVICE_NAMES[comp]
        s = secrets.get(f"{name}-tls")
        if not s:
            continue
        cert = Cert(b64(s, "tls.crt"))
        seen.add(cert.fingerprint)
        C.check(sorted(s["data"]) == ["ca.crt", "tls.crt", "tls.key"] and s["metadata"]["namespace"] == NAMESPACE
                and s["metadata"]["labels"].get("app.kubernetes.io/component") == comp,
                f"[{label}] {name}-tls: kubernetes.io/tls with tls.crt, tls.key, ca.crt; {comp}'s labels")
        sans = expected_sans(comp, domain)
        if sorted(cert.dns) != sorted(sans) or cert.ips != ["127.0.0.1"]:
            print(f"        got: DNS {cert.dns} IP {cert.ips}")
        C.check(sorted(cert.dns) == sorted(sans) and cert.ips == ["127.0.0.1"],
                f"[{label}] {comp} certificate SANs exactly DNS {', '.join(sans)} and IP 127.0.0.1")
        C.check(cert.cn == name and not cert.is_ca and cert.server_auth,
                f"[{label}] {comp} certificate: CN {name}, not a CA, extended key usage server auth")
        C.check(cert.signed_by(ca) and b64(s, "ca.crt") == ca.pem,
                f"[{label}] {comp} certificate is signed by the release CA, whose certificate is its ca.crt")
        C.check(cert.matches_key(b64(s, "tls.key")) and abs(cert.validity_days - days) <= 1,
                f"[{label}] {comp}: tls.key is the certificate's key; valid {days} days")
    C.check(len(seen) == len(components), f"[{label}] every service has a certificate of its own")


def check_tls_self_signed(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = all_services()
    lint(chart_dir, values, "all services, self-signed TLS", kv)
    rendered = render(chart, values)
    docs = docs_of(rendered)
    vm_validate(docs, "all services, self-signed TLS", kv)
    C.check(CERT_TOOL is not None, f"certificates are parsed with {CERT_TOOL}")
    check_self_signed_secrets(docs, "self-signed", list(SERVICE_NAMES))
    for comp, name in SERVICE_NAMES.items():
        check_server_tls(docs, comp, "self-signed", f"{name}-tls")
    C.check(not any(d["kind"] == "Certificate" for d in docs), "[self-signed] no cert-manager Certificate")
    svcs = [d for d in docs if d["kind"] == "Service"]
    C.check(len(svcs) == 6 and all([(p["name"], p["targetPort"]) for p in s["spec"]["ports"]] == [("https", "https")] for s in svcs),
            "[self-signed] every Service (metal-api, its headless one, lb-allocator, rule-compiler, gardener-webhooks, machine-lifecycle) "
            "has the one port https -> https")
    for comp in SERVICE_NAMES:
        c = next(x for x in workload(docs, comp)["spec"]["template"]["spec"]["containers"] if x["name"] == comp)
        C.check({p["name"]: p["containerPort"] for p in c["ports"]} == {"https": SERVICE_PORTS[comp]},
                f"[self-signed] {comp}: container port https {SERVICE_PORTS[comp]}")
    # Only the enabled services get a certificate: metal-api alone by default.
    check_self_signed_secrets(docs_of(render(chart, {})), "default values", ["metal-api"])
    check_self_signed_secrets(docs_of(render(chart, {"metalApi": {"enabled": False}, "ruleCompiler": {"enabled": True}})),
                              "rule-compiler alone", ["rule-compiler"])
    # validityDays and clusterDomain.
    docs = docs_of(render(chart, all_services(tls={"validityDays": 30, "clusterDomain": "example.internal"})))
    check_self_signed_secrets(docs, "validityDays 30, clusterDomain example.internal", list(SERVICE_NAMES), days=30,
                              domain="example.internal")
    cases = [
        ("validityDays 0", {"tls": {"validityDays": 0}}, "tls.validityDays must be a whole number of days > 0"),
        ("clusterDomain invalid", {"tls": {"clusterDomain": "Cluster_Local"}}, "tls.clusterDomain must be a DNS domain"),
    ]
    for what, vals, message in cases:
        err = render_error(chart, vals)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_tls_existing(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    user = {comp: f"my-{comp}-tls" for comp in SERVICE_NAMES}
    values = all_services(**{SERVICE_KEYS[comp]: {"tls": {"existingSecret": name}} for comp, name in user.items()})
    values = deep_merge(values, {"gardenerWebhooks": {"caBundle": some_ca_pem(chart).decode()}})  # required with existingSecret
    lint(chart_dir, values, "every service with tls.existingSecret", kv[-1:])
    docs = docs_of(render(chart, values))
    vm_validate(docs, "every service with tls.existingSecret", kv)
    C.check(not tls_secrets(docs) and not any(d["kind"] == "Certificate" for d in docs),
            "[existingSecret] every service has its own Secret: no CA, no TLS Secret, no Certificate rendered")
    for comp, name in user.items():
        check_server_tls(docs, comp, "existingSecret", name)
    secret, env = ca_volume(docs)
    C.check(secret == {"secretName": user["metal-api"], "defaultMode": 0o444, "items": [{"key": "ca.crt", "path": "ca.crt"}]}
            and env == "/etc/metal-mesh/metal-api-ca/ca.crt",
            f"[existingSecret] lb-allocator trusts ca.crt of metal-api's Secret {user['metal-api']} (METAL_API_CA_FILE)")
    # One service with its own Secret, the others self-signed.
    docs = docs_of(render(chart, all_services(lbAllocator={"tls": {"existingSecret": "lb-own"}})))
    check_self_signed_secrets(docs, "lb-allocator existingSecret, others self-signed",
                              ["metal-api", "rule-compiler", "volume-manager", "gardener-webhooks", "machine-lifecycle"])
    check_server_tls(docs, "lb-allocator", "lb-allocator existingSecret", "lb-own")
    check_server_tls(docs, "rule-compiler", "lb-allocator existingSecret", f"{RC_NAME}-tls")
    # existingSecret wins over cert-manager too.
    docs = docs_of(render(chart, all_services(tls={"certManager": True, "issuerRef": {"name": "mesh-ca"}},
                                              volumeManager={"tls": {"existingSecret": "vm-own"}})))
    C.check(sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Certificate") == sorted([API_NAME, LB_NAME, RC_NAME, GW_NAME, ML_NAME]),
            "[certManager + volumeManager.tls.existingSecret] Certificates for the others only")
    check_server_tls(docs, "volume-manager", "certManager + existingSecret", "vm-own")


def check_tls_cert_manager(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = all_services(tls={"certManager": True, "issuerRef": {"name": "mesh-ca", "kind": "ClusterIssuer"},
                               "duration": "2160h", "renewBefore": "360h"})
    lint(chart_dir, values, "tls.certManager", kv)
    docs = docs_of(render(chart, values))
    vm_validate(docs, "tls.certManager", kv)
    certs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Certificate"}
    C.check(sorted(certs) == sorted(SERVICE_NAMES.values()), "[certManager] one Certificate per service, named like its Service")
    C.check(not tls_secrets(docs), "[certManager] no CA and no TLS Secret of the chart's own (cert-manager writes them)")
    for comp, name in SERVICE_NAMES.items():
        cert = certs.get(name, {})
        spec = cert.get("spec", {})
        C.check(cert.get("apiVersion") == "cert-manager.io/v1" and cert["metadata"].get("namespace") == NAMESPACE
                and cert["metadata"]["labels"].get("app.kubernetes.io/component") == comp,
                f"[certManager] Certificate {name}: cert-manager.io/v1, release namespace, {comp}'s labels")
        C.check(spec.get("secretName") == f"{name}-cert-manager-tls", f"[certManager] {comp}: cert-manager writes the Secret {name}-cert-manager-tls")
        C.check(sorted(spec.get("dnsNames", [])) == sorted(expected_sans(comp)) and spec.get("ipAddresses") == ["127.0.0.1"]
                and spec.get("commonName") == name,
                f"[certManager] {comp}: dnsNames {', '.join(expected_sans(comp))}, ipAddresses 127.0.0.1, commonName {name}")
        C.check(spec.get("issuerRef") == {"name": "mesh-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
                f"[certManager] {comp}: issuerRef {{name: mesh-ca, kind: ClusterIssuer, group: cert-manager.io}}")
        C.check("server auth" in spec.get("usages", []) and spec.get("duration") == "2160h" and spec.get("renewBefore") == "360h",
                f"[certManager] {comp}: usages include server auth; duration 2160h, renewBefore 360h")
        check_server_tls(docs, comp, "certManager", f"{name}-cert-manager-tls")
    secret, env = ca_volume(docs)
    C.check(secret is not None and secret.get("secretName") == f"{API_NAME}-cert-manager-tls"
            and secret.get("items") == [{"key": "ca.crt", "path": "ca.crt"}] and env == "/etc/metal-mesh/metal-api-ca/ca.crt",
            "[certManager] lb-allocator trusts ca.crt of metal-api's cert-manager Secret")
    # Defaults of the issuer reference; no duration fields without values.
    docs = docs_of(render(chart, {"tls": {"certManager": True, "issuerRef": {"name": "mesh-ca"}}}))
    validate(docs, "tls.certManager, issuer defaults", kv[-1:])
    spec = one(docs, "Certificate", API_NAME)["spec"]
    C.check(spec["issuerRef"] == {"name": "mesh-ca", "kind": "Issuer", "group": "cert-manager.io"}
            and "duration" not in spec and "renewBefore" not in spec,
            "[certManager] issuerRef kind defaults to Issuer, group cert-manager.io; no duration/renewBefore unless set")
    C.check(sorted(d["metadata"]["name"] for d in docs if d["kind"] == "Certificate") == [API_NAME],
            "[certManager] only the enabled services get a Certificate (metal-api alone by default)")
    cases = [
        ("certManager without issuerRef.name", {"tls": {"certManager": True}},
         "tls.issuerRef.name is required with tls.certManager=true"),
        ("certManager with a blank issuerRef.name", all_services(tls={"certManager": True, "issuerRef": {"name": "  "}}),
         "tls.issuerRef.name is required with tls.certManager=true"),
        ("issuerRef.kind invalid", {"tls": {"certManager": True, "issuerRef": {"name": "x", "kind": "Vault"}}},
         'tls.issuerRef.kind must be Issuer or ClusterIssuer, not "Vault"'),
    ]
    for what, vals, message in cases:
        err = render_error(chart, vals)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_tls_client_ca(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = all_services(tls={"clientCaSecret": "mesh-client-ca"})
    lint(chart_dir, values, "tls.clientCaSecret", kv[-1:])
    docs = docs_of(render(chart, values))
    vm_validate(docs, "tls.clientCaSecret", kv[-1:])
    for comp, name in SERVICE_NAMES.items():
        check_server_tls(docs, comp, "clientCaSecret", f"{name}-tls", client_ca="mesh-client-ca")
    C.check(not any(d["kind"] == "Secret" and d["metadata"]["name"] == "mesh-client-ca" for d in docs),
            "[clientCaSecret] the client CA Secret is the user's: not rendered")


def check_auth_flags(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    values = all_services(auth={"cacheTtl": "90s", "reviewTimeout": "3s"}, metrics={"open": True})
    lint(chart_dir, values, "auth.cacheTtl, auth.reviewTimeout, metrics.open", kv[-1:])
    docs = docs_of(render(chart, values))
    vm_validate(docs, "auth.cacheTtl, auth.reviewTimeout, metrics.open", kv[-1:])
    for comp, name in SERVICE_NAMES.items():
        check_server_tls(docs, comp, "auth flags", f"{name}-tls", cache_ttl="90s", review_timeout="3s", metrics_open=True)
    docs = docs_of(render(chart, all_services(metrics={"open": True})))
    for comp, name in SERVICE_NAMES.items():
        check_server_tls(docs, comp, "metrics.open only", f"{name}-tls", metrics_open=True)
    vals = chart.values
    C.check(vals["auth"] == {"cacheTtl": "", "reviewTimeout": ""} and vals["metrics"] == {"open": False},
            "values: auth.cacheTtl and auth.reviewTimeout empty (the binary's defaults), metrics.open false")
    cases = [
        ("metalApi --auth none", {"metalApi": {"extraArgs": ["--auth", "none"]}}, "metalApi.extraArgs: --auth none is not allowed"),
        ("lbAllocator --auth=none", all_services(lbAllocator={"extraArgs": ["--auth=none"]}), "lbAllocator.extraArgs: --auth none is not allowed"),
        ("ruleCompiler --auth none", all_services(ruleCompiler={"extraArgs": ["--auth", "none"]}), "ruleCompiler.extraArgs: --auth none is not allowed"),
        ("volumeManager --auth=none", all_services(volumeManager={"extraArgs": ["--auth=none"]}), "volumeManager.extraArgs: --auth none is not allowed"),
        ("gardenerWebhooks --auth none", all_services(gardenerWebhooks={"extraArgs": ["--auth", "none"]}),
         "gardenerWebhooks.extraArgs: --auth none is not allowed"),
        ("machineLifecycle --auth=none", all_services(machineLifecycle={"extraArgs": ["--auth=none"]}),
         "machineLifecycle.extraArgs: --auth none is not allowed"),
    ]
    for what, v, message in cases:
        err = render_error(chart, v)
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


def check_service_accounts(chart: "helm.Chart") -> None:
    docs = docs_of(render(chart, all_services(metalApi={"serviceAccount": {"annotations": {"example.com/team": "metal"}}})))
    for comp, name in SERVICE_NAMES.items():
        sa = one(docs, "ServiceAccount", name)
        pod = workload(docs, comp)["spec"]["template"]["spec"]
        C.check(sa["metadata"]["namespace"] == NAMESPACE and pod.get("serviceAccountName") == name
                and pod.get("automountServiceAccountToken") is True,
                f"{comp}: ServiceAccount {name}, its pod runs as it with automountServiceAccountToken true")
        check_auth_delegator(docs, comp, "all services")
    delegators = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"
                        and d["roleRef"]["name"] == "system:auth-delegator")
    C.check(delegators == sorted(f"{n}-auth-delegator" for n in SERVICE_NAMES.values()),
            "exactly one system:auth-delegator ClusterRoleBinding per service")
    C.check(one(docs, "ServiceAccount", API_NAME)["metadata"].get("annotations") == {"example.com/team": "metal"},
            "metalApi.serviceAccount.annotations applied")
    docs = docs_of(render(chart, {"metalApi": {"enabled": False}, "ruleCompiler": {"enabled": True}}))
    C.check([d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"] == [RC_NAME]
            and [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "system:auth-delegator"]
            == [f"{RC_NAME}-auth-delegator"],
            "only enabled services get a ServiceAccount and an auth-delegator binding (rule-compiler alone)")


def check_access_roles(chart: "helm.Chart", kv: list[str]) -> None:
    docs = docs_of(render(chart, all_services()))
    roles_ = access_roles(docs)
    want = {f"metal-mesh:{comp}:{cap}": rules for comp, caps in ACCESS_ROLES.items() for cap, rules in caps.items()}
    C.check(sorted(roles_) == sorted(want), f"all services: exactly the ClusterRoles {', '.join(sorted(want))}")
    for name, rules in want.items():
        got = roles_.get(name)
        if got != rules:
            print(f"        got: {got}")
        desc = "; ".join(f"{r['verbs'][0]} {' '.join(r['nonResourceURLs'])}" for r in rules)
        C.check(got == rules, f"ClusterRole {name}: exactly {desc}")
    for d in docs:
        if d["kind"] == "ClusterRole" and is_access_role(d):
            comp = d["metadata"]["name"].split(":")[1]
            verbs = [r["verbs"] for r in d["rules"]]
            C.check(all(set(r) == {"nonResourceURLs", "verbs"} and len(r["verbs"]) == 1 and r["nonResourceURLs"] == sorted(r["nonResourceURLs"])
                        for r in d["rules"]) and len(verbs) == len({v[0] for v in verbs})
                    and d["metadata"]["labels"].get("app.kubernetes.io/component") == comp and "namespace" not in d["metadata"],
                    f"{d['metadata']['name']}: one rule per verb, nonResourceURLs only and sorted; {comp}'s labels, cluster-scoped")
    cases = [
        ("default values (metal-api only)", {}, ["metal-api"]),
        ("lb-allocator only", {"metalApi": {"enabled": False},
                               "lbAllocator": dict(LB_REQUIRED, metalApi={"url": "https://api.example.com", "auth": {"token": "t"}})}, ["lb-allocator"]),
        ("rule-compiler only", {"metalApi": {"enabled": False}, "ruleCompiler": {"enabled": True}}, ["rule-compiler"]),
        ("volume-manager only", {"metalApi": {"enabled": False}, "volumeManager": {"enabled": True}}, ["volume-manager"]),
        ("metal-api and volume-manager", {"volumeManager": {"enabled": True}}, ["metal-api", "volume-manager"]),
        ("gardener-webhooks only (garden)", {"metalApi": {"enabled": False}, "gardenerWebhooks": {"garden": {"enabled": True}}},
         ["gardener-webhooks"]),
        ("gardener-webhooks only (seed)", {"metalApi": {"enabled": False}, "gardenerWebhooks": {"seed": {"enabled": True}}},
         ["gardener-webhooks"]),
        ("machine-lifecycle only", {"metalApi": {"enabled": False}, "machineLifecycle": {"enabled": True}}, ["machine-lifecycle"]),
        ("metal-api and machine-lifecycle (2 replicas)", {"machineLifecycle": {"enabled": True, "replicas": 2}},
         ["metal-api", "machine-lifecycle"]),
    ]
    for what, values, comps in cases:
        got = access_roles(docs_of(render(chart, values)))
        exp = {f"metal-mesh:{c}:{cap}": ACCESS_ROLES[c][cap] for c in comps for cap in ("viewer", "editor")}
        C.check(got == exp, f"{what}: the access ClusterRoles of the enabled services only ({', '.join(sorted(exp))})")
    docs = docs_of(render(chart, all_services(rbac={"accessRoles": False})))
    C.check(not access_roles(docs) and len([d for d in docs if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "system:auth-delegator"])
            == len(SERVICE_NAMES),
            "rbac.accessRoles=false: no access ClusterRole (the auth-delegator bindings stay)")
    C.check(chart.values["rbac"] == {"accessRoles": True, "bindings": []}, "values: rbac.accessRoles true, rbac.bindings []")


def check_rbac_bindings(chart: "helm.Chart", kv: list[str]) -> None:
    bindings = [
        {"role": "lb-allocator:editor", "name": "ops", "users": ["alice"], "groups": ["metal-ops"],
         "serviceAccounts": [{"namespace": "ci", "name": "deployer"}, {"name": "local-sa"}]},
        {"role": "metal-mesh:metal-api:viewer", "serviceAccounts": [{"namespace": "monitoring", "name": "prometheus"}]},
        {"role": "rule-compiler:viewer", "name": "fw-readers", "groups": ["fw"]},
    ]
    docs = docs_of(render(chart, all_services(rbac={"bindings": bindings})))
    vm_validate(docs, "rbac.bindings", kv)
    crbs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRoleBinding" and is_access_role(d)}
    C.check(sorted(crbs) == ["metal-mesh:lb-allocator:editor:ops", "metal-mesh:metal-api:viewer:1", "metal-mesh:rule-compiler:viewer:fw-readers"],
            "rbac.bindings: ClusterRoleBindings metal-mesh:<role>:<name> (name defaults to the entry's index)")
    ops = crbs.get("metal-mesh:lb-allocator:editor:ops", {})
    C.check(ops.get("roleRef") == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metal-mesh:lb-allocator:editor"}
            and ops.get("subjects") == [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "metal-ops"},
                {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"},
                {"kind": "ServiceAccount", "name": "local-sa", "namespace": NAMESPACE}],
            "binding ops: metal-mesh:lb-allocator:editor to User alice, Group metal-ops, ServiceAccounts ci/deployer and "
            f"{NAMESPACE}/local-sa (namespace defaults to the release's)")
    mon = crbs.get("metal-mesh:metal-api:viewer:1", {})
    C.check(mon.get("roleRef", {}).get("name") == "metal-mesh:metal-api:viewer"
            and mon.get("subjects") == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]
            and mon["metadata"]["labels"].get("app.kubernetes.io/component") == "metal-api",
            "role given as metal-mesh:metal-api:viewer: bound to monitoring/prometheus, metal-api's labels")
    C.check(all(d["roleRef"]["name"] in access_roles(docs) for d in crbs.values()), "every binding refers to a rendered access ClusterRole")
    C.check(not any(d["kind"] == "ClusterRoleBinding" and is_access_role(d) for d in docs_of(render(chart, all_services()))),
            "no rbac.bindings: no access ClusterRoleBinding")
    cases = [
        ("unknown role", [{"role": "lb-allocator:admin", "users": ["a"]}], 'rbac.bindings[0].role must be one of'),
        ("no subject", [{"role": "lb-allocator:viewer"}], "rbac.bindings[0] (lb-allocator:viewer) has no subject"),
        ("same name twice", [{"role": "metal-api:viewer", "name": "x", "users": ["a"]}, {"role": "metal-api:viewer", "name": "x", "users": ["b"]}],
         "rbac.bindings[1]: the ClusterRoleBinding metal-mesh:metal-api:viewer:x is rendered twice"),
        ("name not a DNS label", [{"role": "metal-api:viewer", "name": "Ops!", "users": ["a"]}], "rbac.bindings[0].name must be a lower-case DNS label"),
        ("serviceAccount without name", [{"role": "metal-api:viewer", "serviceAccounts": [{"namespace": "x"}]}],
         "rbac.bindings[0].serviceAccounts[0] must be a map {namespace, name} with a name"),
        ("entry not a map", ["metal-api:viewer"], "rbac.bindings[0] must be a map"),
    ]
    for what, b, message in cases:
        err = render_error(chart, all_services(rbac={"bindings": b}))
        if err is not None and message not in err:
            print(f"        got: {err}")
        C.check(fails_with(err, message), f"rbac.bindings {what}: rendering fails with {message!r}")


def check_network_policies(chart: "helm.Chart", kv: list[str]) -> None:
    docs = docs_of(render(chart, all_services()))
    nps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    C.check(sorted(nps) == sorted(SERVICE_NAMES.values()), "networkPolicy.enabled (default): one NetworkPolicy per service")
    want_ports = {"metal-api": [8080], "lb-allocator": [8080], "rule-compiler": [8084], "volume-manager": [8083, 9898],
                  "gardener-webhooks": [9443], "machine-lifecycle": [8080]}
    for comp, name in SERVICE_NAMES.items():
        np_ = nps.get(name, {"spec": {}, "metadata": {"labels": {}}})
        w = workload(docs, comp)
        c = next(x for x in w["spec"]["template"]["spec"]["containers"] if x["name"] == comp)
        C.check(np_["spec"].get("podSelector") == {"matchLabels": w["spec"]["selector"]["matchLabels"]}
                and np_["spec"].get("policyTypes") == ["Ingress"] and "egress" not in np_["spec"]
                and np_["metadata"]["labels"].get("app.kubernetes.io/component") == comp,
                f"NetworkPolicy {name}: selects the {comp} pods, Ingress only")
        ports = [{"protocol": "TCP", "port": p} for p in want_ports[comp]]
        C.check(np_["spec"].get("ingress") == [{"ports": ports}],
                f"NetworkPolicy {name}: from any source (networkPolicy.from empty), only TCP {', '.join(map(str, want_ports[comp]))}")
        C.check(want_ports[comp][0] == next(p["containerPort"] for p in c["ports"] if p["name"] == "https"),
                f"NetworkPolicy {name}: its first port is the container's https port")
    _, cs = vm_pod(docs)
    C.check(cs["livenessprobe"]["ports"][0]["containerPort"] == 9898, "volume-manager's second port is the livenessprobe sidecar's healthPort")
    docs = docs_of(render(chart, all_services(networkPolicy={"enabled": False})))
    C.check(not any(d["kind"] == "NetworkPolicy" for d in docs), "networkPolicy.enabled=false: no NetworkPolicy")
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}, {"ipBlock": {"cidr": "10.0.0.0/8"}}]
    docs = docs_of(render(chart, all_services(networkPolicy={"from": peers})))
    validate([d for d in docs if d["kind"] == "NetworkPolicy"], "networkPolicy.from", kv)
    nps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    lb_sel = one(docs, "Deployment", LB_NAME)["spec"]["selector"]["matchLabels"]
    for comp, name in SERVICE_NAMES.items():
        rule = nps[name]["spec"]["ingress"]
        want_from = peers + ([{"podSelector": {"matchLabels": lb_sel}}] if comp == "metal-api" else [])
        C.check(len(rule) == 1 and rule[0].get("from") == want_from and [p["port"] for p in rule[0]["ports"]] == want_ports[comp],
                f"networkPolicy.from: {name} admits only the given peers{' and this release’s lb-allocator pods' if comp == 'metal-api' else ''}, same ports")
    docs = docs_of(render(chart, {"networkPolicy": {"from": peers}}))
    C.check(one(docs, "NetworkPolicy", API_NAME)["spec"]["ingress"][0]["from"] == peers,
            "networkPolicy.from without lb-allocator: metal-api admits the given peers only")
    docs = docs_of(render(chart, all_services(ruleCompiler={"dnsListen": "10.0.16.1:53"},
                                              volumeManager={"port": 9443, "sidecars": {"livenessprobe": {"healthPort": 9899}}})))
    nps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    C.check(nps[RC_NAME]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8084}, {"protocol": "UDP", "port": 53},
                                                            {"protocol": "TCP", "port": 53}],
            "rule-compiler with dnsListen: its API port plus the DNS proxy's port over UDP and TCP")
    C.check(nps[VM_NAME]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9443}, {"protocol": "TCP", "port": 9899}],
            "volume-manager: follows port (9443) and the livenessprobe healthPort (9899)")
    C.check(chart.values["networkPolicy"] == {"enabled": True, "from": []}, "values: networkPolicy.enabled true, networkPolicy.from []")


def check_lb_metal_api_tls(chart: "helm.Chart", kv: list[str]) -> None:
    docs = docs_of(render(chart, {"metalApi": {"service": {"port": 8443}}, "lbAllocator": LB_REQUIRED}))
    secret, env = ca_volume(docs)
    c = container(one(docs, "Deployment", LB_NAME))
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    C.check(plain_env(c).get("METAL_API_URL") == f"https://{API_NAME}:8443", "embedded metal-api: METAL_API_URL https://<metal-api Service>:<its port>")
    C.check(env == "/etc/metal-mesh/metal-api-ca/ca.crt" and secret == {"secretName": f"{API_NAME}-tls", "defaultMode": 0o444,
                                                                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}
            and mounts.get("metal-api-ca", {}).get("mountPath") == "/etc/metal-mesh/metal-api-ca" and mounts["metal-api-ca"].get("readOnly") is True,
            "embedded metal-api: METAL_API_CA_FILE=/etc/metal-mesh/metal-api-ca/ca.crt, only ca.crt of metal-api's TLS Secret, read-only")
    C.check("--metal-api-ca-file" not in c["args"], "the CA is passed as METAL_API_CA_FILE (the env form of --metal-api-ca-file), not twice")
    # A CA of the user's, for the embedded metal-api or a URL of its own.
    for what, api in [("embedded metal-api", {"caSecret": "corp-ca", "caSecretKey": "bundle.pem"}),
                      ("own URL", {"url": "https://api.example.com/metal", "auth": {"token": "t"}, "caSecret": "corp-ca", "caSecretKey": "bundle.pem"})]:
        docs = docs_of(render(chart, {"lbAllocator": dict(LB_REQUIRED, metalApi=api)}))
        validate([one(docs, "Deployment", LB_NAME)], f"lbAllocator.metalApi.caSecret, {what}", kv[-1:])
        secret, env = ca_volume(docs)
        C.check(env == "/etc/metal-mesh/metal-api-ca/bundle.pem"
                and secret == {"secretName": "corp-ca", "defaultMode": 0o444, "items": [{"key": "bundle.pem", "path": "bundle.pem"}]},
                f"lbAllocator.metalApi.caSecret ({what}): METAL_API_CA_FILE=/etc/metal-mesh/metal-api-ca/bundle.pem from corp-ca")
    docs = docs_of(render(chart, {"lbAllocator": dict(LB_REQUIRED, metalApi={"url": "https://api.example.com/metal", "auth": {"token": "t"}})}))
    C.check(ca_volume(docs) == (None, None), "own URL without caSecret: no METAL_API_CA_FILE (system roots)")
    err = render_error(chart, {"lbAllocator": dict(LB_REQUIRED, metalApi={"caSecret": "corp-ca", "caSecretKey": ""})})
    C.check(err is not None and "lbAllocator.metalApi.caSecretKey must name the key of caSecret" in err,
            "caSecret without caSecretKey: rendering fails with 'lbAllocator.metalApi.caSecretKey must name the key of caSecret'")


def check_tls_docs(chart: "helm.Chart") -> None:
    chart_dir = ROOT / "helm" / "metal-mesh"
    readme = (chart_dir / "README.md").read_text()
    for needle in ["## TLS, authentication and access", "tls.certManager", "tls.issuerRef", "existingSecret", "tls.clientCaSecret",
                   "--tls-client-ca-file", "`localhost`", "`127.0.0.1`", "--auth kubernetes", "auth.cacheTtl", "--auth-cache-ttl",
                   "auth.reviewTimeout", "--auth-review-timeout", "metrics.open", "--metrics-open", "system:auth-delegator",
                   "metal-mesh:lb-allocator:editor", "kubectl create clusterrolebinding", "--clusterrole=metal-mesh:lb-allocator:editor",
                   "--serviceaccount=", "--user=", "--group=", "create token", "--cacert", "Authorization: Bearer", "rbac.bindings",
                   "networkPolicy.from", "METAL_API_CA_FILE", "render_chart.py"]:
        C.check(needle in readme, f"README.md (TLS and access) mentions {needle!r}")
    rendered = render(chart, all_services())
    notes = next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")
    for needle in ["--cacert", "Authorization: Bearer $TOKEN", "create token", "create clusterrolebinding",
                   "--clusterrole=metal-mesh:lb-allocator:editor", f"https://{API_NAME}.{NAMESPACE}.svc:8080"]:
        C.check(needle in notes, f"NOTES (all services) mention {needle!r}")
    C.check("http://" not in notes and all(f"{n}-tls" in notes for n in SERVICE_NAMES.values()),
            "NOTES: no plain http:// URL; every service's CA comes from its TLS Secret")
    notes = next((v for k, v in render(chart, {"tls": {"certManager": True, "issuerRef": {"name": "x"}}}).items() if k.endswith("NOTES.txt")), "")
    C.check(f"{API_NAME}-cert-manager-tls" in notes, "NOTES (certManager): the CA comes from the cert-manager Secret")
    doc = (chart_dir / "docs" / "rule-compiler-systemd.md").read_text()
    for needle in ["--auth kubernetes --auth-kubeconfig F", "--auth static --auth-token-file F --auth-allow F",
                   "--auth-kubeconfig /etc/firewall-controller/.shoot-kubeconfig", "system:auth-delegator",
                   "metal-mesh:rule-compiler:viewer", "--metrics-open"]:
        C.check(needle in doc, f"docs/rule-compiler-systemd.md mentions {needle!r}")
    values_text = (chart_dir / "values.yaml").read_text()
    for needle in ["certManager:", "issuerRef:", "clientCaSecret:", "cacheTtl:", "reviewTimeout:", "open:", "accessRoles:",
                   "bindings:", "networkPolicy:", "caSecret:"]:
        C.check(needle in values_text, f"values.yaml documents {needle!r}")
    vals = chart.values
    C.check(vals["tls"]["certManager"] is False and vals["tls"]["issuerRef"] == {"name": "", "kind": "Issuer", "group": "cert-manager.io"}
            and vals["tls"]["clientCaSecret"] == "" and all(vals[k]["tls"]["existingSecret"] == "" for k in SERVICE_KEYS.values()),
            "values: tls.certManager false, issuerRef {name: '', kind: Issuer, group: cert-manager.io}, no clientCaSecret, no existingSecret")


def check_render_script(chart: "helm.Chart") -> None:
    script = ROOT / "integration" / "scripts" / "render_chart.py"

    def run(*args: str, python: list[str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*(python or [sys.executable]), str(script), *args], capture_output=True, text=True, check=False)

    out = run("--set", "lbAllocator.enabled=true", "--set", "lbAllocator.projectId=p", "--set", "lbAllocator.partitionId=fra-equ01",
              "--set", "lbAllocator.clusterId=c", "--set", "ruleCompiler.enabled=true", "--set", "volumeManager.enabled=true",
              "--set", "gardenerWebhooks.garden.enabled=true", "--set", "machineLifecycle.enabled=true")
    try:
        docs = json.loads(out.stdout)
    except ValueError:
        docs = None
        print(f"        stdout: {out.stdout[:300]!r} stderr: {out.stderr[:300]!r}")
    C.check(out.returncode == 0 and isinstance(docs, list) and all(isinstance(d, dict) and d.get("kind") for d in docs),
            "render_chart.py --set ...: exit 0, stdout is ONE JSON array of objects")
    docs = docs or []
    got = {d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].startswith("metal-mesh:")}
    want = {f"metal-mesh:{comp}:{cap}": rules for comp, caps in ACCESS_ROLES.items() for cap, rules in caps.items()}
    C.check(got == want, "render_chart.py: the access ClusterRoles of all six services, exactly as rendered by the chart")
    C.check(all(d["metadata"].get("namespace") in (None, NAMESPACE, "firewall", "metallb-system") for d in docs)
            and any(d["metadata"].get("namespace") == NAMESPACE for d in docs) and all(d["metadata"]["name"].startswith(RELEASE) or ":" in d["metadata"]["name"]
                                                                                      or d["kind"] in CLUSTER_KINDS or d["kind"] == "Role" for d in docs),
            "render_chart.py: release mesh, namespace metal-system by default")
    out = run("--release", "r2", "--namespace", "ns2", "--set", "ruleCompiler.enabled=true,ruleCompiler.port=9000",
              "--set", "networkPolicy.enabled=false", "--set", "metalApi.enabled=false", "--set", "ruleCompiler.hostNetwork=false")
    docs = json.loads(out.stdout) if out.returncode == 0 else []
    ds = [d for d in docs if d["kind"] == "DaemonSet"]
    C.check(out.returncode == 0 and len(ds) == 1 and ds[0]["metadata"] == dict(ds[0]["metadata"], name="r2-metal-mesh-rule-compiler", namespace="ns2")
            and ds[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 9000
            and "hostNetwork" not in ds[0]["spec"]["template"]["spec"]
            and not any(d["kind"] in ("NetworkPolicy", "StatefulSet") for d in docs),
            "render_chart.py --release/--namespace, dotted --set keys, ints (port=9000), true/false, comma-joined --set")
    out = run("--set-string", "lbAllocator.enabled=true")
    C.check(out.returncode == 1 and out.stdout == "" and "lbAllocator" in out.stderr,
            "render_chart.py: a failing render exits 1 with Helm's message on stderr, nothing on stdout")
    out = run(python=[sys.executable, "-S"])
    C.check(out.returncode == SKIP and "helm" in out.stderr and out.stdout == "",
            f"render_chart.py without the Python packages (python -S): exit {SKIP} with a message on stderr")


# --------------------------------------------------------------------------------------------
# lookup: generated keys and certificates survive an upgrade


class FakeKubeAPI(http.server.BaseHTTPRequestHandler):
    """Just enough of a kube-apiserver for Helm's `lookup`: discovery, and the Secrets in
    `secrets` (by name, in the release namespace); any other Secret is 404."""

    secrets: dict[str, dict[str, Any]] = {}
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
        prefix = f"/api/v1/namespaces/{NAMESPACE}/secrets/"
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
        elif path.startswith(prefix) and path[len(prefix):] in FakeKubeAPI.secrets:
            self._send(200, FakeKubeAPI.secrets[path[len(prefix):]])
        else:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": f"{path} not found"})


def render_upgrade(chart: "helm.Chart", values: dict[str, Any], cluster: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Renders an upgrade against the fake API server holding the Secrets `cluster`."""
    FakeKubeAPI.secrets = {name: strip_meta(s) for name, s in cluster.items()}
    FakeKubeAPI.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKubeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with helm.Config(kube_apiserver=url, namespace=NAMESPACE) as cfg:
            rendered = cfg.render(chart, values, name=RELEASE, namespace=NAMESPACE, is_upgrade=True, revision=2)
    finally:
        server.shutdown()
    return docs_of(rendered)


def ca_bundles(docs: list[dict[str, Any]]) -> set[bytes | None]:
    """The decoded caBundles of every webhook of the rendered configurations."""
    return {base64.b64decode(w["clientConfig"]["caBundle"]) if "caBundle" in w["clientConfig"] else None for w in all_webhooks(docs)}


def check_lookup(chart: "helm.Chart") -> None:
    values = all_services(metalApi={"hmac": {"adminKey": "given-admin"}})
    hmac = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": API_NAME, "namespace": NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in {"view-key": "kept-view", "edit-key": "kept-edit"}.items()},
    }
    # What a first install left in the cluster: a render of its own (fresh CA and certificates).
    installed = tls_secrets(docs_of(render(chart, values)))
    tls_names = [CA_NAME] + [f"{n}-tls" for n in SERVICE_NAMES.values()]
    C.check(sorted(installed) == sorted(tls_names), f"the first install generated the CA and {len(SERVICE_NAMES)} serving certificates")

    # 1. Upgrade with everything in the cluster: every Secret is kept as it is.
    docs = render_upgrade(chart, values, {API_NAME: hmac, **installed})
    requested = set(FakeKubeAPI.requests)
    C.check(all(f"/api/v1/namespaces/{NAMESPACE}/secrets/{n}" in requested for n in [API_NAME] + tls_names),
            f"upgrade render looked up the HMAC Secret, {CA_NAME} and the {len(SERVICE_NAMES)} serving-certificate Secrets (lookup)")
    keys = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", API_NAME)["data"].items()}
    C.check(keys.get("view-key") == "kept-view" and keys.get("edit-key") == "kept-edit",
            "generated HMAC keys already in the cluster are kept across an upgrade")
    C.check(keys.get("admin-key") == "given-admin", "a key given in values wins over the stored one")
    now = tls_secrets(docs)
    for name in tls_names:
        C.check(name in now and now[name]["data"] == installed[name]["data"],
                f"all present: {name} is kept as it is (same tls.crt, tls.key, ca.crt)")
    gw_tls = f"{GW_NAME}-tls"
    C.check(ca_bundles(docs) == {b64(installed[CA_NAME], "tls.crt")} == {b64(installed[gw_tls], "ca.crt")},
            "all present: every webhook's caBundle is the kept CA, which signed the kept gardener-webhooks certificate")

    # 2. lb-allocator's Secret is gone: only it is generated anew, signed by the kept CA.
    lb = f"{LB_NAME}-tls"
    docs = render_upgrade(chart, values, {API_NAME: hmac, **{n: s for n, s in installed.items() if n != lb}})
    now = tls_secrets(docs)
    C.check(all(now[n]["data"] == installed[n]["data"] for n in tls_names if n != lb),
            "lb-allocator's Secret absent: the CA and the other serving-certificate Secrets are kept as they are")
    ca = Cert(b64(installed[CA_NAME], "tls.crt"))
    fresh = Cert(b64(now[lb], "tls.crt"))
    C.check(b64(now[lb], "tls.crt") != b64(installed[lb], "tls.crt") and fresh.signed_by(ca)
            and b64(now[lb], "ca.crt") == ca.pem and fresh.matches_key(b64(now[lb], "tls.key"))
            and sorted(fresh.dns) == sorted(expected_sans("lb-allocator")),
            f"lb-allocator's Secret absent: a new certificate, signed by the kept CA (ca.crt = it), right SANs ({CERT_TOOL})")

    # 2b. gardener-webhooks' Secret is gone: a new certificate signed by the kept CA, which the
    # webhooks keep trusting.
    docs = render_upgrade(chart, values, {API_NAME: hmac, **{n: s for n, s in installed.items() if n != gw_tls}})
    now = tls_secrets(docs)
    fresh = Cert(b64(now[gw_tls], "tls.crt"))
    C.check(b64(now[gw_tls], "tls.crt") != b64(installed[gw_tls], "tls.crt") and fresh.signed_by(ca)
            and ca_bundles(docs) == {ca.pem},
            "gardener-webhooks' Secret absent: a new certificate signed by the kept CA; the caBundle stays that CA")

    # 3. Nothing in the cluster (a release whose Secrets were deleted): everything is new.
    docs = render_upgrade(chart, values, {})
    now = tls_secrets(docs)
    ca = Cert(b64(now[CA_NAME], "tls.crt"))
    C.check(sorted(now) == sorted(tls_names) and all(b64(now[n], "tls.crt") != b64(installed[n], "tls.crt") for n in tls_names),
            f"no Secret in the cluster: a new CA and {len(SERVICE_NAMES)} new certificates")
    C.check(all(Cert(b64(now[f"{n}-tls"], "tls.crt")).signed_by(ca) and b64(now[f"{n}-tls"], "ca.crt") == ca.pem for n in SERVICE_NAMES.values()),
            "no Secret in the cluster: every new certificate is signed by the new CA")
    C.check(ca_bundles(docs) == {ca.pem}, "no Secret in the cluster: every webhook's caBundle is the new CA (the same render's)")
    keys = {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", API_NAME)["data"].items()}
    C.check(len(keys["view-key"]) == 48 and len(keys["edit-key"]) == 48 and keys["admin-key"] == "given-admin",
            "no HMAC Secret in the cluster: view and edit keys newly generated, the given admin key used")

    # 4. Only the CA is gone: the serving Secrets found are still reused as they are.
    docs = render_upgrade(chart, values, {n: s for n, s in installed.items() if n != CA_NAME})
    now = tls_secrets(docs)
    C.check(b64(now[CA_NAME], "tls.crt") != b64(installed[CA_NAME], "tls.crt")
            and all(now[f"{n}-tls"]["data"] == installed[f"{n}-tls"]["data"] for n in SERVICE_NAMES.values()),
            "CA Secret absent: a new CA, but the existing serving-certificate Secrets are reused as they are")
    old_ca = Cert(b64(installed[CA_NAME], "tls.crt"))
    C.check(ca_bundles(docs) == {old_ca.pem} and Cert(b64(now[gw_tls], "tls.crt")).signed_by(old_ca)
            and old_ca.pem != b64(now[CA_NAME], "tls.crt"),
            "CA Secret absent: the webhooks' caBundle is the CA the kept gardener-webhooks certificate was issued with "
            "(its ca.crt), not the new release CA")

    # 5. cert-manager and existingSecret modes look nothing up for TLS.
    render_upgrade(chart, all_services(tls={"certManager": True, "issuerRef": {"name": "x"}}), {})
    C.check(not any(p.endswith(tuple(tls_names)) for p in FakeKubeAPI.requests),
            "certManager: no lookup of the CA or self-signed Secrets")


# --------------------------------------------------------------------------------------------
# values.schema.json, NOTES.txt, `helm test` hooks, checkov

# tests.image is an optional override (an image with curl); by default the chart's image runs mesh-probe.
TEST_IMAGE = {"repository": "curlimages/curl", "tag": "8.11.1"}
CA_PATH = "/etc/metal-mesh/ca/ca.crt"
# component -> (values key of its Service port, default port); volume-manager has no Service.
TESTED = {"metal-api": ("metalApi", ["service", "port"], 8080), "lb-allocator": ("lbAllocator", ["service", "port"], 8080),
          "rule-compiler": ("ruleCompiler", ["port"], 8084), "gardener-webhooks": ("gardenerWebhooks", ["service", "port"], 443),
          "machine-lifecycle": ("machineLifecycle", ["service", "port"], 8080)}


def everything(**over: Any) -> dict[str, Any]:
    """Every service on, plus the `helm test` Pods (the default: mesh-probe in the chart's image)."""
    return all_services(**deep_merge({"tests": {"enabled": True}}, over))


def schema_walk(schema: dict[str, Any], values: Any, path: str, out: list[str]) -> None:
    """Keys of values (recursively, through the maps the schema closes) missing from the schema."""
    if not isinstance(values, dict) or "properties" not in schema:
        return
    for k, v in values.items():
        sub = schema["properties"].get(k)
        if sub is None:
            out.append(f"{path}.{k}".lstrip("."))
        else:
            schema_walk(sub, v, f"{path}.{k}", out)


def closed_objects(schema: dict[str, Any], path: str = "") -> list[tuple[str, bool]]:
    """(path, additionalProperties is false) of every object with properties."""
    out = []
    if "properties" in schema:
        out.append((path or "(top level)", schema.get("additionalProperties") is False))
        for k, v in schema["properties"].items():
            out += closed_objects(v, f"{path}.{k}".lstrip("."))
    return out


def check_schema(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    schema_file = chart_dir / "values.schema.json"
    C.check(schema_file.is_file(), "values.schema.json exists")
    schema = json.loads(schema_file.read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    C.check(schema.get("$schema") == "http://json-schema.org/draft-07/schema#", "values.schema.json is JSON Schema draft-07")
    missing: list[str] = []
    schema_walk(schema, values, "", missing)
    C.check(not missing, f"every key of values.yaml is in the schema (missing: {missing})")
    objs = closed_objects(schema)
    open_ = [p for p, closed in objs if not closed]
    C.check(not open_, f"all {len(objs)} objects the chart owns have additionalProperties: false (open: {open_})")
    for key in ["metalApi", "lbAllocator", "ruleCompiler", "volumeManager", "gardenerWebhooks", "machineLifecycle", "tests"]:
        C.check(schema["properties"][key].get("additionalProperties") is False, f"schema: {key} is closed")
    # The free-form Kubernetes maps stay open, with the right type.
    free = {"commonLabels": "object", "metalApi.podLabels": "object", "metalApi.podAnnotations": "object",
            "metalApi.nodeSelector": "object", "metalApi.affinity": "object", "metalApi.tolerations": "array",
            "metalApi.resources": "object", "metalApi.extraEnv": "array", "lbAllocator.extraArgs": "array",
            "machineLifecycle.extraContainers": "array", "metalApi.service.annotations": "object",
            "networkPolicy.from": "array", "gardenerWebhooks.garden.defaults": "object"}
    for key, typ in free.items():
        node = schema
        for part in key.split("."):
            node = node["properties"][part]
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        C.check(typ in types and "properties" not in node and node.get("additionalProperties", True) is not False,
                f"schema: {key} stays open ({typ})")
    try:
        import jsonschema
    except ImportError:  # pragma: no cover
        jsonschema = None
    if jsonschema is not None:
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)]
        C.check(not errors, f"the default values.yaml validates against the schema (jsonschema {errors[:3]})")
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(deep_merge(values, everything()))]
        C.check(not errors, f"everything-enabled values validate against the schema (jsonschema {errors[:3]})")
    C.check(render_error(chart, {}) is None, "default values: render (helm template) passes the schema")
    C.check(render_error(chart, everything()) is None, "everything enabled (and tests): render passes the schema")
    lint(chart_dir, everything(), "everything enabled, tests", kv[:1])

    # (values, the key path the error must name, what)
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"metalAPI": {"enabled": True}}, "", "an unknown top-level key metalAPI: additional properties 'metalAPI'"),
        ({"image": {"repo": "x"}}, "/image", "unknown key image.repo"),
        ({"tls": {"certmanager": True}}, "/tls", "unknown key tls.certmanager"),
        ({"auth": {"cacheTTL": "2m"}}, "/auth", "unknown key auth.cacheTTL"),
        ({"rbac": {"accessRole": True}}, "/rbac", "unknown key rbac.accessRole"),
        ({"networkPolicy": {"enable": True}}, "/networkPolicy", "unknown key networkPolicy.enable"),
        ({"metalApi": {"replicas": 2}}, "/metalApi", "unknown key metalApi.replicas (single writer, on purpose)"),
        ({"metalApi": {"persistence": {"sizeGi": 1}}}, "/metalApi/persistence", "unknown nested key metalApi.persistence.sizeGi"),
        ({"lbAllocator": {"projectID": "p"}}, "/lbAllocator", "unknown key lbAllocator.projectID"),
        ({"lbAllocator": {"metalApi": {"auth": {"hmacKey": "k"}}}}, "/lbAllocator/metalApi/auth", "unknown nested key lbAllocator.metalApi.auth.hmacKey"),
        ({"ruleCompiler": {"hostNet": True}}, "/ruleCompiler", "unknown key ruleCompiler.hostNet"),
        ({"volumeManager": {"vgname": "x"}}, "/volumeManager", "unknown key volumeManager.vgname"),
        ({"volumeManager": {"sidecars": {"attacher": {}}}}, "/volumeManager/sidecars", "unknown nested key volumeManager.sidecars.attacher"),
        ({"gardenerWebhooks": {"replica": 3}}, "/gardenerWebhooks", "unknown key gardenerWebhooks.replica"),
        ({"gardenerWebhooks": {"seed": {"osController": {"worker": 3}}}}, "/gardenerWebhooks/seed/osController",
         "unknown nested key gardenerWebhooks.seed.osController.worker"),
        ({"machineLifecycle": {"nameSpace": "x"}}, "/machineLifecycle", "unknown key machineLifecycle.nameSpace"),
        ({"tests": {"image": {"name": "curl"}}}, "/tests/image", "unknown key tests.image.name"),
        ({"metalApi": {"enabled": "yes"}}, "/metalApi/enabled", "a string where a bool goes: metalApi.enabled"),
        ({"metrics": {"open": "true"}}, "/metrics/open", "a string where a bool goes: metrics.open"),
        ({"lbAllocator": {"replicas": "two"}}, "/lbAllocator/replicas", "a string where an integer goes: lbAllocator.replicas"),
        ({"metalApi": {"service": {"port": "8080"}}}, "/metalApi/service/port", "a string where an integer goes: metalApi.service.port"),
        ({"tls": {"validityDays": "ten"}}, "/tls/validityDays", "a string where an integer goes: tls.validityDays"),
        ({"volumeManager": {"devices": {"a": 1}}}, "/volumeManager/devices", "a map where a list goes: volumeManager.devices"),
        ({"metalApi": {"podLabels": ["a"]}}, "/metalApi/podLabels", "a list where a map goes: metalApi.podLabels"),
        ({"lbAllocator": {"logFormat": "xml"}}, "/lbAllocator/logFormat", "a bad enum: lbAllocator.logFormat xml"),
        ({"machineLifecycle": {"logFormat": "JSON"}}, "/machineLifecycle/logFormat", "a bad enum: machineLifecycle.logFormat JSON"),
        ({"gardenerWebhooks": {"seed": {"osController": {"ignitionVersion": "3.3.0"}}}}, "/gardenerWebhooks/seed/osController/ignitionVersion",
         "a bad enum: gardenerWebhooks.seed.osController.ignitionVersion 3.3.0"),
        ({"gardenerWebhooks": {"seed": {"shootWebhookFailurePolicy": "Retry"}}}, "/gardenerWebhooks/seed/shootWebhookFailurePolicy",
         "a bad enum: gardenerWebhooks.seed.shootWebhookFailurePolicy Retry"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "a bad enum: image.pullPolicy Sometimes"),
        ({"volumeManager": {"defaultType": "raid5"}}, "/volumeManager/defaultType", "a bad enum: volumeManager.defaultType raid5"),
        ({"metalApi": {"service": {"type": "External"}}}, "/metalApi/service/type", "a bad enum: metalApi.service.type External"),
    ]
    for values_, path, what in bad:
        err = render_error(chart, values_)
        m = re.search(r"key (\S+?):?(?: |$)", what)
        leaf = m.group(1).split(".")[-1] if "unknown" in what and m else None
        named = err is not None and SCHEMA_ERROR in err and f"at '{path}'" in err and (leaf is None or f"'{leaf}'" in err)
        if not named:
            print(f"        got: {err}")
        where = path or "the top level ''"
        C.check(named, f"schema rejects {what}: the error names {where}{' and ' + repr(leaf) if leaf else ''}")
    # helm lint reports it too (the same values, as `helm lint -f bad.yaml`).
    report = helm.lint(chart_dir, {"metalApi": {"enabled": "yes"}, "bogus": 1}, strict=True, namespace=NAMESPACE, kube_version=f"v{kv[0]}.0")
    text = json.dumps(report)
    C.check(("/metalApi/enabled" in text and "bogus" in text),
            "helm lint with a wrong type and an unknown key: reports both (schema)")


def notes(chart: "helm.Chart", values: dict[str, Any]) -> str:
    return render(chart, values)["metal-mesh/templates/NOTES.txt"]


def check_notes(chart: "helm.Chart") -> None:
    intro = {"metal-api": "metal-api is served by the StatefulSet", "lb-allocator": "lb-allocator (replaces metal-ccm)",
             "rule-compiler": "rule-compiler (replaces firewall-controller)", "volume-manager": "volume-manager (replaces csi-driver-lvm)",
             "gardener-webhooks": "gardener-webhooks (replaces", "machine-lifecycle": "machine-lifecycle (replaces"}
    for label, values, on in [("defaults", {}, {"metal-api"}), ("everything enabled", everything(), set(intro))]:
        text = notes(chart, values)
        C.check(bool(text.strip()), f"NOTES ({label}): render without error")
        for comp, head in intro.items():
            if comp in on:
                C.check(head in text and SERVICE_NAMES[comp] in text, f"NOTES ({label}): mentions {comp} ({SERVICE_NAMES[comp]})")
                C.check(f"kubectl -n {NAMESPACE} get pods -l " in text and f"app.kubernetes.io/component={comp}" in text,
                        f"NOTES ({label}): `kubectl -n {NAMESPACE} get pods` for {comp}")
                C.check(f"{SERVICE_NAMES[comp]}-tls" in text, f"NOTES ({label}): where {comp}'s CA is (Secret {SERVICE_NAMES[comp]}-tls, ca.crt)")
                if comp in TESTED:
                    key, port_path, port = TESTED[comp]
                    C.check(f"Service {SERVICE_NAMES[comp]}" in text and f"port {port}" in text,
                            f"NOTES ({label}): {comp}'s Service and port {port}")
            else:
                C.check(head not in text, f"NOTES ({label}): nothing about the disabled {comp}")
    text = notes(chart, everything())
    C.check("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations" in text and "installed the webhook configurations" in text,
            "NOTES (everything): the webhook configurations were installed, how to list them")
    C.check("shootWebhookURL" in text, "NOTES (everything): what to do for the shoots (shootWebhookURL)")
    text = notes(chart, everything(gardenerWebhooks={"seed": {"shootWebhookURL": f"https://{GW_NAME}.{NAMESPACE}.svc:443"}}))
    C.check("apply it in the shoots" in text and "kubectl --kubeconfig <shoot kubeconfig> apply -l metal-mesh/webhook-target=shoot" in text,
            "NOTES (shootWebhookURL): what to copy into the shoots")
    text = notes(chart, everything())
    C.check(all(k in text for k in ("metalAPIURL", "metalAPIHMac", "metalAPIKey")) and "create secret generic" in text,
            "NOTES (everything): the MachineClass Secret keys metalAPIURL, metalAPIHMac / metalAPIKey")
    C.check("The HMAC keys (view-key, edit-key, admin-key) are in the Secret" in notes(chart, {}),
            "NOTES (defaults): where metal-api's HMAC keys are")
    C.check(f"helm test {RELEASE} -n {NAMESPACE}" in text, "NOTES (tests on): how to run helm test")
    C.check("mesh-probe in the chart's image" in text, "NOTES (tests on): the test Pods run mesh-probe in the chart's image")
    C.check("curl in curlimages/curl" in notes(chart, everything(tests={"image": dict(TEST_IMAGE)})),
            "NOTES (tests.image): the test Pods run curl in tests.image")
    C.check("tests.enabled=true" in notes(chart, {}), "NOTES (defaults): how to switch helm test on")
    for label, values in [("certManager", everything(tls={"certManager": True, "issuerRef": {"name": "ca"}})),
                          ("existingSecret", everything(metalApi={"tls": {"existingSecret": "my-api-tls"}}))]:
        C.check(render_error(chart, values) is None and bool(notes(chart, values).strip()), f"NOTES ({label}): render without error")


def test_pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "Pod"]


def check_test_hooks(chart: "helm.Chart", chart_dir: pathlib.Path, kv: list[str]) -> None:
    C.check(not test_pods(docs_of(render(chart, {}))), "defaults (tests.enabled false): no test Pod")
    C.check(not test_pods(docs_of(render(chart, all_services()))), "every service on, tests off: no test Pod")
    docs = docs_of(render(chart, everything()))
    pods = test_pods(docs)
    C.check(sorted(p["metadata"]["name"] for p in pods) == sorted(f"{SERVICE_NAMES[c]}-test" for c in TESTED),
            f"everything enabled: one test Pod per service with a Service ({', '.join(TESTED)}; none for volume-manager)")
    for comp, (key, _, port) in TESTED.items():
        pod = one(pods, "Pod", f"{SERVICE_NAMES[comp]}-test")
        ann = pod["metadata"].get("annotations", {})
        C.check(ann.get("helm.sh/hook") == "test" and "hook-succeeded" in ann.get("helm.sh/hook-delete-policy", ""),
                f"{comp} test Pod: annotation helm.sh/hook: test, deleted on success")
        spec = pod["spec"]
        c = spec["containers"][0]
        url = f"https://{SERVICE_NAMES[comp]}.{NAMESPACE}.svc:{port}/readyz"
        C.check(c["image"] == f"metal-mesh:{chart.metadata['appVersion']}" and c["imagePullPolicy"] == "IfNotPresent"
                and c["command"][:2] == ["mesh-probe", url] and has_sublist(c["command"], ["--cacert", CA_PATH])
                and has_sublist(c["command"], ["--retry", "6"]) and "--insecure-skip-verify" not in c["command"],
                f"{comp} test Pod: mesh-probe {url} --cacert <CA> --retry 6 in the chart's image (no tests.image)")
        vol = {v["name"]: v for v in spec["volumes"]}["ca"]["secret"]
        C.check(vol == {"secretName": f"{SERVICE_NAMES[comp]}-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
                and c["volumeMounts"] == [{"name": "ca", "mountPath": "/etc/metal-mesh/ca", "readOnly": True}],
                f"{comp} test Pod: trusts ca.crt of the Secret {SERVICE_NAMES[comp]}-tls")
        svc = one(docs, "Service", SERVICE_NAMES[comp])
        C.check([p["port"] for p in svc["spec"]["ports"] if p["name"] == "https"] == [port], f"{comp} test Pod: calls the rendered Service's https port {port}")
        C.check(spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
                and c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
                and spec["securityContext"]["runAsNonRoot"] and "limits" in c["resources"],
                f"{comp} test Pod: restartPolicy Never, no token, non-root, read-only root, no capabilities, limits")
        np_ = one(docs, "NetworkPolicy", f"{SERVICE_NAMES[comp]}-test")
        C.check(np_["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == f"{comp}-test"
                and np_["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in np_["spec"]
                and np_["metadata"]["annotations"].get("helm.sh/hook") == "test",
                f"{comp} test Pod: a NetworkPolicy (hook test) denies all ingress to it")
        sel = svc["spec"]["selector"]
        C.check(any(pod["metadata"]["labels"].get(k) != v for k, v in sel.items()), f"{comp} test Pod: not selected by the service's own Service")
    validate([d for d in docs if d["kind"] in ("Pod", "NetworkPolicy") and "-test" in d["metadata"]["name"]], "helm test Pods", kv)
    # The chart's image follows image.* (and image.pullPolicy unless tests.image.pullPolicy says otherwise).
    pod = one(test_pods(docs_of(render(chart, everything(image={"repository": "reg.example/metal-mesh", "tag": "1.2.3",
                                                                      "pullPolicy": "Always"})))), "Pod", f"{API_NAME}-test")
    c = pod["spec"]["containers"][0]
    C.check(c["image"] == "reg.example/metal-mesh:1.2.3" and c["imagePullPolicy"] == "Always" and c["command"][0] == "mesh-probe",
            "test Pods (no tests.image): image.repository, image.tag and image.pullPolicy of the chart's image")
    pod = one(test_pods(docs_of(render(chart, everything(image={"digest": "sha256:" + "b" * 64}, tests={"image": {"pullPolicy": "Never"}})))),
              "Pod", f"{API_NAME}-test")
    c = pod["spec"]["containers"][0]
    C.check(c["image"] == "metal-mesh@sha256:" + "b" * 64 and c["imagePullPolicy"] == "Never",
            "test Pods (no tests.image): image.digest; tests.image.pullPolicy wins")
    # tests.image: an override with curl.
    docs = docs_of(render(chart, everything(tests={"image": dict(TEST_IMAGE)})))
    pods = test_pods(docs)
    for comp, (key, _, port) in TESTED.items():
        c = one(pods, "Pod", f"{SERVICE_NAMES[comp]}-test")["spec"]["containers"][0]
        url = f"https://{SERVICE_NAMES[comp]}.{NAMESPACE}.svc:{port}/readyz"
        C.check(c["image"] == "curlimages/curl:8.11.1" and c["imagePullPolicy"] == "IfNotPresent"
                and c["command"][0] == "curl" and c["command"][-1] == url
                and has_sublist(c["command"], ["--cacert", CA_PATH]) and "--fail" in c["command"]
                and "-k" not in c["command"] and "--insecure" not in c["command"],
                f"{comp} test Pod: curl --fail --cacert <CA> {url} (tests.image override)")
    validate([d for d in docs if d["kind"] == "Pod" and "-test" in d["metadata"]["name"]], "helm test Pods, tests.image", kv[:1])
    # Other ports, digests, existing Secret, cert-manager, networkPolicy off.
    docs = docs_of(render(chart, everything(metalApi={"service": {"port": 9000}, "tls": {"existingSecret": "my-api-tls"}},
                                            tests={"image": {"repository": "curlimages/curl", "digest": "sha256:" + "a" * 64}},
                                            networkPolicy={"enabled": False})))
    pod = one(test_pods(docs), "Pod", f"{API_NAME}-test")
    c = pod["spec"]["containers"][0]
    C.check(c["command"][-1] == f"https://{API_NAME}.{NAMESPACE}.svc:9000/readyz" and c["image"] == "curlimages/curl@sha256:" + "a" * 64
            and pod["spec"]["volumes"][0]["secret"]["secretName"] == "my-api-tls",
            "metal-api port 9000, existingSecret my-api-tls, tests.image.digest: followed by the test Pod")
    C.check(not [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-test")],
            "networkPolicy.enabled false: no test NetworkPolicy")
    docs = docs_of(render(chart, everything(tls={"certManager": True, "issuerRef": {"name": "ca"}})))
    C.check(one(test_pods(docs), "Pod", f"{GW_NAME}-test")["spec"]["volumes"][0]["secret"]["secretName"] == f"{GW_NAME}-cert-manager-tls",
            "certManager: the test Pods trust the cert-manager Secret's ca.crt")
    validate([d for d in docs if d["kind"] == "Pod"], "helm test Pods, cert-manager", kv[:1])
    for values, message, what in [
        ({"tests": {"enabled": True, "image": {"repository": "curlimages/curl"}}}, "tests.image.tag (or tests.image.digest) is required",
         "tests.image.repository without a tag or digest"),
    ]:
        err = render_error(chart, values)
        C.check(fails_with(err, message), f"{what}: rendering fails with {message!r}")


# checkov: the README's table of justified check ids.
CHECKOV_VERSION = "3.3.30"
CHECKOV_BAD_SEVERITIES = {"HIGH", "CRITICAL"}


def checkov_justified() -> dict[str, str]:
    text = (ROOT / "helm" / "metal-mesh" / "README.md").read_text()
    sec = text.split("## Security scan (checkov)", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (CKV2?_K8S_\d+) \| [^|]+ \| ([^|]+) \|$", sec, re.M)}


def check_checkov(chart: "helm.Chart") -> None:
    try:
        import checkov.version
    except ImportError:
        if os.environ.get("CI", "") not in ("", "0", "false"):  # as integration/tests/helm_chart.rs
            C.check(False, f"checkov importable in CI (pip install checkov=={CHECKOV_VERSION}, see .ci/run)")
        else:
            print(f"  SKIP  checkov is not installed (pip install checkov=={CHECKOV_VERSION}); the scan runs in CI")
        return
    C.check(checkov.version.version == CHECKOV_VERSION, f"checkov {checkov.version.version} (pinned {CHECKOV_VERSION})")
    justified = checkov_justified()
    C.check(len(justified) >= 10 and all(len(w.strip()) > 20 for w in justified.values()),
            f"README: {len(justified)} checkov check ids, each with a reason")
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for label, values in [("defaults", {}), ("everything enabled, tests", everything())]:
            rendered = render(chart, values)
            f = pathlib.Path(tmp) / "manifests.yaml"
            f.write_text("\n---\n".join(t for k, t in sorted(rendered.items()) if not k.endswith("NOTES.txt") and t.strip()))
            proc = subprocess.run([sys.executable, "-m", "checkov.main", "-f", str(f), "--framework", "kubernetes",
                                   "--skip-download", "--quiet", "-o", "json"], capture_output=True, text=True, timeout=600)
            try:
                out = json.loads(proc.stdout)
            except json.JSONDecodeError:
                C.check(False, f"checkov ({label}): JSON output (rc {proc.returncode}: {proc.stderr[-500:]})")
                continue
            out = out[0] if isinstance(out, list) else out
            summary = out.get("summary", {})
            failed = out.get("results", {}).get("failed_checks", [])
            C.check(summary.get("parsing_errors") == 0 and summary.get("passed", 0) > 0,
                    f"checkov ({label}): scanned {summary.get('resource_count')} objects, {summary.get('passed')} checks passed, "
                    f"{summary.get('failed')} failed")
            high = [f"{x['check_id']} {x['resource']}" for x in failed if str(x.get("severity") or "").upper() in CHECKOV_BAD_SEVERITIES]
            C.check(not high, f"checkov ({label}): no HIGH or CRITICAL finding {high}")
            unjustified = sorted({f"{x['check_id']} ({x['check_name']}) {x['resource']}" for x in failed if x["check_id"] not in justified})
            for u in unjustified:
                print(f"        checkov: {u}")
            C.check(not unjustified, f"checkov ({label}): every failed check is justified in the README table "
                                     f"({len({x['check_id'] for x in failed})} ids: {', '.join(sorted({x['check_id'] for x in failed}))})")
            seen |= {x["check_id"] for x in failed}
    stale = sorted(set(justified) - seen)
    C.check(not stale, f"README's checkov table has no stale row (ids no longer found: {stale})")


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
        C.section("metalApi disabled; no placeholder switches left", lambda: check_disabled(chart, chart_dir, kv))
        C.section("lb-allocator: default wiring to the embedded metal-api, MetalLB", lambda: check_lb_default_wiring(chart, chart_dir, kv))
        C.section("lb-allocator: explicit metal-api, credentials and settings", lambda: check_lb_explicit(chart, chart_dir, kv))
        C.section("lb-allocator: Cilium mode", lambda: check_lb_cilium(chart, chart_dir, kv))
        C.section("lb-allocator: invalid values fail rendering", lambda: check_lb_failures(chart))
        C.section("rule-compiler: off by default", lambda: check_rc_off(chart))
        C.section("rule-compiler: the CWNP CRD in crds/", lambda: check_rc_crd(chart, kv))
        C.section("rule-compiler: defaults (DaemonSet, host network, NET_ADMIN, RBAC)", lambda: check_rc_defaults(chart, chart_dir, kv))
        C.section("rule-compiler: inline Firewall, dry run, DNS proxy", lambda: check_rc_firewall_file(chart, chart_dir, kv))
        C.section("rule-compiler: seed kubeconfig Secret, namespaces, firewall name", lambda: check_rc_seed_secret(chart, chart_dir, kv))
        C.section("rule-compiler: rule file, IDS, runtime flags, scheduling", lambda: check_rc_host_options(chart, chart_dir, kv))
        C.section("rule-compiler: invalid values fail rendering", lambda: check_rc_failures(chart))
        C.section("rule-compiler: docs (systemd unit, CRD)", check_rc_docs)
        C.section("volume-manager: off by default", lambda: check_vm_off(chart))
        C.section("volume-manager: defaults (DaemonSet, sidecars, mounts, RBAC)", lambda: check_vm_defaults(chart, chart_dir, kv))
        C.section("volume-manager: CSIDriver, StorageClasses, VolumeSnapshotClass", lambda: check_vm_storage_objects(chart, kv))
        C.section("volume-manager: without the snapshotter (containers, RBAC)", lambda: check_vm_rbac_variants(chart, kv))
        C.section("volume-manager: volume groups, Talos host path, kubelet dir, driver name, scheduling", lambda: check_vm_custom(chart, chart_dir, kv))
        C.section("volume-manager: invalid values fail rendering", lambda: check_vm_failures(chart))
        C.section("volume-manager: README", check_vm_docs)
        C.section("gardener-webhooks: neither garden nor seed, the old switch", lambda: check_gw_off(chart))
        C.section("gardener-webhooks: garden (validating and mutating admission, RBAC)", lambda: check_gw_garden(chart, chart_dir, kv))
        C.section("gardener-webhooks: seed (controlplane, seedprovider, shoot webhook, seed flags)", lambda: check_gw_seed(chart, chart_dir, kv))
        C.section("gardener-webhooks: seed.osController (flags, downward env, RBAC, Lease Role, fail messages)",
                  lambda: check_gw_os_controller(chart, chart_dir, kv))
        C.section("gardener-webhooks: seed.extensions (flags, downward env, RBAC, Lease Role, metal-api CA, fail messages)",
                  lambda: check_gw_extensions(chart, chart_dir, kv))
        C.section("gardener-webhooks: garden and seed in one Deployment, PDB, NetworkPolicy peers", lambda: check_gw_both(chart, chart_dir, kv))
        C.section("gardener-webhooks: caBundle with cert-manager and existingSecret", lambda: check_gw_tls_modes(chart, chart_dir, kv))
        C.section("gardener-webhooks: garden.defaults -> DEFAULTER_* env", lambda: check_gw_defaults_env(chart, kv))
        C.section("gardener-webhooks: invalid values fail rendering", lambda: check_gw_failures(chart))
        C.section("gardener-webhooks: README and values", check_gw_docs)
        C.section("machine-lifecycle: off by default", lambda: check_ml_off(chart))
        C.section("machine-lifecycle: defaults (Deployment, Service, Role, nodes ClusterRole, access roles)",
                  lambda: check_ml_defaults(chart, chart_dir, kv))
        C.section("machine-lifecycle: replicas > 1 (leader election flags, POD_NAME, Lease Role), Machines' namespace",
                  lambda: check_ml_leader_election(chart, chart_dir, kv))
        C.section("machine-lifecycle: target kubeconfig, metal-api CA, gRPC socket, every flag", lambda: check_ml_options(chart, chart_dir, kv))
        C.section("machine-lifecycle: invalid values fail rendering", lambda: check_ml_failures(chart))
        C.section("machine-lifecycle: README and values", check_ml_docs)
        C.section("TLS: self-signed by default (CA and serving certificates parsed)", lambda: check_tls_self_signed(chart, chart_dir, kv))
        C.section("TLS: <service>.tls.existingSecret", lambda: check_tls_existing(chart, chart_dir, kv))
        C.section("TLS: cert-manager Certificates", lambda: check_tls_cert_manager(chart, chart_dir, kv))
        C.section("TLS: client CA (tls.clientCaSecret)", lambda: check_tls_client_ca(chart, chart_dir, kv))
        C.section("auth: --auth kubernetes, cache TTL, review timeout, --metrics-open", lambda: check_auth_flags(chart, chart_dir, kv))
        C.section("auth: ServiceAccounts and system:auth-delegator bindings", lambda: check_service_accounts(chart))
        C.section("access ClusterRoles metal-mesh:<service>:<viewer|editor>", lambda: check_access_roles(chart, kv))
        C.section("rbac.bindings", lambda: check_rbac_bindings(chart, kv))
        C.section("NetworkPolicies", lambda: check_network_policies(chart, kv))
        C.section("lb-allocator: https to metal-api, METAL_API_CA_FILE", lambda: check_lb_metal_api_tls(chart, kv))
        C.section("docs: TLS, auth and access (README, NOTES, systemd doc, values)", lambda: check_tls_docs(chart))
        C.section("render_chart.py: one JSON array", lambda: check_render_script(chart))
        C.section("lookup keeps generated keys and certificates (fake API server)", lambda: check_lookup(chart))
        C.section("values.schema.json: typed, closed, defaults valid, bad values named", lambda: check_schema(chart, chart_dir, kv))
        C.section("NOTES.txt: per enabled service", lambda: check_notes(chart))
        C.section("helm test hooks: /readyz of every service over its Service", lambda: check_test_hooks(chart, chart_dir, kv))
        C.section(f"checkov {CHECKOV_VERSION}: default and everything-enabled manifests", lambda: check_checkov(chart))

    print(f"chart: {C.passed} passed, {C.failed} failed")
    return 0 if C.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
