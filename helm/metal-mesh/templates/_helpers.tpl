{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "metal-mesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed with the chart name unless the release
name already contains it. Truncated to 63 characters.
*/}}
{{- define "metal-mesh.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one service's objects: "<fullname>-<component>", truncated to 63 characters.
Usage: include "metal-mesh.componentName" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.componentName" -}}
{{- printf "%s-%s" (include "metal-mesh.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "metal-mesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels (app.kubernetes.io/*) for the objects of one service.
Usage: include "metal-mesh.labels" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.labels" -}}
helm.sh/chart: {{ include "metal-mesh.chart" .root }}
{{ include "metal-mesh.selectorLabels" . }}
{{- with .root.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/part-of: metal-mesh
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades, so never include versions here.
Usage: include "metal-mesh.selectorLabels" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metal-mesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The image reference: repository, then @digest or :tag (tag defaults to the chart appVersion).
*/}}
{{- define "metal-mesh.image" -}}
{{- $img := .Values.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag | toString) }}
{{- end }}
{{- end }}

{{/*
metal-api: names of its objects.
*/}}
{{- define "metal-mesh.metalApi.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "metal-api") }}
{{- end }}

{{- define "metal-mesh.metalApi.headlessName" -}}
{{- printf "%s-hl" (include "metal-mesh.metalApi.name" . | trunc 60 | trimSuffix "-") }}
{{- end }}

{{- define "metal-mesh.metalApi.secretName" -}}
{{- default (include "metal-mesh.metalApi.name" .) .Values.metalApi.hmac.existingSecret }}
{{- end }}

{{/*
metal-api: the seed document as a string (values may give a YAML string or a map).
*/}}
{{- define "metal-mesh.metalApi.seed" -}}
{{- $seed := .Values.metalApi.seed }}
{{- if kindIs "string" $seed }}
{{- $seed }}
{{- else if $seed }}
{{- toYaml $seed }}
{{- end }}
{{- end }}

{{/*
lb-allocator: names of its objects. Objects of another kind, or in another namespace, share
the component name; the Roles get a suffix so they never collide when the MetalLB namespace is
the release namespace.
*/}}
{{- define "metal-mesh.lbAllocator.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "lb-allocator") }}
{{- end }}

{{- define "metal-mesh.lbAllocator.metallbRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "lb-allocator-metallb") }}
{{- end }}

{{- define "metal-mesh.lbAllocator.leaseRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "lb-allocator-leader-election") }}
{{- end }}

{{/*
lb-allocator: the base path the embedded metal-api serves under, from `--base-path X`,
`--base-path=X` in metalApi.extraArgs or METAL_API_BASE_PATH in metalApi.extraEnv; "" for "/".
Always starts with "/" when not empty, never ends with one.
*/}}
{{- define "metal-mesh.lbAllocator.embeddedBasePath" -}}
{{- $base := "" }}
{{- $args := .Values.metalApi.extraArgs | default list }}
{{- range $i, $a := $args }}
{{- $a = toString $a }}
{{- if hasPrefix "--base-path=" $a }}
{{- $base = trimPrefix "--base-path=" $a }}
{{- else if and (eq $a "--base-path") (lt (add1 $i) (len $args)) }}
{{- $base = index $args (add1 $i) | toString }}
{{- end }}
{{- end }}
{{- range .Values.metalApi.extraEnv | default list }}
{{- if and (eq (toString .name) "METAL_API_BASE_PATH") (hasKey . "value") }}
{{- $base = toString .value }}
{{- end }}
{{- end }}
{{- $base = trimSuffix "/" (trim $base) }}
{{- if and $base (not (hasPrefix "/" $base)) }}
{{- $base = printf "/%s" $base }}
{{- end }}
{{- $base }}
{{- end }}

{{/*
lb-allocator: METAL_API_URL. The given URL, else the embedded metal-api's Service in this
release over TLS (https://<metal-api service>:<port><base path>, when metalApi.enabled), else
rendering fails.
*/}}
{{- define "metal-mesh.lbAllocator.metalApiUrl" -}}
{{- $url := .Values.lbAllocator.metalApi.url | default "" | toString | trim }}
{{- if $url }}
{{- $url }}
{{- else if .Values.metalApi.enabled }}
{{- printf "https://%s:%v%s" (include "metal-mesh.metalApi.name" .) .Values.metalApi.service.port (include "metal-mesh.lbAllocator.embeddedBasePath" .) }}
{{- else }}
{{- fail "lbAllocator.metalApi.url is required: metalApi.enabled is false, so there is no embedded metal-api to point lb-allocator at (set lbAllocator.metalApi.url to the metal-api base URL incl. base path, e.g. https://api.example.com/metal)" }}
{{- end }}
{{- end }}

{{/*
lb-allocator: where its metal-api credential comes from. One of
  existing   lbAllocator.metalApi.auth.existingSecret (key existingSecretKey)
  hmac       inline lbAllocator.metalApi.auth.hmac, in the chart's own Secret (key `hmac`)
  token      inline lbAllocator.metalApi.auth.token, in the chart's own Secret (key `token`)
  embedded   the embedded metal-api's Secret, key `admin-key` (no URL and no credential given)
Fails on ambiguous or missing credentials.
*/}}
{{- define "metal-mesh.lbAllocator.authSource" -}}
{{- $auth := .Values.lbAllocator.metalApi.auth }}
{{- $url := .Values.lbAllocator.metalApi.url | default "" | toString | trim }}
{{- /* Without any metal-api to talk to, say that first. */}}
{{- $_ := include "metal-mesh.lbAllocator.metalApiUrl" . }}
{{- if and $auth.hmac $auth.token }}
{{- fail "lbAllocator.metalApi.auth: set either hmac or token, not both (lb-allocator takes exactly one of METAL_AUTH_HMAC and METAL_AUTH_TOKEN)" }}
{{- end }}
{{- if $auth.existingSecret }}
{{- if or $auth.hmac $auth.token }}
{{- fail "lbAllocator.metalApi.auth: set either existingSecret or an inline hmac/token, not both" }}
{{- end }}
{{- if not $auth.existingSecretKey }}
{{- fail "lbAllocator.metalApi.auth.existingSecretKey must name the key of existingSecret that holds the credential" }}
{{- end }}
{{- if not (has (toString $auth.existingSecretKind) (list "hmac" "token")) }}
{{- fail (printf "lbAllocator.metalApi.auth.existingSecretKind must be hmac or token, not %q" (toString $auth.existingSecretKind)) }}
{{- end }}
{{- print "existing" }}
{{- else if $auth.hmac }}
{{- print "hmac" }}
{{- else if $auth.token }}
{{- print "token" }}
{{- else if and (not $url) .Values.metalApi.enabled }}
{{- print "embedded" }}
{{- else }}
{{- fail "lbAllocator.metalApi.auth: no credential for metal-api: set existingSecret (+ existingSecretKey), hmac or token (only without lbAllocator.metalApi.url and with metalApi.enabled does lb-allocator default to the embedded metal-api's admin-key)" }}
{{- end }}
{{- end }}

{{/*
lb-allocator: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.lbAllocator.validate" -}}
{{- $lb := .Values.lbAllocator }}
{{- range $key, $env := dict "projectId" "METAL_PROJECT_ID" "partitionId" "METAL_PARTITION_ID" "clusterId" "METAL_CLUSTER_ID" }}
{{- if not (index $lb $key | default "" | toString | trim) }}
{{- fail (printf "lbAllocator.%s is required (%s)" $key $env) }}
{{- end }}
{{- end }}
{{- if not (has (toString $lb.loadbalancer) (list "metallb" "cilium")) }}
{{- fail (printf "lbAllocator.loadbalancer must be metallb or cilium, not %q" (toString $lb.loadbalancer)) }}
{{- end }}
{{- if not (has (toString $lb.metalApi.auth.hmacAuthType) (list "Metal-Admin" "Metal-Edit" "Metal-View")) }}
{{- fail (printf "lbAllocator.metalApi.auth.hmacAuthType must be Metal-Admin, Metal-Edit or Metal-View, not %q" (toString $lb.metalApi.auth.hmacAuthType)) }}
{{- end }}
{{- if not (has (toString $lb.logFormat) (list "text" "json")) }}
{{- fail (printf "lbAllocator.logFormat must be text or json, not %q" (toString $lb.logFormat)) }}
{{- end }}
{{- if and (eq (toString $lb.loadbalancer) "metallb") (not $lb.metallbNamespace) }}
{{- fail "lbAllocator.metallbNamespace must not be empty with loadbalancer metallb" }}
{{- end }}
{{- if not $lb.leaderElection.leaseName }}
{{- fail "lbAllocator.leaderElection.leaseName must not be empty" }}
{{- end }}
{{- if and $lb.metalApi.caSecret (not ($lb.metalApi.caSecretKey | default "" | toString | trim)) }}
{{- fail "lbAllocator.metalApi.caSecretKey must name the key of caSecret that holds the PEM CA bundle (e.g. ca.crt)" }}
{{- end }}
{{- $_ := include "metal-mesh.lbAllocator.authSource" . }}
{{- end }}

{{/*
lb-allocator: METAL_ADDITIONAL_NETWORKS, a YAML list joined with commas (a string is taken as is).
*/}}
{{- define "metal-mesh.lbAllocator.additionalNetworks" -}}
{{- $n := .Values.lbAllocator.additionalNetworks }}
{{- if kindIs "string" $n }}
{{- $n }}
{{- else if $n }}
{{- $out := list }}
{{- range $n }}
{{- $out = append $out (toString . | trim) }}
{{- end }}
{{- join "," (compact $out) }}
{{- end }}
{{- end }}

{{/*
lb-allocator: the credential env var (METAL_AUTH_HMAC + METAL_AUTH_HMAC_AUTH_TYPE, or
METAL_AUTH_TOKEN), always from a Secret. A YAML list, to be nindent-ed.
*/}}
{{- define "metal-mesh.lbAllocator.authEnv" -}}
{{- $auth := .Values.lbAllocator.metalApi.auth }}
{{- $source := include "metal-mesh.lbAllocator.authSource" . }}
{{- $secret := include "metal-mesh.lbAllocator.name" . }}
{{- $key := "" }}
{{- $kind := "hmac" }}
{{- $authType := $auth.hmacAuthType }}
{{- if eq $source "existing" }}
{{- $secret = $auth.existingSecret }}
{{- $key = $auth.existingSecretKey }}
{{- $kind = $auth.existingSecretKind }}
{{- else if eq $source "hmac" }}
{{- $key = "hmac" }}
{{- else if eq $source "token" }}
{{- $key = "token" }}
{{- $kind = "token" }}
{{- else }}
{{- /* embedded: the admin key, which only signs as Metal-Admin */}}
{{- $secret = include "metal-mesh.metalApi.secretName" . }}
{{- $key = "admin-key" }}
{{- $authType = "Metal-Admin" }}
{{- end }}
{{- if eq $kind "hmac" }}
- name: METAL_AUTH_HMAC
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
- name: METAL_AUTH_HMAC_AUTH_TYPE
  value: {{ $authType | quote }}
{{- else }}
- name: METAL_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end }}

{{/*
rule-compiler: names of its objects. The Roles get a suffix: the policy namespace and the seed
namespace may both be the release namespace.
*/}}
{{- define "metal-mesh.ruleCompiler.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "rule-compiler") }}
{{- end }}

{{- define "metal-mesh.ruleCompiler.policyRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "rule-compiler-policy") }}
{{- end }}

{{- define "metal-mesh.ruleCompiler.seedRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "rule-compiler-seed") }}
{{- end }}

{{- define "metal-mesh.ruleCompiler.firewallConfigMapName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "rule-compiler-firewall") }}
{{- end }}

{{/*
rule-compiler: its image. ruleCompiler.image.* when a repository is given there (an image that
carries nft), else the shared image.
*/}}
{{- define "metal-mesh.ruleCompiler.image" -}}
{{- $img := .Values.ruleCompiler.image | default dict }}
{{- if $img.repository }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag | toString) }}
{{- end }}
{{- else }}
{{- include "metal-mesh.image" . }}
{{- end }}
{{- end }}

{{/*
rule-compiler: the inline Firewall (ruleCompiler.firewall, a YAML/JSON string or a map) as a
YAML document; "" when none is given.
*/}}
{{- define "metal-mesh.ruleCompiler.firewall" -}}
{{- $fw := .Values.ruleCompiler.firewall }}
{{- if kindIs "string" $fw }}
{{- if trim $fw }}
{{- $fw }}
{{- end }}
{{- else if $fw }}
{{- toYaml $fw }}
{{- end }}
{{- end }}

{{/*
rule-compiler: where the Firewall comes from. One of
  file       the inline ruleCompiler.firewall, in a ConfigMap, passed as --firewall-file
  seed       the Secret ruleCompiler.seedKubeconfigSecret, passed as --seed-kubeconfig
  cluster    this cluster is the seed too (in-cluster config); needs RBAC on firewalls
*/}}
{{- define "metal-mesh.ruleCompiler.firewallSource" -}}
{{- if include "metal-mesh.ruleCompiler.firewall" . }}
{{- print "file" }}
{{- else if .Values.ruleCompiler.seedKubeconfigSecret }}
{{- print "seed" }}
{{- else }}
{{- print "cluster" }}
{{- end }}
{{- end }}

{{/*
rule-compiler: the namespace of the seed's Firewall when the seed is this cluster: seedNamespace,
else the release namespace (the in-cluster default namespace of the pod).
*/}}
{{- define "metal-mesh.ruleCompiler.seedNamespace" -}}
{{- default .Release.Namespace (.Values.ruleCompiler.seedNamespace | default "" | toString | trim) }}
{{- end }}

{{/*
rule-compiler: the port of --dns-listen ADDR:PORT ([v6]:PORT too); "" when off or unparsable.
*/}}
{{- define "metal-mesh.ruleCompiler.dnsPort" -}}
{{- $listen := .Values.ruleCompiler.dnsListen | default "" | toString | trim }}
{{- if $listen }}
{{- $parts := splitList ":" $listen }}
{{- last $parts }}
{{- end }}
{{- end }}

{{/*
rule-compiler: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.ruleCompiler.validate" -}}
{{- $rc := .Values.ruleCompiler }}
{{- if not (has (toString $rc.logFormat) (list "text" "json")) }}
{{- fail (printf "ruleCompiler.logFormat must be text or json, not %q" (toString $rc.logFormat)) }}
{{- end }}
{{- $port := int $rc.port }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "ruleCompiler.port must be 1..65535, not %v" $rc.port) }}
{{- end }}
{{- if not ($rc.policyNamespace | default "" | toString | trim) }}
{{- fail "ruleCompiler.policyNamespace must not be empty (upstream: firewall)" }}
{{- end }}
{{- $fw := include "metal-mesh.ruleCompiler.firewall" . }}
{{- if and $fw $rc.seedKubeconfigSecret }}
{{- fail "ruleCompiler: set either firewall (an inline Firewall, --firewall-file) or seedKubeconfigSecret (--seed-kubeconfig), not both" }}
{{- end }}
{{- if $fw }}
{{- $obj := fromYaml $fw }}
{{- if hasKey $obj "Error" }}
{{- fail (printf "ruleCompiler.firewall is not a YAML/JSON object: %s" (index $obj "Error")) }}
{{- end }}
{{- if and (hasKey $obj "apiVersion") (ne (toString $obj.apiVersion) "firewall.metal-stack.io/v2") }}
{{- fail (printf "ruleCompiler.firewall.apiVersion must be firewall.metal-stack.io/v2, not %q" (toString $obj.apiVersion)) }}
{{- end }}
{{- if and (hasKey $obj "kind") (ne (toString $obj.kind) "Firewall") }}
{{- fail (printf "ruleCompiler.firewall.kind must be Firewall, not %q" (toString $obj.kind)) }}
{{- end }}
{{- if not (kindIs "map" $obj.spec) }}
{{- fail "ruleCompiler.firewall needs a spec (a firewall.metal-stack.io/v2 Firewall)" }}
{{- end }}
{{- end }}
{{- if and $rc.seedKubeconfigSecret (not $rc.seedKubeconfigSecretKey) }}
{{- fail "ruleCompiler.seedKubeconfigSecretKey must name the key of seedKubeconfigSecret that holds the kubeconfig" }}
{{- end }}
{{- $dns := $rc.dnsListen | default "" | toString | trim }}
{{- if $dns }}
{{- $p := include "metal-mesh.ruleCompiler.dnsPort" . }}
{{- if or (not (regexMatch "^[0-9]+$" $p)) (eq (len (splitList ":" $dns)) 1) }}
{{- fail (printf "ruleCompiler.dnsListen must be ADDR:PORT (e.g. 10.0.0.1:53 or [fd00::1]:53), not %q" $dns) }}
{{- end }}
{{- if or (lt (int $p) 1) (gt (int $p) 65535) }}
{{- fail (printf "ruleCompiler.dnsListen port must be 1..65535, not %s" $p) }}
{{- end }}
{{- end }}
{{- with $rc.ruleFile }}
{{- $f := toString . }}
{{- if or (not (hasPrefix "/" $f)) (hasSuffix "/" $f) (eq (dir $f) "/") }}
{{- fail (printf "ruleCompiler.ruleFile must be an absolute file path on the node below a directory other than / (its directory is mounted from the node), not %q" $f) }}
{{- end }}
{{- end }}
{{- if and $rc.enableIds (not (hasPrefix "/" (toString $rc.suricataSocket))) }}
{{- fail (printf "ruleCompiler.suricataSocket must be an absolute path on the node, not %q" (toString $rc.suricataSocket)) }}
{{- end }}
{{- $strategy := dig "type" "RollingUpdate" ($rc.updateStrategy | default dict) | toString }}
{{- if not (has $strategy (list "RollingUpdate" "OnDelete")) }}
{{- fail (printf "ruleCompiler.updateStrategy.type must be RollingUpdate or OnDelete, not %q" $strategy) }}
{{- end }}
{{- end }}

{{/*
rule-compiler: the host part of --listen; an IPv6 address gets its brackets.
*/}}
{{- define "metal-mesh.ruleCompiler.listenHost" -}}
{{- $h := .Values.ruleCompiler.listenAddress | default "0.0.0.0" | toString | trim }}
{{- if and (contains ":" $h) (not (hasPrefix "[" $h)) }}
{{- printf "[%s]" $h }}
{{- else }}
{{- $h }}
{{- end }}
{{- end }}

{{/*
volume-manager: names of its objects. The namespaced Role (CSIStorageCapacity objects and the
provisioner's owner lookup) gets a suffix so it reads apart from the ClusterRole.
*/}}
{{- define "metal-mesh.volumeManager.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "volume-manager") }}
{{- end }}

{{- define "metal-mesh.volumeManager.capacityRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "volume-manager-capacity") }}
{{- end }}

{{/*
volume-manager: its image. volumeManager.image.* when a repository is given there (an image that
carries lvm2 and the mkfs tools), else the shared image.
*/}}
{{- define "metal-mesh.volumeManager.image" -}}
{{- $img := .Values.volumeManager.image | default dict }}
{{- if $img.repository }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag | toString) }}
{{- end }}
{{- else }}
{{- include "metal-mesh.image" . }}
{{- end }}
{{- end }}

{{/*
volume-manager: the image of one CSI sidecar: repository, then @digest or :tag.
Usage: include "metal-mesh.volumeManager.sidecarImage" .Values.volumeManager.sidecars.provisioner
*/}}
{{- define "metal-mesh.volumeManager.sidecarImage" -}}
{{- $img := .image | default dict }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (toString $img.tag) }}
{{- end }}
{{- end }}

{{/*
volume-manager: the kubelet's root directory on the node, without a trailing slash.
*/}}
{{- define "metal-mesh.volumeManager.kubeletDir" -}}
{{- .Values.volumeManager.kubeletDir | default "/var/lib/kubelet" | toString | trim | trimSuffix "/" }}
{{- end }}

{{/*
volume-manager: the node directory holding the plugin's CSI socket (csi.sock), one per driver
name: <kubeletDir>/plugins/<driverName>.
*/}}
{{- define "metal-mesh.volumeManager.socketDir" -}}
{{- printf "%s/plugins/%s" (include "metal-mesh.volumeManager.kubeletDir" .) (toString .Values.volumeManager.driverName) }}
{{- end }}

{{/*
volume-manager: --host-write-path without a trailing slash.
*/}}
{{- define "metal-mesh.volumeManager.hostWritePath" -}}
{{- .Values.volumeManager.hostWritePath | default "/etc/lvm" | toString | trim | trimSuffix "/" }}
{{- end }}

{{/*
volume-manager: a device list (a YAML list, or one comma-separated string from --set) as a
JSON list of trimmed, non-empty strings. Usage: include "metal-mesh.volumeManager.deviceList" $devices
*/}}
{{- define "metal-mesh.volumeManager.deviceList" -}}
{{- $in := . }}
{{- if kindIs "string" $in }}
{{- $in = splitList "," $in }}
{{- end }}
{{- $out := list }}
{{- range ($in | default list) }}
{{- $out = append $out (toString . | trim) }}
{{- end }}
{{- compact $out | toJson }}
{{- end }}

{{/*
volume-manager: the host part of --listen; an IPv6 address gets its brackets.
*/}}
{{- define "metal-mesh.volumeManager.listenHost" -}}
{{- $h := .Values.volumeManager.listenAddress | default "0.0.0.0" | toString | trim }}
{{- if and (contains ":" $h) (not (hasPrefix "[" $h)) }}
{{- printf "[%s]" $h }}
{{- else }}
{{- $h }}
{{- end }}
{{- end }}

{{/*
volume-manager: the LV types the driver knows (StorageClass parameter `type`, --default-type),
as a JSON list.
*/}}
{{- define "metal-mesh.volumeManager.lvTypes" -}}
{{- list "linear" "striped" "mirror" | toJson }}
{{- end }}

{{/*
volume-manager: checks one device list; fails naming the value. Usage:
include "metal-mesh.volumeManager.validateDevices" (dict "devices" $list "what" "volumeManager.devices")
*/}}
{{- define "metal-mesh.volumeManager.validateDevices" -}}
{{- $devs := include "metal-mesh.volumeManager.deviceList" .devices | fromJsonArray }}
{{- if not $devs }}
{{- fail (printf "%s must not be empty: it lists the device globs (e.g. /dev/nvme[0-9]n[0-9]) whose matches make up the volume group" .what) }}
{{- end }}
{{- range $devs }}
{{- if or (not (hasPrefix "/" .)) (contains "," .) (regexMatch "\\s" .) }}
{{- fail (printf "%s: %q is not a device glob: it must be an absolute path (e.g. /dev/nvme[0-9]n[0-9]) without commas or blanks" $.what .) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
volume-manager: checks one LVM volume group name; fails naming the value. LVM allows
a-z A-Z 0-9 + _ . - (not starting with -), at most 127 characters, neither "." nor "..".
Usage: include "metal-mesh.volumeManager.validateVgName" (dict "name" $n "what" "volumeManager.vgName")
*/}}
{{- define "metal-mesh.volumeManager.validateVgName" -}}
{{- $n := .name | default "" | toString }}
{{- if or (not (regexMatch "^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$" $n)) (gt (len $n) 127) (has $n (list "." "..")) }}
{{- fail (printf "%s must be an LVM volume group name (letters, digits, + _ . -, not starting with -, at most 127 characters), not %q" .what $n) }}
{{- end }}
{{- end }}

{{/*
volume-manager: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.volumeManager.validate" -}}
{{- $vm := .Values.volumeManager }}
{{- $types := include "metal-mesh.volumeManager.lvTypes" . | fromJsonArray }}
{{- $driver := $vm.driverName | default "" | toString }}
{{- if or (not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" $driver)) (gt (len $driver) 63) }}
{{- fail (printf "volumeManager.driverName must be a CSI driver name (lower-case DNS name, at most 63 characters, e.g. lvm.csi.metal-stack.io), not %q" $driver) }}
{{- end }}
{{- include "metal-mesh.volumeManager.validateVgName" (dict "name" $vm.vgName "what" "volumeManager.vgName") }}
{{- include "metal-mesh.volumeManager.validateDevices" (dict "devices" $vm.devices "what" "volumeManager.devices") }}
{{- $vgs := list (toString $vm.vgName) }}
{{- range $i, $g := ($vm.volumeGroups | default list) }}
{{- if not (kindIs "map" $g) }}
{{- fail (printf "volumeManager.volumeGroups[%d] must be a map {name: NAME, devices: [GLOB, ...]}" $i) }}
{{- end }}
{{- $what := printf "volumeManager.volumeGroups[%d]" $i }}
{{- include "metal-mesh.volumeManager.validateVgName" (dict "name" $g.name "what" (printf "%s.name" $what)) }}
{{- if has (toString $g.name) $vgs }}
{{- fail (printf "%s.name %q is used twice (volumeManager.vgName and volumeGroups[].name must all differ)" $what (toString $g.name)) }}
{{- end }}
{{- $vgs = append $vgs (toString $g.name) }}
{{- include "metal-mesh.volumeManager.validateDevices" (dict "devices" $g.devices "what" (printf "%s.devices" $what)) }}
{{- end }}
{{- if not (has (toString $vm.defaultType) $types) }}
{{- fail (printf "volumeManager.defaultType must be linear, striped or mirror, not %q" (toString $vm.defaultType)) }}
{{- end }}
{{- if not (regexMatch "^[0-9]+$" (toString $vm.maxVolumesPerNode)) }}
{{- fail (printf "volumeManager.maxVolumesPerNode must be a whole number >= 0 (0: no limit), not %v" $vm.maxVolumesPerNode) }}
{{- end }}
{{- range $key, $val := dict "hostWritePath" (include "metal-mesh.volumeManager.hostWritePath" .) "kubeletDir" (include "metal-mesh.volumeManager.kubeletDir" .) }}
{{- if or (not (hasPrefix "/" $val)) (regexMatch "\\s" $val) }}
{{- fail (printf "volumeManager.%s must be an absolute directory on the node other than /, not %q" $key (toString (index $vm $key))) }}
{{- end }}
{{- end }}
{{- $port := int $vm.port }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "volumeManager.port must be 1..65535, not %v" $vm.port) }}
{{- end }}
{{- $health := int $vm.sidecars.livenessprobe.healthPort }}
{{- if or (lt $health 1) (gt $health 65535) (eq $health $port) }}
{{- fail (printf "volumeManager.sidecars.livenessprobe.healthPort must be 1..65535 and differ from volumeManager.port (%d), not %v" $port $vm.sidecars.livenessprobe.healthPort) }}
{{- end }}
{{- if not (has (toString $vm.logFormat) (list "text" "json")) }}
{{- fail (printf "volumeManager.logFormat must be text or json, not %q" (toString $vm.logFormat)) }}
{{- end }}
{{- $strategy := dig "type" "RollingUpdate" ($vm.updateStrategy | default dict) | toString }}
{{- if not (has $strategy (list "RollingUpdate" "OnDelete")) }}
{{- fail (printf "volumeManager.updateStrategy.type must be RollingUpdate or OnDelete, not %q" $strategy) }}
{{- end }}
{{- range $key, $sc := $vm.sidecars }}
{{- if kindIs "map" $sc }}
{{- if and (hasKey $sc "image") (not (and $sc.image.repository (or $sc.image.tag $sc.image.digest))) }}
{{- fail (printf "volumeManager.sidecars.%s.image needs a repository and a tag (or digest)" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- $sc := $vm.storageClasses | default dict }}
{{- if $sc.enabled }}
{{- if not (has (toString $sc.reclaimPolicy) (list "Delete" "Retain")) }}
{{- fail (printf "volumeManager.storageClasses.reclaimPolicy must be Delete or Retain, not %q" (toString $sc.reclaimPolicy)) }}
{{- end }}
{{- $default := $sc.defaultClass | default "" | toString }}
{{- if and $default (not (has $default $types)) }}
{{- fail (printf "volumeManager.storageClasses.defaultClass must be empty (no default class) or linear, striped or mirror, not %q" $default) }}
{{- end }}
{{- with $sc.vgName }}
{{- if not (has (toString .) $vgs) }}
{{- fail (printf "volumeManager.storageClasses.vgName %q is no volume group of the driver: it must be volumeManager.vgName or one of volumeManager.volumeGroups[].name (%s)" (toString .) (join ", " $vgs)) }}
{{- end }}
{{- end }}
{{- with $sc.fsType }}
{{- if not (regexMatch "^[a-z0-9_]+$" (toString .)) }}
{{- fail (printf "volumeManager.storageClasses.fsType must be a filesystem name (mkfs.<fsType>, e.g. ext4 or xfs), not %q" (toString .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $snap := $vm.snapshotClass | default dict }}
{{- if $snap.enabled }}
{{- if not $vm.sidecars.snapshotter.enabled }}
{{- fail "volumeManager.snapshotClass.enabled needs volumeManager.sidecars.snapshotter.enabled: without the csi-snapshotter sidecar nothing takes the class's snapshots" }}
{{- end }}
{{- if not (has (toString $snap.deletionPolicy) (list "Delete" "Retain")) }}
{{- fail (printf "volumeManager.snapshotClass.deletionPolicy must be Delete or Retain, not %q" (toString $snap.deletionPolicy)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The services of the mesh, as a JSON list of {key, component, envPrefix, enabled}: key is the
values key (metalApi, ...), component the object-name suffix and app.kubernetes.io/component
(metal-api, ...), envPrefix the prefix of the binary's environment variables.
*/}}
{{- define "metal-mesh.services" -}}
{{- $out := list }}
{{- range $s := list (list "metalApi" "metal-api" "METAL_API") (list "lbAllocator" "lb-allocator" "LB_ALLOCATOR") (list "ruleCompiler" "rule-compiler" "RULE_COMPILER") (list "volumeManager" "volume-manager" "VOLUME_MANAGER") (list "gardenerWebhooks" "gardener-webhooks" "GARDENER_WEBHOOKS") (list "machineLifecycle" "machine-lifecycle" "MACHINE_LIFECYCLE") }}
{{- $v := index $.Values (index $s 0) | default dict }}
{{- $enabled := eq (toString (dig "enabled" false $v)) "true" }}
{{- if eq (index $s 0) "gardenerWebhooks" }}
{{- /* gardener-webhooks has two switches, one per cluster role; either one deploys it. */}}
{{- $enabled = eq (include "metal-mesh.gardenerWebhooks.enabled" $) "true" }}
{{- end }}
{{- $out = append $out (dict "key" (index $s 0) "component" (index $s 1) "envPrefix" (index $s 2) "enabled" $enabled) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The values key of a service component: metal-api -> metalApi, ...
Usage: include "metal-mesh.serviceKey" "lb-allocator"
*/}}
{{- define "metal-mesh.serviceKey" -}}
{{- index (dict "metal-api" "metalApi" "lb-allocator" "lbAllocator" "rule-compiler" "ruleCompiler" "volume-manager" "volumeManager" "gardener-webhooks" "gardenerWebhooks" "machine-lifecycle" "machineLifecycle") . }}
{{- end }}

{{/*
TLS: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.tls.validate" -}}
{{- $tls := .Values.tls | default dict }}
{{- if $tls.certManager }}
{{- $ref := $tls.issuerRef | default dict }}
{{- if not ($ref.name | default "" | toString | trim) }}
{{- fail "tls.issuerRef.name is required with tls.certManager=true: name the cert-manager Issuer (or ClusterIssuer, tls.issuerRef.kind) that signs the services' serving certificates" }}
{{- end }}
{{- if not (has (toString ($ref.kind | default "Issuer")) (list "Issuer" "ClusterIssuer")) }}
{{- fail (printf "tls.issuerRef.kind must be Issuer or ClusterIssuer, not %q" (toString $ref.kind)) }}
{{- end }}
{{- end }}
{{- if not (regexMatch "^[1-9][0-9]*$" (toString ($tls.validityDays | default ""))) }}
{{- fail (printf "tls.validityDays must be a whole number of days > 0, not %v" $tls.validityDays) }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" (toString ($tls.clusterDomain | default ""))) }}
{{- fail (printf "tls.clusterDomain must be a DNS domain (e.g. cluster.local), not %q" (toString $tls.clusterDomain)) }}
{{- end }}
{{- range (include "metal-mesh.services" . | fromJsonArray) }}
{{- $key := .key }}
{{- $svc := index $.Values $key | default dict }}
{{- $args := dig "extraArgs" list $svc | default list }}
{{- range $i, $a := $args }}
{{- $a = toString $a }}
{{- if or (eq $a "--auth=none") (and (eq $a "--auth") (lt (add1 $i) (len $args)) (eq (toString (index $args (add1 $i))) "none")) }}
{{- fail (printf "%s.extraArgs: --auth none is not allowed: the chart always runs the services with --auth kubernetes (delegated authentication and authorization)" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
TLS: how one service gets its serving certificate. One of
  existing     <service>.tls.existingSecret, a kubernetes.io/tls Secret of the user
  certManager  a cert-manager Certificate (tls.certManager), signed by tls.issuerRef
  selfSigned   generated by the chart: a serving cert signed by the release's CA (tls.caSecret)
Usage: include "metal-mesh.tls.mode" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.tls.mode" -}}
{{- $svc := index .root.Values (include "metal-mesh.serviceKey" .component) | default dict }}
{{- if (dig "tls" "existingSecret" "" $svc | toString | trim) }}
{{- print "existing" }}
{{- else if .root.Values.tls.certManager }}
{{- print "certManager" }}
{{- else }}
{{- print "selfSigned" }}
{{- end }}
{{- end }}

{{/*
TLS: the Secret (tls.crt, tls.key, ca.crt) holding one service's serving certificate:
<service>.tls.existingSecret, <component name>-cert-manager-tls (cert-manager writes it) or
<component name>-tls (self-signed). The two chart-made names differ on purpose: switching modes
rolls the pods onto the new Secret instead of Helm deleting the Secret cert-manager writes to.
Usage: include "metal-mesh.tls.secretName" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.tls.secretName" -}}
{{- $mode := include "metal-mesh.tls.mode" . }}
{{- $name := include "metal-mesh.componentName" . }}
{{- if eq $mode "existing" }}
{{- index .root.Values (include "metal-mesh.serviceKey" .component) "tls" "existingSecret" | toString | trim }}
{{- else if eq $mode "certManager" }}
{{- printf "%s-cert-manager-tls" $name }}
{{- else }}
{{- printf "%s-tls" $name }}
{{- end }}
{{- end }}

{{/*
TLS: the Secret holding the release's self-signed CA (tls.crt, tls.key; ca.crt = tls.crt).
*/}}
{{- define "metal-mesh.tls.caSecretName" -}}
{{- printf "%s-ca" (include "metal-mesh.fullname" . | trunc 60 | trimSuffix "-") }}
{{- end }}

{{/*
TLS: the self-signed material of this render, as JSON
  {"components": [<self-signed components>], "ca": {<CA Secret data>}, "secrets": {"<component>": {<Secret data>}}}
(all data values base64, as in a Secret). Only the enabled services without existingSecret and
without tls.certManager are self-signed; with none of them, components is empty and nothing is
generated or looked up.
A CA Secret found (lookup) is reused and signs any new serving certificate; a serving Secret
found is reused as it is (certificate, key and the ca.crt it was issued with); whatever is
missing is generated (genCA, genSignedCert). Computed ONCE per render and kept in .Values, which
every template of one render shares: templates/tls/secrets.yaml writes these Secrets and the
gardener-webhooks configurations take their caBundle from the same CA, never from a second one.
Usage: include "metal-mesh.tls.selfSigned" . | fromJson
*/}}
{{- define "metal-mesh.tls.selfSigned" -}}
{{- if not (hasKey .Values "__metalMeshSelfSignedTls") }}
{{- $root := . }}
{{- $components := list }}
{{- range (include "metal-mesh.services" $root | fromJsonArray) }}
{{- if and .enabled (eq (include "metal-mesh.tls.mode" (dict "root" $root "component" .component)) "selfSigned") }}
{{- $components = append $components .component }}
{{- end }}
{{- end }}
{{- $out := dict "components" $components "ca" (dict) "secrets" (dict) }}
{{- if $components }}
{{- $days := int $root.Values.tls.validityDays }}
{{- $caData := (lookup "v1" "Secret" $root.Release.Namespace (include "metal-mesh.tls.caSecretName" $root)).data | default dict }}
{{- $ca := dict }}
{{- if and (hasKey $caData "tls.crt") (hasKey $caData "tls.key") }}
{{- $ca = buildCustomCert (index $caData "tls.crt") (index $caData "tls.key") }}
{{- else }}
{{- $ca = genCA (printf "%s-ca" (include "metal-mesh.fullname" $root)) $days }}
{{- end }}
{{- $_ := set $out "ca" (dict "tls.crt" ($ca.Cert | b64enc) "tls.key" ($ca.Key | b64enc) "ca.crt" ($ca.Cert | b64enc)) }}
{{- range $component := $components }}
{{- $ctx := dict "root" $root "component" $component }}
{{- $existing := (lookup "v1" "Secret" $root.Release.Namespace (include "metal-mesh.tls.secretName" $ctx)).data | default dict }}
{{- if and (hasKey $existing "tls.crt") (hasKey $existing "tls.key") }}
{{- $_ := set $out.secrets $component $existing }}
{{- else }}
{{- $cert := genSignedCert (include "metal-mesh.componentName" $ctx) (list "127.0.0.1") (include "metal-mesh.tls.dnsNames" $ctx | fromJsonArray) $days $ca }}
{{- $_ := set $out.secrets $component (dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" ($ca.Cert | b64enc)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := set .Values "__metalMeshSelfSignedTls" (toJson $out) }}
{{- end }}
{{- index .Values "__metalMeshSelfSignedTls" }}
{{- end }}

{{/*
TLS: the DNS names of one service's certificate, as a JSON list: <svc>, <svc>.<ns>,
<svc>.<ns>.svc, <svc>.<ns>.svc.<clusterDomain>, localhost (IP 127.0.0.1 comes on top).
Usage: include "metal-mesh.tls.dnsNames" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.tls.dnsNames" -}}
{{- $svc := include "metal-mesh.componentName" . }}
{{- $ns := .root.Release.Namespace }}
{{- $domain := .root.Values.tls.clusterDomain | default "cluster.local" | toString | trim }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns $domain) "localhost" | toJson }}
{{- end }}

{{/*
The flags every service binary gets from the chart: TLS (the mounted Secret), delegated
authentication and authorization (always --auth kubernetes, never none), the review cache and
timeout, and --metrics-open. YAML list items, to be nindent-ed into args.
Usage: include "metal-mesh.serverArgs" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.serverArgs" -}}
- --tls-cert-file
- /etc/metal-mesh/tls/tls.crt
- --tls-key-file
- /etc/metal-mesh/tls/tls.key
{{- if .root.Values.tls.clientCaSecret }}
- --tls-client-ca-file
- /etc/metal-mesh/client-ca/ca.crt
{{- end }}
- --auth
- kubernetes
{{- with .root.Values.auth.cacheTtl }}
- --auth-cache-ttl
- {{ . | toString | quote }}
{{- end }}
{{- with .root.Values.auth.reviewTimeout }}
- --auth-review-timeout
- {{ . | toString | quote }}
{{- end }}
{{- if .root.Values.metrics.open }}
- --metrics-open
{{- end }}
{{- end }}

{{/*
The volume mounts of the serving certificate (and the client CA), read-only below
/etc/metal-mesh. YAML list items, to be nindent-ed into volumeMounts.
Usage: include "metal-mesh.tls.volumeMounts" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.tls.volumeMounts" -}}
- name: tls
  mountPath: /etc/metal-mesh/tls
  readOnly: true
{{- if .root.Values.tls.clientCaSecret }}
- name: client-ca
  mountPath: /etc/metal-mesh/client-ca
  readOnly: true
{{- end }}
{{- end }}

{{/*
The volumes of the serving certificate (the whole Secret: the binary re-reads tls.crt/tls.key
when they change, so a Secret rotated in place needs no restart; mode 0440, readable by the
pod's fsGroup) and of the client CA (its ca.crt only). YAML list items, to be nindent-ed.
Usage: include "metal-mesh.tls.volumes" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.tls.volumes" -}}
- name: tls
  secret:
    secretName: {{ include "metal-mesh.tls.secretName" . }}
    defaultMode: 0440
{{- with .root.Values.tls.clientCaSecret }}
- name: client-ca
  secret:
    secretName: {{ . }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{/*
lb-allocator: where the CA it trusts for metal-api's certificate comes from, as a JSON object
{secret, key}, or "{}" for none (then METAL_API_CA_FILE is not set: the system roots apply).
  lbAllocator.metalApi.caSecret given: that Secret, key caSecretKey;
  else, wired to the embedded metal-api (url empty): ca.crt of metal-api's TLS Secret.
*/}}
{{- define "metal-mesh.lbAllocator.metalApiCa" -}}
{{- $api := .Values.lbAllocator.metalApi }}
{{- $url := $api.url | default "" | toString | trim }}
{{- if $api.caSecret }}
{{- dict "secret" (toString $api.caSecret) "key" (toString ($api.caSecretKey | default "ca.crt")) | toJson }}
{{- else if and (not $url) .Values.metalApi.enabled }}
{{- dict "secret" (include "metal-mesh.tls.secretName" (dict "root" . "component" "metal-api")) "key" "ca.crt" | toJson }}
{{- else }}
{{- print "{}" }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy of one service: ingress to its pods only on the given ports, from
networkPolicy.from (empty: from anywhere) plus extra peers.
Usage: include "metal-mesh.networkPolicy" (dict "root" . "component" "metal-api" "ports" (list (dict "port" 8080 "protocol" "TCP")) "extraFrom" (list))
*/}}
{{- define "metal-mesh.networkPolicy" -}}
{{- $from := .root.Values.networkPolicy.from | default list }}
{{- if $from }}
{{- $from = concat $from (.extraFrom | default list) }}
{{- end }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "metal-mesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "metal-mesh.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "metal-mesh.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    - ports:
        {{- range .ports }}
        - protocol: {{ .protocol }}
          port: {{ .port }}
        {{- end }}
      {{- with $from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
Access rules from a map verb -> non-resource URLs, as a JSON list: one rule per verb, verbs in
alphabetical order, each rule's nonResourceURLs sorted.
Usage: include "metal-mesh.accessRules" (dict "get" (list "/metrics"))
*/}}
{{- define "metal-mesh.accessRules" -}}
{{- $rules := list }}
{{- range $verb := keys . | sortAlpha }}
{{- $rules = append $rules (dict "nonResourceURLs" (index $ $verb | sortAlpha) "verbs" (list $verb)) }}
{{- end }}
{{- toJson $rules }}
{{- end }}

{{/*
The access ClusterRoles metal-mesh:<service>:<capability> of the enabled services, as a JSON
object {"<service>:<capability>": [rules]}: exactly the non-resource URLs and verbs of each
service's API (rule-compiler's POST /v1/compile and gardener-webhooks' POST /v1/validate/shoot,
/v1/default/shoot and /v1/render/ignition compute without applying: reads; machine-lifecycle's
POST /v1/machines and DELETE /v1/machines/{name} allocate and free machines: editor only). metal-api
keeps its HMAC auth for its own API; only its /metrics goes through the delegated auth.
all=true: the roles of every service, enabled or not (to check rbac.bindings against).
Usage: include "metal-mesh.accessRoles" (dict "root" . "all" false)
*/}}
{{- define "metal-mesh.accessRoles" -}}
{{- $apiRead := dict "get" (list "/metrics") }}
{{- $lbRead := list "/metrics" "/v1/loadbalancers" "/v1/metallb" "/v1/nodes/*" }}
{{- $rcRead := dict "get" (list "/metrics" "/v1/ruleset" "/v1/status") "create" (list "/v1/compile") }}
{{- $vmRead := dict "get" (list "/metrics" "/v1/capacity" "/v1/snapshots" "/v1/volumegroups" "/v1/volumes") }}
{{- $gwRead := dict "get" (list "/metrics") "create" (list "/v1/default/shoot" "/v1/render/ignition" "/v1/validate/shoot") }}
{{- $mlRead := list "/metrics" "/v1/machines" }}
{{- $byService := dict
  "metal-api" (dict "viewer" $apiRead "editor" $apiRead)
  "lb-allocator" (dict "viewer" (dict "get" $lbRead) "editor" (dict "get" $lbRead "create" (list "/v1/loadbalancers") "delete" (list "/v1/loadbalancers/*")))
  "rule-compiler" (dict "viewer" $rcRead "editor" $rcRead)
  "volume-manager" (dict "viewer" $vmRead "editor" $vmRead)
  "gardener-webhooks" (dict "viewer" $gwRead "editor" $gwRead)
  "machine-lifecycle" (dict "viewer" (dict "get" $mlRead) "editor" (dict "get" $mlRead "create" (list "/v1/machines") "delete" (list "/v1/machines/*"))) }}
{{- $out := dict }}
{{- range $s := (include "metal-mesh.services" .root | fromJsonArray) }}
{{- if or $s.enabled $.all }}
{{- range $cap, $verbs := index $byService $s.component }}
{{- $_ := set $out (printf "%s:%s" $s.component $cap) (include "metal-mesh.accessRules" $verbs | fromJsonArray) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The ClusterRoleBinding <component name>-auth-delegator: lets the service's ServiceAccount create
TokenReviews and SubjectAccessReviews (ClusterRole system:auth-delegator), which its delegated
authentication and authorization (--auth kubernetes) sends for every request.
Usage: include "metal-mesh.authDelegatorBinding" (dict "root" . "component" "metal-api")
*/}}
{{- define "metal-mesh.authDelegatorBinding" -}}
{{- $name := include "metal-mesh.componentName" . }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ printf "%s-auth-delegator" $name }}
  labels:
    {{- include "metal-mesh.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:auth-delegator
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ .root.Release.Namespace }}
{{- end }}

{{/*
gardener-webhooks: "true" when it is deployed, i.e. gardenerWebhooks.garden.enabled or
gardenerWebhooks.seed.enabled; "" otherwise.
*/}}
{{- define "metal-mesh.gardenerWebhooks.enabled" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if or (eq (toString (dig "garden" "enabled" false $gw)) "true") (eq (toString (dig "seed" "enabled" false $gw)) "true") }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: names of its objects. The webhook configurations are cluster-scoped and
carry the component name (the shoot one a -shoot suffix); the ClusterRoles of the two cluster
roles get a suffix each.
*/}}
{{- define "metal-mesh.gardenerWebhooks.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.gardenRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-garden") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.seedRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-seed") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.shootConfigName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-shoot") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.osControllerRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-os-controller") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.leaseRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-leader-election") }}
{{- end }}

{{- define "metal-mesh.gardenerWebhooks.extensionsRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-extensions") }}
{{- end }}

{{/*
gardener-webhooks: the ConfigMap of the extension controllers' metal-api CA
(gardenerWebhooks.seed.extensions.metalApiCA).
*/}}
{{- define "metal-mesh.gardenerWebhooks.metalApiCaName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "gardener-webhooks-metal-api-ca") }}
{{- end }}

{{/*
gardener-webhooks: "true" when the OperatingSystemConfig controller runs
(gardenerWebhooks.seed.enabled and gardenerWebhooks.seed.osController.enabled); "" otherwise.
*/}}
{{- define "metal-mesh.gardenerWebhooks.osController" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if and (eq (toString (dig "seed" "enabled" false $gw)) "true") (eq (toString (dig "seed" "osController" "enabled" false $gw)) "true") }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the Lease of the OS controller's leader election: the binary's default name
(--leader-elect-lease-name is not passed), in the release namespace (POD_NAMESPACE).
*/}}
{{- define "metal-mesh.gardenerWebhooks.leaseName" -}}
gardener-webhooks-os-controller
{{- end }}

{{/*
gardener-webhooks: "true" when the extension controllers of provider metal run
(gardenerWebhooks.seed.enabled and gardenerWebhooks.seed.extensions.enabled); "" otherwise.
*/}}
{{- define "metal-mesh.gardenerWebhooks.extensions" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if and (eq (toString (dig "seed" "enabled" false $gw)) "true") (eq (toString (dig "seed" "extensions" "enabled" false $gw)) "true") }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the Lease of the extension controllers' leader election: the binary's default
name (--extensions-lease-name is not passed), in the release namespace (POD_NAMESPACE).
*/}}
{{- define "metal-mesh.gardenerWebhooks.extensionsLeaseName" -}}
provider-metal-leader-election
{{- end }}

{{/*
gardener-webhooks: "true" when a leader-elected controller runs (seed.osController or
seed.extensions): then --leader-elect, POD_NAME/POD_NAMESPACE and the Lease Role; "" otherwise.
*/}}
{{- define "metal-mesh.gardenerWebhooks.leaderElect" -}}
{{- if or (include "metal-mesh.gardenerWebhooks.osController" .) (include "metal-mesh.gardenerWebhooks.extensions" .) }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the Leases of the controllers that run, as a JSON list (the Lease Role's
resourceNames): the OS controller's, then the extension controllers'.
*/}}
{{- define "metal-mesh.gardenerWebhooks.leaseNames" -}}
{{- $out := list }}
{{- if include "metal-mesh.gardenerWebhooks.osController" . }}
{{- $out = append $out (include "metal-mesh.gardenerWebhooks.leaseName" .) }}
{{- end }}
{{- if include "metal-mesh.gardenerWebhooks.extensions" . }}
{{- $out = append $out (include "metal-mesh.gardenerWebhooks.extensionsLeaseName" .) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
gardener-webhooks: --webhooks, from the two switches: the garden admission (validator,
secrets-validator, mutator) and the seed mutation (controlplane, seedprovider, shoot).
*/}}
{{- define "metal-mesh.gardenerWebhooks.webhooks" -}}
{{- $gw := .Values.gardenerWebhooks }}
{{- $out := list }}
{{- if $gw.garden.enabled }}
{{- $out = concat $out (list "validator" "secrets-validator" "mutator") }}
{{- end }}
{{- if $gw.seed.enabled }}
{{- $out = concat $out (list "controlplane" "seedprovider" "shoot") }}
{{- end }}
{{- join "," $out }}
{{- end }}

{{/*
gardener-webhooks: the host part of --listen; an IPv6 address gets its brackets.
*/}}
{{- define "metal-mesh.gardenerWebhooks.listenHost" -}}
{{- $h := .Values.gardenerWebhooks.listenAddress | default "0.0.0.0" | toString | trim }}
{{- if and (contains ":" $h) (not (hasPrefix "[" $h)) }}
{{- printf "[%s]" $h }}
{{- else }}
{{- $h }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the Shoot defaulter's overrides (gardenerWebhooks.garden.defaults) as a JSON
object {"DEFAULTER_<KEY>": "<value>"}: one variable per key given (the key upper-cased, e.g.
maxPods -> DEFAULTER_MAXPODS), lists joined with commas; null values are left out. Fails on an
unknown key or a value of the wrong kind (the binary would silently fall back to its default).
*/}}
{{- define "metal-mesh.gardenerWebhooks.defaulterEnv" -}}
{{- $ints := list "MAXPODS" "NODECIDRMASKSIZE" "CILIUMMTU" }}
{{- $bools := list "CALICOKUBEPROXYENABLED" "CALICOTYPHAENABLED" "CILIUMHUBBLEENABLED" "CILIUMKUBEPROXYENABLED" "CILIUMBGPCONTROLPLANE" "CILIUMIPV4NATIVEROUTINGCIDRENABLED" }}
{{- $cidrs := list "PODSCIDR" "SERVICESCIDR" }}
{{- $strings := list "NETWORKTYPE" "CALICOBACKEND" "CALICOPOOLMODE" "CILIUMTUNNEL" "CILIUMDIRECTROUTINGDEVICE" "CILIUMLOADBALANCINGMODE" }}
{{- $known := concat $ints $bools $cidrs $strings (list "CILIUMDEVICES") }}
{{- $defaults := .Values.gardenerWebhooks.garden.defaults | default dict }}
{{- if not (kindIs "map" $defaults) }}
{{- fail "gardenerWebhooks.garden.defaults must be a map, e.g. {maxPods: 110, networkType: cilium}" }}
{{- end }}
{{- $out := dict }}
{{- range $key, $value := $defaults }}
{{- $name := upper $key }}
{{- $what := printf "gardenerWebhooks.garden.defaults.%s" $key }}
{{- if not (has $name $known) }}
{{- fail (printf "%s is not a defaulter setting: the keys are maxPods, nodeCIDRMaskSize, podsCIDR, servicesCIDR, networkType, calicoBackend, calicoKubeProxyEnabled, calicoPoolMode, calicoTyphaEnabled, ciliumHubbleEnabled, ciliumKubeProxyEnabled, ciliumTunnel, ciliumDevices, ciliumDirectRoutingDevice, ciliumBGPControlPlane, ciliumIPv4NativeRoutingCIDREnabled, ciliumLoadBalancingMode, ciliumMTU (DEFAULTER_<KEY upper-cased>)" $what) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
{{- $v := "" }}
{{- if eq $name "CILIUMDEVICES" }}
{{- $list := $value }}
{{- if kindIs "string" $value }}
{{- $list = splitList "," $value }}
{{- end }}
{{- if not (kindIs "slice" $list) }}
{{- fail (printf "%s must be a list of interface patterns (e.g. [lan+, lo]) or one comma-separated string" $what) }}
{{- end }}
{{- $items := list }}
{{- range $list }}
{{- $items = append $items (toString . | trim) }}
{{- end }}
{{- $v = join "," (compact $items) }}
{{- if not $v }}
{{- fail (printf "%s must not be empty (leave the key out to keep the default)" $what) }}
{{- end }}
{{- else if kindIs "map" $value }}
{{- fail (printf "%s must be a single value, not a map" $what) }}
{{- else if kindIs "slice" $value }}
{{- fail (printf "%s must be a single value, not a list" $what) }}
{{- else }}
{{- $v = toString $value | trim }}
{{- end }}
{{- if and (has $name $ints) (not (regexMatch "^[0-9]+$" $v)) }}
{{- fail (printf "%s must be a whole number, not %q" $what $v) }}
{{- end }}
{{- if and (has $name $bools) (not (has $v (list "true" "false"))) }}
{{- fail (printf "%s must be true or false, not %q" $what $v) }}
{{- end }}
{{- if and (has $name $cidrs) (not (regexMatch "^[0-9a-fA-F.:]+/[0-9]{1,3}$" $v)) }}
{{- fail (printf "%s must be a CIDR (e.g. 10.240.0.0/13), not %q" $what $v) }}
{{- end }}
{{- if and (has $name $strings) (not $v) }}
{{- fail (printf "%s must not be empty (leave the key out to keep the default)" $what) }}
{{- end }}
{{- $_ := set $out (printf "DEFAULTER_%s" $name) $v }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
gardener-webhooks: the URL of its shoot webhook (gardenerWebhooks.seed.shootWebhookURL, without
a trailing slash, plus /webhooks/shoot); "" when not set.
*/}}
{{- define "metal-mesh.gardenerWebhooks.shootWebhookUrl" -}}
{{- with .Values.gardenerWebhooks.seed.shootWebhookURL | default "" | toString | trim | trimSuffix "/" }}
{{- printf "%s/webhooks/shoot" . }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: caBundle of its webhook configurations, base64 (as the field wants it), from
the serving certificate's mode:
  selfSigned   the ca.crt of the chart's serving Secret of gardener-webhooks: the CA that signed
               it, from the same render (metal-mesh.tls.selfSigned; the release CA, or the CA a
               kept Secret was issued with);
  existing     gardenerWebhooks.caBundle (PEM): the CA of tls.existingSecret, which the chart
               cannot read at render time; required;
  certManager  "": cert-manager's cainjector fills it in (annotation cert-manager.io/inject-ca-from).
*/}}
{{- define "metal-mesh.gardenerWebhooks.caBundle" -}}
{{- $ctx := dict "root" . "component" "gardener-webhooks" }}
{{- $mode := include "metal-mesh.tls.mode" $ctx }}
{{- $given := .Values.gardenerWebhooks.caBundle | default "" | toString }}
{{- if eq $mode "existing" }}
{{- if not (trim $given) }}
{{- fail (printf "gardenerWebhooks.caBundle is required with gardenerWebhooks.tls.existingSecret (%s): the kube-apiserver must trust the webhook's certificate, and the chart cannot read that Secret's ca.crt while rendering; give the PEM of the CA that signed it, e.g. --set-file gardenerWebhooks.caBundle=ca.crt" (include "metal-mesh.tls.secretName" $ctx)) }}
{{- end }}
{{- if not (contains "-----BEGIN CERTIFICATE-----" $given) }}
{{- fail "gardenerWebhooks.caBundle must be PEM: one or more -----BEGIN CERTIFICATE----- blocks (the CA that signed gardenerWebhooks.tls.existingSecret)" }}
{{- end }}
{{- $given | b64enc }}
{{- else if trim $given }}
{{- fail (printf "gardenerWebhooks.caBundle is only used with gardenerWebhooks.tls.existingSecret: with %s the chart sets the webhooks' CA itself (self-signed: the release CA; certManager: cert-manager's cainjector)" (ternary "tls.certManager" "self-signed certificates" (eq $mode "certManager"))) }}
{{- else if eq $mode "selfSigned" }}
{{- $tls := include "metal-mesh.tls.selfSigned" . | fromJson }}
{{- $secret := index $tls.secrets "gardener-webhooks" | default dict }}
{{- index $secret "ca.crt" | default (index $tls.ca "tls.crt") }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: metadata.annotations of its webhook configurations (YAML map entries, to be
nindent-ed); with tls.certManager, cert-manager.io/inject-ca-from names its Certificate.
*/}}
{{- define "metal-mesh.gardenerWebhooks.configAnnotations" -}}
{{- if eq (include "metal-mesh.tls.mode" (dict "root" . "component" "gardener-webhooks")) "certManager" }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "metal-mesh.gardenerWebhooks.name" .) }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: one webhook of a configuration (a YAML list item, to be nindent-ed): the
settings every webhook of the chart shares (failurePolicy Fail unless given, sideEffects None,
timeout 10s, AdmissionReview v1, matchPolicy Equivalent, so that a request in another version of
a resource reaches the binary in the version it decodes), the clientConfig (the chart's Service
on port https and the path, or a URL for the shoot webhook) and the given rules and selectors.
Usage: include "metal-mesh.gardenerWebhooks.webhook" (dict "root" . "name" "validator.admission-metal.extensions.gardener.cloud"
  "path" "/webhooks/validate" "rules" (list (list "core.gardener.cloud" "v1beta1" "shoots")) "objectSelector" (dict ...) "namespaceSelector" (dict ...) "url" "")
*/}}
{{- define "metal-mesh.gardenerWebhooks.webhook" -}}
{{- $root := .root }}
{{- $caBundle := include "metal-mesh.gardenerWebhooks.caBundle" $root -}}
- name: {{ .name }}
  admissionReviewVersions: ["v1"]
  clientConfig:
    {{- if .url }}
    url: {{ .url | quote }}
    {{- else }}
    service:
      name: {{ include "metal-mesh.gardenerWebhooks.name" $root }}
      namespace: {{ $root.Release.Namespace }}
      port: {{ int $root.Values.gardenerWebhooks.service.port }}
      path: {{ .path | quote }}
    {{- end }}
    {{- with $caBundle }}
    caBundle: {{ . }}
    {{- end }}
  failurePolicy: {{ .failurePolicy | default "Fail" }}
  matchPolicy: Equivalent
  sideEffects: None
  timeoutSeconds: 10
  {{- with .namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .objectSelector }}
  objectSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- range .rules }}
    - apiGroups: [{{ index . 0 | quote }}]
      apiVersions: [{{ index . 1 | quote }}]
      resources: [{{ index . 2 | quote }}]
      operations: ["CREATE", "UPDATE"]
      scope: "*"
    {{- end }}
{{- end }}

{{/*
gardener-webhooks: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.gardenerWebhooks.validate" -}}
{{- $gw := .Values.gardenerWebhooks }}
{{- if not (has (toString $gw.logFormat) (list "text" "json")) }}
{{- fail (printf "gardenerWebhooks.logFormat must be text or json, not %q" (toString $gw.logFormat)) }}
{{- end }}
{{- range $key, $port := dict "port" $gw.port "service.port" $gw.service.port }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $port))) (lt (int $port) 1) (gt (int $port) 65535) }}
{{- fail (printf "gardenerWebhooks.%s must be 1..65535, not %v" $key $port) }}
{{- end }}
{{- end }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $gw.replicas))) (lt (int $gw.replicas) 1) }}
{{- fail (printf "gardenerWebhooks.replicas must be a whole number >= 1 (the kube-apiserver calls the webhooks with failurePolicy Fail), not %v" $gw.replicas) }}
{{- end }}
{{- $_ := include "metal-mesh.gardenerWebhooks.caBundle" . }}
{{- if $gw.garden.enabled }}
{{- $_ := include "metal-mesh.gardenerWebhooks.defaulterEnv" . }}
{{- end }}
{{- if $gw.seed.enabled }}
{{- $etcd := $gw.seed.etcd | default dict }}
{{- with $etcd.storageCapacity | default "" | toString | trim }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$" .) }}
{{- fail (printf "gardenerWebhooks.seed.etcd.storageCapacity must be a quantity (e.g. 16Gi), not %q" .) }}
{{- end }}
{{- end }}
{{- with $etcd.backupDeltaSnapshotPeriod | default "" | toString | trim }}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" .) }}
{{- fail (printf "gardenerWebhooks.seed.etcd.backupDeltaSnapshotPeriod must be a duration (e.g. 5m), not %q" .) }}
{{- end }}
{{- end }}
{{- with $etcd.backupSchedule | default "" | toString | trim }}
{{- if ne (len (splitList " " (regexReplaceAll "\\s+" . " "))) 5 }}
{{- fail (printf "gardenerWebhooks.seed.etcd.backupSchedule must be a cron schedule of five fields (e.g. \"0 */24 * * *\"), not %q" .) }}
{{- end }}
{{- end }}
{{- with $gw.seed.shootWebhookURL | default "" | toString | trim }}
{{- if or (not (regexMatch "^https://[^/?#\\s]+(/[^?#\\s]*)?$" .)) (contains "@" .) }}
{{- fail (printf "gardenerWebhooks.seed.shootWebhookURL must be an https:// URL without user, query or fragment (the shoots' kube-apiservers call it; /webhooks/shoot is appended), e.g. https://%s.%s.svc:%v, not %q" (include "metal-mesh.gardenerWebhooks.name" $) $.Release.Namespace $gw.service.port .) }}
{{- end }}
{{- end }}
{{- if not (has (toString $gw.seed.shootWebhookFailurePolicy) (list "Fail" "Ignore")) }}
{{- fail (printf "gardenerWebhooks.seed.shootWebhookFailurePolicy must be Fail or Ignore, not %q" (toString $gw.seed.shootWebhookFailurePolicy)) }}
{{- end }}
{{- if include "metal-mesh.gardenerWebhooks.osController" . }}
{{- $os := $gw.seed.osController }}
{{- if not (has (toString $os.ignitionVersion) (list "2.3.0" "3.4.0")) }}
{{- fail (printf "gardenerWebhooks.seed.osController.ignitionVersion must be 2.3.0 or 3.4.0, not %q" (toString $os.ignitionVersion)) }}
{{- end }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $os.workers))) (lt (int $os.workers) 1) (gt (int $os.workers) 65535) }}
{{- fail (printf "gardenerWebhooks.seed.osController.workers must be a whole number >= 1 (at most 65535), not %v" $os.workers) }}
{{- end }}
{{- end }}
{{- if include "metal-mesh.gardenerWebhooks.extensions" . }}
{{- $ext := $gw.seed.extensions }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $ext.workers))) (lt (int $ext.workers) 1) (gt (int $ext.workers) 65535) }}
{{- fail (printf "gardenerWebhooks.seed.extensions.workers must be a whole number >= 1 (at most 65535), not %v" $ext.workers) }}
{{- end }}
{{- $images := $ext.machineImages | default list }}
{{- if not (kindIs "slice" $images) }}
{{- fail "gardenerWebhooks.seed.extensions.machineImages must be a list of {name, version, image}, e.g. [{name: ubuntu, version: 24.4.20240503, image: ubuntu-24.04}]" }}
{{- end }}
{{- $seen := list }}
{{- range $i, $mi := $images }}
{{- $what := printf "gardenerWebhooks.seed.extensions.machineImages[%d]" $i }}
{{- if not (kindIs "map" $mi) }}
{{- fail (printf "%s must be a map {name, version, image}, not %v" $what $mi) }}
{{- end }}
{{- range $key := list "name" "version" "image" }}
{{- $v := index $mi $key }}
{{- if or (kindIs "map" $v) (kindIs "slice" $v) (not ($v | default "" | toString | trim)) }}
{{- fail (printf "%s.%s must not be empty: every machine image needs a name, a version and the metal-api image (--machine-image NAME:VERSION=IMAGE)" $what $key) }}
{{- end }}
{{- end }}
{{- range $key := keys $mi | sortAlpha }}
{{- if not (has $key (list "name" "version" "image")) }}
{{- fail (printf "%s.%s is not a machine image field: the fields are name, version and image" $what $key) }}
{{- end }}
{{- end }}
{{- $name := toString $mi.name | trim }}
{{- $version := toString $mi.version | trim }}
{{- if or (contains ":" $name) (contains "=" $name) }}
{{- fail (printf "%s.name must not contain ':' or '=' (--machine-image NAME:VERSION=IMAGE), not %q" $what $name) }}
{{- end }}
{{- if contains "=" $version }}
{{- fail (printf "%s.version must not contain '=' (--machine-image NAME:VERSION=IMAGE), not %q" $what $version) }}
{{- end }}
{{- $id := printf "%s:%s" $name $version }}
{{- if has $id $seen }}
{{- fail (printf "%s: %s is given twice; each name and version maps to one image" $what $id) }}
{{- end }}
{{- $seen = append $seen $id }}
{{- end }}
{{- $prefixes := $ext.firewallInternalPrefixes | default list }}
{{- if not (kindIs "slice" $prefixes) }}
{{- fail "gardenerWebhooks.seed.extensions.firewallInternalPrefixes must be a list of CIDRs, e.g. [10.0.0.0/8]" }}
{{- end }}
{{- range $i, $p := $prefixes }}
{{- $cidr := toString $p | trim }}
{{- $ok := false }}
{{- if regexMatch "^(0|[1-9][0-9]{0,2})(\\.(0|[1-9][0-9]{0,2})){3}/[0-9]{1,2}$" $cidr }}
{{- $parts := splitList "/" $cidr }}
{{- $ok = le (int (index $parts 1)) 32 }}
{{- range splitList "." (index $parts 0) }}
{{- if gt (int .) 255 }}
{{- $ok = false }}
{{- end }}
{{- end }}
{{- else if regexMatch "^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*/[0-9]{1,3}$" $cidr }}
{{- $ok = le (int (last (splitList "/" $cidr))) 128 }}
{{- end }}
{{- if or (kindIs "map" $p) (kindIs "slice" $p) (not $ok) }}
{{- fail (printf "gardenerWebhooks.seed.extensions.firewallInternalPrefixes[%d] must be a CIDR (e.g. 10.0.0.0/8 or fd00::/8), not %q" $i $cidr) }}
{{- end }}
{{- end }}
{{- with $ext.metalApiTimeout | default "" | toString | trim }}
{{- if or (not (regexMatch "^([0-9]+(ns|us|µs|ms|s|m|h|d))+$" .)) (not (regexMatch "[1-9]" .)) }}
{{- fail (printf "gardenerWebhooks.seed.extensions.metalApiTimeout must be a duration above zero (e.g. 30s or 1m30s), not %q" .) }}
{{- end }}
{{- end }}
{{- $ca := $ext.metalApiCA | default "" | toString }}
{{- if and (trim $ca) (not (contains "-----BEGIN CERTIFICATE-----" $ca)) }}
{{- fail "gardenerWebhooks.seed.extensions.metalApiCA must be PEM: one or more -----BEGIN CERTIFICATE----- blocks (the CA bundle trusted for metal-api), e.g. --set-file gardenerWebhooks.seed.extensions.metalApiCA=ca.crt" }}
{{- end }}
{{- if not (kindIs "string" ($ext.controlPlaneImage | default "")) }}
{{- fail (printf "gardenerWebhooks.seed.extensions.controlPlaneImage must be an image reference (a string; empty: the chart's image), not %v" $ext.controlPlaneImage) }}
{{- end }}
{{- if regexMatch "\\s" (trim ($ext.controlPlaneImage | default "" | toString)) }}
{{- fail (printf "gardenerWebhooks.seed.extensions.controlPlaneImage must be an image reference without spaces, not %q" (toString $ext.controlPlaneImage)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the old single switch gardenerWebhooks.enabled is gone; fail when it is still
set to true instead of silently rendering nothing. Renders nothing.
*/}}
{{- define "metal-mesh.gardenerWebhooks.checkOldSwitch" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if eq (toString (dig "enabled" false $gw)) "true" }}
{{- fail "gardenerWebhooks.enabled is replaced by two switches: gardenerWebhooks.garden.enabled (in a garden cluster: the Shoot, CloudProfile, SecretBinding, CredentialsBinding and Secret validation and the Shoot defaulter) and gardenerWebhooks.seed.enabled (in a seed cluster: the controlplane, seedprovider and shoot mutation); set one or both" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the OperatingSystemConfig controller runs in a seed only; fail when
gardenerWebhooks.seed.osController.enabled is set without gardenerWebhooks.seed.enabled instead
of silently not running it. Renders nothing.
*/}}
{{- define "metal-mesh.gardenerWebhooks.checkOsControllerSwitch" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if and (eq (toString (dig "seed" "osController" "enabled" false $gw)) "true") (ne (toString (dig "seed" "enabled" false $gw)) "true") }}
{{- fail "gardenerWebhooks.seed.osController.enabled needs gardenerWebhooks.seed.enabled: the OperatingSystemConfig controller runs in a seed cluster, next to the seed webhooks" }}
{{- end }}
{{- end }}

{{/*
gardener-webhooks: the extension controllers run in a seed only; fail when
gardenerWebhooks.seed.extensions.enabled is set without gardenerWebhooks.seed.enabled instead of
silently not running them. Renders nothing.
*/}}
{{- define "metal-mesh.gardenerWebhooks.checkExtensionsSwitch" -}}
{{- $gw := .Values.gardenerWebhooks | default dict }}
{{- if and (eq (toString (dig "seed" "extensions" "enabled" false $gw)) "true") (ne (toString (dig "seed" "enabled" false $gw)) "true") }}
{{- fail "gardenerWebhooks.seed.extensions.enabled needs gardenerWebhooks.seed.enabled: the extension controllers of provider metal (Infrastructure, ControlPlane, Worker) run in a seed cluster, next to the seed webhooks" }}
{{- end }}
{{- end }}

{{/*
machine-lifecycle: names of its objects. The Role (Machines, MachineClasses, Secrets) lives in
the Machines' namespace, the Lease Role in the Lease's; both may be the release namespace, so
they get different names. The nodes ClusterRole gets a suffix of its own.
*/}}
{{- define "metal-mesh.machineLifecycle.name" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "machine-lifecycle") }}
{{- end }}

