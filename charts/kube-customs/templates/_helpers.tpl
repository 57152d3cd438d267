{{/* Chart name, truncated to DNS label length. */}}
{{- define "kube-customs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "kube-customs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kube-customs.webhookName" -}}{{ include "kube-customs.fullname" . | trunc 55 | trimSuffix "-" }}-webhook{{- end -}}
{{- define "kube-customs.auditName" -}}{{ include "kube-customs.fullname" . | trunc 57 | trimSuffix "-" }}-audit{{- end -}}
{{- define "kube-customs.tlsSecretName" -}}
{{- if eq .Values.tls.mode "userProvided" -}}
{{- .Values.tls.userProvided.secretName -}}
{{- else -}}
{{- include "kube-customs.fullname" . | trunc 59 | trimSuffix "-" }}-tls
{{- end -}}
{{- end -}}
{{- define "kube-customs.caSecretName" -}}{{ include "kube-customs.fullname" . | trunc 60 | trimSuffix "-" }}-ca{{- end -}}
{{- define "kube-customs.auditClientSecretName" -}}{{ include "kube-customs.fullname" . | trunc 50 | trimSuffix "-" }}-audit-client{{- end -}}
{{- define "kube-customs.policiesConfigMapName" -}}
{{- .Values.policies.existingConfigMap | default (printf "%s-policies" (include "kube-customs.fullname" . | trunc 54 | trimSuffix "-")) -}}
{{- end -}}
{{- define "kube-customs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kube-customs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "kube-customs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kube-customs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-customs
{{- end -}}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "webhook"). */}}
{{- define "kube-customs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-customs.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kube-customs.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* DNS names the serving certificate covers. */}}
{{- define "kube-customs.dnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list -}}
{{- range $svc := list (include "kube-customs.webhookName" .) (include "kube-customs.auditName" .) -}}
{{- $names = concat $names (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) -}}
{{- end -}}
{{- concat $names .Values.tls.extraDNSNames | toJson -}}
{{- end -}}

{{- define "kube-customs.ipAddresses" -}}
{{- $ips := .Values.tls.extraIPAddresses -}}
{{- if .Values.audit.service.clusterIP -}}
{{- $ips = append $ips .Values.audit.service.clusterIP -}}
{{- end -}}
{{- $ips | toJson -}}
{{- end -}}

{{/*
Pod and container security contexts: restricted Pod Security Standard, fixed in the chart
(not values) so no override can weaken them.
*/}}
{{- define "kube-customs.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "kube-customs.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Rendered rule groups, shared by the PrometheusRule and the plain rules file. */}}
{{- define "kube-customs.ruleGroups" -}}
{{- tpl (.Files.Get "files/prometheus-rules.yaml") . -}}
{{- end -}}

{{- define "kube-customs.nodeName" -}}{{ include "kube-customs.fullname" . | trunc 58 | trimSuffix "-" }}-node{{- end -}}
{{- define "kube-customs.nodeServiceAccountName" -}}
{{- if .Values.node.serviceAccount.create -}}
{{- default (include "kube-customs.nodeName" .) .Values.node.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.node.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
config.yaml of the node role: `config` and `node.config`, then what the pod template decides
(the sockets it mounts, the host's /proc and cgroup tree where it mounts them). node.name stays
empty so the role takes $NODE_NAME from the downward API.
*/}}
{{- define "kube-customs.nodeConfig" -}}
{{- $config := mergeOverwrite (deepCopy .Values.config) (deepCopy .Values.node.config) -}}
{{- $node := deepCopy (get $config "node" | default dict) -}}
{{- $_ := set $node "dockerSocket" .Values.node.dockerSocket -}}
{{- $_ := set $node "containerdSocket" .Values.node.containerdSocket -}}
{{- $_ := set $node "procRoot" "/host/proc" -}}
{{- $_ := set $node "cgroupRoot" "/host/sys/fs/cgroup" -}}
{{- if .Values.node.kubeletLogRoot -}}
{{- $respond := deepCopy (get $node "respond" | default dict) -}}
{{- $_ := set $respond "kubeletLogRoot" (printf "/host%s" .Values.node.kubeletLogRoot) -}}
{{- $_ := set $node "respond" $respond -}}
{{- end -}}
{{- $_ := set $config "node" $node -}}
{{- $config | toYaml -}}
{{- end -}}
