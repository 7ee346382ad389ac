{{- define "name" -}}
gardener-extension-provider-equinix-metal
{{- end -}}

{{- define "labels.app.key" -}}
app.kubernetes.io/name
{{- end -}}

{{- define "labels.app.value" -}}
{{ include "name" . }}
{{- end -}}

{{- define "labels" -}}
{{ include "labels.app.key" . }}: {{ include "labels.app.value" . }}
{{- end -}}

{{- define "leaderelectionid" -}}
provider-equinix-metal-leader-election
{{- end -}}
