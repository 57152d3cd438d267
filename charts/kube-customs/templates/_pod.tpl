{{/*
The pod template both roles share; call with (dict "ctx" $ "component" "webhook"|"audit").
Security contexts are fixed to the restricted Pod Security Standard.
*/}}
{{- define "kube-customs.podTemplate" -}}
{{- $ := .ctx -}}
{{- $component := .component -}}
{{- $c := index $.Values $component -}}
metadata:
  labels:
    {{- include "kube-customs.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
    {{- with $c.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when their configuration changes (policies and certificates reload live).
    checksum/config: {{ mergeOverwrite (deepCopy $.Values.config) (deepCopy $c.config) | toYaml | sha256sum }}
    {{- with $c.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "kube-customs.serviceAccountName" $ }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $c.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "kube-customs.podSecurityContext" $ | nindent 4 }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $c.affinity }}
  affinity:
    {{- toYaml $c.affinity | nindent 4 }}
  {{- else if eq $component "webhook" }}
  affinity:
    podAntiAffinity:
      {{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "kube-customs.selectorLabels" (dict "ctx" $ "component" $component) | fromYaml)) }}
      {{- if eq $c.podAntiAffinity "hard" }}
      requiredDuringSchedulingIgnoredDuringExecution:
        - {{- toYaml $term | nindent 10 }}
      {{- else }}
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            {{- toYaml $term | nindent 12 }}
      {{- end }}
  {{- end }}
  # Long enough for in-flight admission requests and the audit queue to drain on SIGTERM.
  terminationGracePeriodSeconds: 30
  containers:
    - name: kube-customs
      image: {{ include "kube-customs.image" $ }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args:
        - serve
        - --config
        - /etc/kube-customs/config.yaml
        - --roles
        - {{ $component }}
        - --listen
        - :8443
        - --metrics-listen
        - :9090
        - --tls-cert
        - /etc/kube-customs/tls/tls.crt
        - --tls-key
        - /etc/kube-customs/tls/tls.key
        - --policies
        - /etc/kube-customs/policies
        {{- if eq $component "audit" }}
        - --audit-client-ca
        {{- if $.Values.audit.clientAuth.caBundle }}
        - /etc/kube-customs/audit-client-ca/ca.crt
        {{- else }}
        - /etc/kube-customs/tls/ca.crt
        {{- end }}
        {{- end }}
        {{- range $c.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      ports:
        - name: https
          containerPort: 8443
          protocol: TCP
        - name: metrics
          containerPort: 9090
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: https
          scheme: HTTPS
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: https
          scheme: HTTPS
        periodSeconds: 5
        failureThreshold: 2
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- include "kube-customs.containerSecurityContext" $ | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/kube-customs/config.yaml
          subPath: config.yaml
          readOnly: true
        - name: policies
          mountPath: /etc/kube-customs/policies
          readOnly: true
        - name: tls
          mountPath: /etc/kube-customs/tls
          readOnly: true
        {{- if and (eq $component "audit") $.Values.audit.clientAuth.caBundle }}
        - name: audit-client-ca
          mountPath: /etc/kube-customs/audit-client-ca
          readOnly: true
        {{- end }}
        - name: state
          mountPath: /var/lib/kube-customs
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include (printf "kube-customs.%sName" $component) $ }}-config
    - name: policies
      configMap:
        name: {{ include "kube-customs.policiesConfigMapName" $ }}
    - name: tls
      secret:
        secretName: {{ include "kube-customs.tlsSecretName" $ }}
    {{- if and (eq $component "audit") $.Values.audit.clientAuth.caBundle }}
    - name: audit-client-ca
      configMap:
        name: {{ include "kube-customs.auditName" $ }}-client-ca
    {{- end }}
    {{- if and (eq $component "audit") $.Values.audit.persistence.enabled }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ include "kube-customs.auditName" $ }}-state
    {{- else }}
    - name: state
      emptyDir:
        sizeLimit: 256Mi
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
