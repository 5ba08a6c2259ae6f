{{/* Names, labels and the values every template shares. */}}

{{- define "twill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart's. */}}
{{- define "twill.fullname" -}}
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

{{- define "twill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels never change across upgrades: a DaemonSet's selector is immutable. */}}
{{- define "twill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "twill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "twill.labels" -}}
helm.sh/chart: {{ include "twill.chart" . }}
{{ include "twill.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "twill.serviceAccountName" -}}
{{- default (include "twill.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "twill.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
The agent's configuration file: only settings the agent knows (agent/lib/config.ts).
values.schema.json has already checked each value (mode, clusterCIDR, bpffsRoot, ...).
*/}}
{{- define "twill.agentConfig" -}}
{{- $config := dict
  "mode" .Values.mode
  "attach" .Values.attach
  "clusterCIDR" .Values.clusterCIDR
  "vni" (int .Values.vxlan.vni)
  "vxlanPort" (int .Values.vxlan.port)
  "metricsPort" (int .Values.metrics.port)
  "logLevel" .Values.logLevel
  "bpffsRoot" .Values.bpffsRoot
  "stateDir" .Values.stateDir
  "runDir" .Values.runDir
  "procSysNet" "/host/proc/sys/net" }}
{{- if .Values.mtu }}
{{- $_ := set $config "mtu" (int .Values.mtu) }}
{{- end }}
{{- if .Values.uplink }}
{{- $_ := set $config "uplink" .Values.uplink }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The CNI network configuration list installed on every node. */}}
{{- define "twill.conflist" -}}
{{- /* The runtime passes each pod's bandwidth annotations as runtimeConfig.bandwidth; the datapath enforces them. */}}
{{- $twill := dict "type" "twill" "capabilities" (dict "bandwidth" true) "agentSocket" (printf "%s/cni.sock" .Values.runDir) "stateDir" .Values.stateDir }}
{{- if .Values.cni.mtu }}
{{- $_ := set $twill "mtu" (int .Values.cni.mtu) }}
{{- end }}
{{- $plugins := list $twill }}
{{- if .Values.cni.portmap }}
{{- $plugins = append $plugins (dict "type" "portmap" "capabilities" (dict "portMappings" true) "snat" true) }}
{{- end }}
{{- dict "cniVersion" (toString .Values.cni.cniVersion) "name" "twill" "plugins" $plugins | toPrettyJson }}
{{- end }}