{{- define "metal-mesh.machineLifecycle.nodesRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "machine-lifecycle-nodes") }}
{{- end }}

{{- define "metal-mesh.machineLifecycle.leaseRoleName" -}}
{{- include "metal-mesh.componentName" (dict "root" . "component" "machine-lifecycle-leader-election") }}
{{- end }}

{{/*
machine-lifecycle: the namespace of the Machines, MachineClasses and their Secrets
(--namespace): machineLifecycle.namespace, else the release namespace.
*/}}
{{- define "metal-mesh.machineLifecycle.namespace" -}}
{{- default .Release.Namespace (.Values.machineLifecycle.namespace | default "" | toString | trim) }}
{{- end }}

{{/*
machine-lifecycle: "true" when it runs with leader election (replicas > 1); "" otherwise.
*/}}
{{- define "metal-mesh.machineLifecycle.leaderElect" -}}
{{- if gt (int .Values.machineLifecycle.replicas) 1 }}
{{- print "true" }}
{{- end }}
{{- end }}

{{/*
machine-lifecycle: the namespace of its Lease (--leader-elect-namespace):
machineLifecycle.leaderElection.namespace, else the Machines' namespace (the binary's default).
*/}}
{{- define "metal-mesh.machineLifecycle.leaseNamespace" -}}
{{- $le := .Values.machineLifecycle.leaderElection | default dict }}
{{- default (include "metal-mesh.machineLifecycle.namespace" .) ($le.namespace | default "" | toString | trim) }}
{{- end }}

{{/*
machine-lifecycle: the host part of --listen; an IPv6 address gets its brackets.
*/}}
{{- define "metal-mesh.machineLifecycle.listenHost" -}}
{{- $h := .Values.machineLifecycle.listenAddress | default "0.0.0.0" | toString | trim }}
{{- if and (contains ":" $h) (not (hasPrefix "[" $h)) }}
{{- printf "[%s]" $h }}
{{- else }}
{{- $h }}
{{- end }}
{{- end }}

{{/*
machine-lifecycle: the directory of its gRPC socket (the emptyDir's mount path).
*/}}
{{- define "metal-mesh.machineLifecycle.grpcDir" -}}
{{- .Values.machineLifecycle.grpcSocket.path | default "" | toString | trim | dir }}
{{- end }}

{{/*
machine-lifecycle: checks the values; renders nothing, fails with a message naming the value.
*/}}
{{- define "metal-mesh.machineLifecycle.validate" -}}
{{- $ml := .Values.machineLifecycle }}
{{- if not (has (toString $ml.logFormat) (list "text" "json")) }}
{{- fail (printf "machineLifecycle.logFormat must be text or json, not %q" (toString $ml.logFormat)) }}
{{- end }}
{{- range $key, $port := dict "port" $ml.port "service.port" $ml.service.port }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $port))) (lt (int $port) 1) (gt (int $port) 65535) }}
{{- fail (printf "machineLifecycle.%s must be 1..65535, not %v" $key $port) }}
{{- end }}
{{- end }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $ml.replicas))) (lt (int $ml.replicas) 1) }}
{{- fail (printf "machineLifecycle.replicas must be a whole number >= 1 (more than one: leader election), not %v" $ml.replicas) }}
{{- end }}
{{- if or (not (regexMatch "^[0-9]+$" (toString $ml.workers))) (lt (int $ml.workers) 1) (gt (int $ml.workers) 1024) }}
{{- fail (printf "machineLifecycle.workers must be a whole number 1..1024, not %v" $ml.workers) }}
{{- end }}
{{- $ns := $ml.namespace | default "" | toString | trim }}
{{- if and $ns (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns)) }}
{{- fail (printf "machineLifecycle.namespace must be a namespace name (a lower-case DNS label), not %q" $ns) }}
{{- end }}
{{- $durations := dict "creationTimeout" $ml.creationTimeout "retry.short" $ml.retry.short "retry.medium" $ml.retry.medium "retry.long" $ml.retry.long "metalApi.timeout" $ml.metalApi.timeout }}
{{- if include "metal-mesh.machineLifecycle.leaderElect" . }}
{{- $_ := set $durations "leaderElection.leaseDuration" $ml.leaderElection.leaseDuration }}
{{- end }}
{{- range $key := keys $durations | sortAlpha }}
{{- $d := index $durations $key | default "" | toString | trim }}
{{- if or (not (regexMatch "^([0-9]+(ns|us|ms|s|m|h|d))+$" $d)) (not (regexMatch "[1-9]" $d)) }}
{{- fail (printf "machineLifecycle.%s must be a duration > 0 such as 5s, 3m or 1h30m, not %q" $key $d) }}
{{- end }}
{{- end }}
{{- if include "metal-mesh.machineLifecycle.leaderElect" . }}
{{- $le := $ml.leaderElection }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" ($le.leaseName | default "" | toString)) }}
{{- fail (printf "machineLifecycle.leaderElection.leaseName must be a Lease name (lower-case DNS subdomain), not %q" (toString ($le.leaseName | default ""))) }}
{{- end }}
{{- $leaseNs := $le.namespace | default "" | toString | trim }}
{{- if and $leaseNs (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $leaseNs)) }}
{{- fail (printf "machineLifecycle.leaderElection.namespace must be a namespace name (a lower-case DNS label), not %q" $leaseNs) }}
{{- end }}
{{- end }}
{{- if $ml.grpcSocket.enabled }}
{{- $path := $ml.grpcSocket.path | default "" | toString | trim }}
{{- if or (not (hasPrefix "/" $path)) (eq (dir $path) "/") (hasSuffix "/" $path) (contains "//" $path) (contains "/../" $path) (contains "/./" $path) }}
{{- fail (printf "machineLifecycle.grpcSocket.path must be an absolute path of a socket in a directory of its own below / (the directory becomes an emptyDir), e.g. /run/machine-lifecycle/driver.sock, not %q" $path) }}
{{- end }}
{{- if gt (len $path) 107 }}
{{- fail (printf "machineLifecycle.grpcSocket.path is longer than a unix socket path may be (107 bytes): %q" $path) }}
{{- end }}
{{- if or (has (dir $path) (list "/etc" "/tmp" "/usr" "/usr/local" "/usr/local/bin" "/data" "/etc/metal-mesh")) (hasPrefix "/etc/metal-mesh/" (dir $path)) (hasPrefix "/tmp/" (dir $path)) }}
{{- fail (printf "machineLifecycle.grpcSocket.path: its directory %s would hide a directory of the image or another mount; use one of its own, e.g. /run/machine-lifecycle/driver.sock" (dir $path)) }}
{{- end }}
{{- end }}
{{- $target := $ml.targetKubeconfig | default dict }}
{{- if and $target.secretName (not ($target.secretKey | default "" | toString | trim)) }}
{{- fail "machineLifecycle.targetKubeconfig.secretKey must name the key of targetKubeconfig.secretName that holds the kubeconfig (e.g. kubeconfig)" }}
{{- end }}
{{- if and $ml.metalApi.caSecret (not ($ml.metalApi.caSecretKey | default "" | toString | trim)) }}
{{- fail "machineLifecycle.metalApi.caSecretKey must name the key of caSecret that holds the PEM CA bundle (e.g. ca.crt)" }}
{{- end }}
{{- end }}
