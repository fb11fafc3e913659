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
