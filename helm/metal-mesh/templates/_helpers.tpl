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
release (when metalApi.enabled), else rendering fails.
*/}}
{{- define "metal-mesh.lbAllocator.metalApiUrl" -}}
{{- $url := .Values.lbAllocator.metalApi.url | default "" | toString | trim }}
{{- if $url }}
{{- $url }}
{{- else if .Values.metalApi.enabled }}
{{- printf "http://%s:%v%s" (include "metal-mesh.metalApi.name" .) .Values.metalApi.service.port (include "metal-mesh.lbAllocator.embeddedBasePath" .) }}
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
