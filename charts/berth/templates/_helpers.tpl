{{/* Chart name. */}}
{{- define "berth.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name of the operator. */}}
{{- define "berth.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s-operator" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object of the chart. */}}
{{- define "berth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: berth
{{- end -}}

{{/* Selector of the operator pods. */}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Selector of the bundled Redis pod. */}}
{{- define "berth.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "berth.redisName" -}}
{{- printf "%s-redis" (include "berth.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The namespace watched in namespace scope. */}}
{{- define "berth.watchNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}

{{- define "berth.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "berth.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtime.image.repository (default .Chart.AppVersion .Values.runtime.image.tag) -}}
{{- end -}}

{{/* Secret and key holding the Redis admin URL ("" when there is none). */}}
{{- define "berth.redisSecret" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- include "berth.redisName" . -}}
{{- else -}}
{{- .Values.redis.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "berth.redisSecretKey" -}}
{{- if .Values.redis.bundled.enabled -}}url{{- else -}}{{ .Values.redis.existingSecretKey }}{{- end -}}
{{- end -}}

{{/* The operator's settings file (see operator/src/config.ts). */}}
{{- define "berth.operatorConfig" -}}
{{- $redisPeers := .Values.redis.networkPolicyPeers -}}
{{- if and .Values.redis.bundled.enabled (not $redisPeers) -}}
{{- $redisPeers = list (dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" .Release.Namespace)) "podSelector" (dict "matchLabels" (fromYaml (include "berth.redisSelectorLabels" .)))) -}}
{{- end -}}
{{- $redis := dict "tenantAddress" .Values.redis.tenantAddress "networkPolicyPeers" $redisPeers -}}
{{- if include "berth.redisSecret" . -}}
{{- $_ := set $redis "adminUrlFile" "/var/run/berth-operator/redis/url" -}}
{{- end -}}
{{- if .Values.redis.aclCommands -}}
{{- $_ := set $redis "aclCommands" .Values.redis.aclCommands -}}
{{- end -}}
{{- $operatorPeer := dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" .Release.Namespace)) "podSelector" (dict "matchLabels" (fromYaml (include "berth.selectorLabels" .))) -}}
{{- $config := dict
  "namespace" (ternary (include "berth.watchNamespace" .) "" (eq .Values.scope "namespace"))
  "runtime" (dict
    "image" (include "berth.runtimeImage" .)
    "imagePullPolicy" .Values.runtime.image.pullPolicy
    "imagePullSecrets" .Values.runtime.imagePullSecrets
    "logLevel" .Values.runtime.logLevel
    "resources" .Values.runtime.resources
    "podTemplate" .Values.runtime.podTemplate
    "preStopSleepSeconds" .Values.runtime.preStopSleepSeconds
    "terminationMarginSeconds" .Values.runtime.terminationMarginSeconds
    "npmRegistry" .Values.runtime.npmRegistry)
  "redis" $redis
  "networkPolicy" (dict
    "enabled" .Values.networkPolicy.enabled
    "dnsPeers" .Values.networkPolicy.dnsPeers
    "ingressFrom" .Values.networkPolicy.ingressFrom
    "egressTo" .Values.networkPolicy.egressTo
    "packageEgress" .Values.networkPolicy.packageEgress
    "operatorPeer" $operatorPeer)
  "audit" (dict "enabled" .Values.audit.enabled "refreshSeconds" .Values.audit.refreshSeconds)
  "tracing" (dict
    "otlpEndpoint" .Values.tracing.otlpEndpoint
    "samplingRatio" (float64 .Values.tracing.samplingRatio)
    "networkPolicyPeers" .Values.tracing.networkPolicyPeers)
  "leaderElection" (dict
    "enabled" .Values.leaderElection.enabled
    "namespace" .Release.Namespace
    "leaseName" (include "berth.fullname" .)
    "leaseDurationSeconds" .Values.leaderElection.leaseDurationSeconds
    "renewDeadlineSeconds" .Values.leaderElection.renewDeadlineSeconds
    "retryPeriodSeconds" .Values.leaderElection.retryPeriodSeconds)
  "workers" .Values.workers
  "http" (dict "host" "0.0.0.0" "port" .Values.service.port)
  "resyncSeconds" .Values.resyncSeconds
  "logLevel" .Values.logLevel
-}}
{{- toPrettyJson $config -}}
{{- end -}}
