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

{{- define "kerf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kerf.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* kerf.clusterName is settings.clusterName, else v0.31's settings.aws.clusterName. */ -}}
{{- define "kerf.clusterName" -}}
{{- required "settings.aws.clusterName (or settings.clusterName) is required: the name of the EKS cluster" (.Values.settings.clusterName | default .Values.settings.aws.clusterName) -}}
{{- end -}}

{{- /* kerf.logLevel maps v0.31's levels to Kerf's: logLevel, else controller.logLevel, else
       logConfig.logLevel.controller; warn logs as info. */ -}}
{{- define "kerf.logLevel" -}}
{{- $level := .Values.controller.logLevel | default .Values.logLevel | default .Values.logConfig.logLevel.controller | default "info" -}}
{{- if eq $level "warn" }}info{{ else }}{{ $level }}{{ end -}}
{{- end -}}

{{- /* kerf.settings is the data of the karpenter-global-settings ConfigMap: v0.31's keys, each a
       string, empty ones left out. */ -}}
{{- define "kerf.settings" -}}
{{- $s := .Values.settings -}}
batchMaxDuration: {{ $s.batchMaxDuration | quote }}
batchIdleDuration: {{ $s.batchIdleDuration | quote }}
featureGates.driftEnabled: {{ $s.featureGates.driftEnabled | quote }}
{{- range $key, $value := $s.aws }}
{{- if kindIs "map" $value }}
{{- if $value }}
aws.{{ $key }}: {{ toJson $value | quote }}
{{- end }}
{{- else if not (eq (toString $value) "" "<nil>") }}
aws.{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}
