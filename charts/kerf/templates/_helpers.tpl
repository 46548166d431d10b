{{- define "kerf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kerf.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kerf.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kerf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kerf.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kerf.labels" -}}
{{ include "kerf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /* kerf.annotations renders an annotations block when additionalAnnotations has any. */ -}}
{{- define "kerf.annotations" -}}
{{- with .Values.additionalAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- /* kerf.serviceAccountName: serviceAccount.name; else, for a release whose name contains
       "karpenter", the release name, as Karpenter v0.31's chart named it, so the IAM role's trust
       policy (system:serviceaccount:<namespace>:karpenter in v0.31's getting-started guide) still
       matches; else the full name. */ -}}
{{- define "kerf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- if .Values.serviceAccount.name -}}
{{- .Values.serviceAccount.name -}}
{{- else if and (not .Values.fullnameOverride) (contains "karpenter" .Release.Name) -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- include "kerf.fullname" . -}}
{{- end -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* kerf.clusterName is settings.clusterName, else v0.31's settings.aws.clusterName. */ -}}
{{- define "kerf.clusterName" -}}
{{- required "settings.aws.clusterName (or settings.clusterName) is required: the name of the EKS cluster" (.Values.settings.clusterName | default .Values.settings.aws.clusterName) -}}
{{- end -}}

{{- /* kerf.logLevel is the controller's LOG_LEVEL. Kerf's settings.logLevel wins when set; else, as
       in v0.31, logConfig's levels when logConfig.enabled (v0.31's deprecated logging
       ConfigMap), then controller.logLevel, then logLevel. Kerf logs at debug, info or error:
       v0.31's warn becomes info (nothing v0.31 would have shown is hidden), dpanic, panic and
       fatal become error (the quietest Kerf has). The schema refuses any other value; the fail
       below says the same when schema validation is skipped. */ -}}
{{- define "kerf.logLevel" -}}
{{- $v031 := .Values.controller.logLevel | default .Values.logLevel -}}
{{- $logConfig := .Values.logConfig | default dict -}}
{{- if $logConfig.enabled -}}
{{- $levels := $logConfig.logLevel | default dict -}}
{{- $v031 = $levels.controller | default $levels.global | default $v031 -}}
{{- end -}}
{{- $level := .Values.settings.logLevel | default $v031 | default "info" -}}
{{- $mapped := get (dict "debug" "debug" "info" "info" "warn" "info" "error" "error" "dpanic" "error" "panic" "error" "fatal" "error") $level -}}
{{- if not $mapped -}}
{{- fail (printf "log level %q: Kerf logs at debug, info or error (v0.31's warn is read as info; dpanic, panic and fatal as error)" $level) -}}
{{- end -}}
{{- $mapped -}}
{{- end -}}

{{- /* kerf.image is the controller image. Kerf's image.* keys win field by field over
       controller.image.*; a tag set in Kerf's image.tag wins over controller.image.digest, which
       otherwise pins the image as repository@digest. controller.image naming Karpenter's own
       image (public.ecr.aws/karpenter/, as a values file copied from v0.31's chart has it) is
       ignored, so such a file installs Kerf rather than Karpenter. */ -}}
{{- define "kerf.image" -}}
{{- $kerf := .Values.image | default dict -}}
{{- $v031 := .Values.controller.image | default dict -}}
{{- if hasPrefix "public.ecr.aws/karpenter/" ($v031.repository | default "") -}}
{{- $v031 = dict -}}
{{- end -}}
{{- $repository := $kerf.repository | default $v031.repository | default "ghcr.io/kerf-autoscaler/kerf-controller" -}}
{{- if $kerf.tag -}}
{{- printf "%s:%s" $repository $kerf.tag -}}
{{- else if $v031.digest -}}
{{- printf "%s@%s" $repository $v031.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($v031.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- /* kerf.settings is the data of the karpenter-global-settings ConfigMap: v0.31's keys, each a
       string (aws.tags as a JSON object), in key order; empty ones ("", null, {}) are left out so
       the controller's default applies. */ -}}
{{- define "kerf.settings" -}}
{{- $s := .Values.settings | default dict -}}
{{- $data := dict -}}
{{- $_ := set $data "batchMaxDuration" $s.batchMaxDuration -}}
{{- $_ := set $data "batchIdleDuration" $s.batchIdleDuration -}}
{{- $_ := set $data "featureGates.driftEnabled" ($s.featureGates | default dict).driftEnabled -}}
{{- range $key, $value := ($s.aws | default dict) -}}
{{- $_ := set $data (printf "aws.%s" $key) $value -}}
{{- end -}}
{{- range $key := keys $data | sortAlpha -}}
{{- $value := get $data $key -}}
{{- if kindIs "map" $value -}}
{{- if $value }}
{{ $key }}: {{ toJson $value | quote }}
{{- end -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- if ne (toString $value) "" }}
{{ $key }}: {{ toString $value | quote }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
