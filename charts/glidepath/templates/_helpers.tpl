{{/*
Helpers of the glidepath chart. Every name is prefixed "glidepath." (one template namespace per
chart, as Helm shares them with subcharts).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "glidepath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of every resource: fullnameOverride, or the release name (+ "-glidepath"). */}}
{{- define "glidepath.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "glidepath.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* chart label value: name-version */}}
{{- define "glidepath.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of the operator's pods, and its Deployment's selector (immutable once installed). */}}
{{- define "glidepath.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glidepath.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "glidepath.labels" -}}
{{ include "glidepath.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glidepath
helm.sh/chart: {{ include "glidepath.chart" . }}
{{- end -}}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "glidepath.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "glidepath.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image: repository@digest, or repository:tag (default: appVersion). */}}
{{- define "glidepath.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" when kopf peering is on: more than one replica. */}}
{{- define "glidepath.peering" -}}
{{- if gt (int .Values.replicas) 1 -}}true{{- end -}}
{{- end -}}

{{/*
Refuse value combinations that would install something broken (cert-manager style `fail`).
Included by the Deployment, so every render runs it.
*/}}
{{- define "glidepath.validate" -}}
{{- with .Values.podDisruptionBudget -}}
{{- if and .enabled (not (kindIs "invalid" .minAvailable)) (not (kindIs "invalid" .maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set the other to null)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not (and .Values.metrics.enabled .Values.metrics.service.enabled)) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled and metrics.service.enabled" -}}
{{- end -}}
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) -}}
{{- fail "prometheusRule.enabled needs metrics.enabled: the alerts read the operator's metrics" -}}
{{- end -}}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.health.port)) -}}
{{- fail "metrics.port and health.port must differ" -}}
{{- end -}}
{{- end -}}

{{/*
The RBAC rules of the operator: exactly the verbs and resources it uses, each with why.
Called with (dict "root" $ "clusterScope" BOOL): the ClusterRole gets the cluster-scoped extras
(CRD watch, ClusterKopfPeering); each namespaced Role gets KopfPeering instead.
*/}}
{{- define "glidepath.rbacRules" -}}
{{- $root := .root -}}
# ModelDeployments: the reconciler reads each one (get); kopf lists and watches them (its on.event
# handler). Nothing else: the spec and the promote/abort/retry request annotations are the user's
# (kubectl glidepath writes those as the user); handled requests are recorded in status. (A kopf
# timer or daemon would add a finalizer and need patch here.)
- apiGroups: [serving.glidepath.io]
  resources: [modeldeployments]
  verbs: [get, list, watch]
# Status is written once per reconcile, by server-side apply on the status subresource.
- apiGroups: [serving.glidepath.io]
  resources: [modeldeployments/status]
  verbs: [patch]
# Children carry ownerReferences with blockOwnerDeletion: true; clusters running the
# OwnerReferencesPermissionEnforcement admission plugin require update on the owner's finalizers.
- apiGroups: [serving.glidepath.io]
  resources: [modeldeployments/finalizers]
  verbs: [update]
# Children are written by server-side apply: a PATCH, which the API server also authorizes as create
# when the object does not exist yet. So every child kind below has create and patch, never update.
#
# Deployments of the tracks (<name>-stable, <name>-canary): applied (create, patch), observed (get),
# pruned (list, delete); kopf lists and watches the managed ones so status follows pod readiness.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
# ConfigMaps of a track's runtime config files (TF Serving's model and monitoring config): applied;
# pruned (list, delete). Never read: the operator holds their content.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, create, patch, delete]
# Services (<name>, <name>-stable, <name>-canary): applied; pruned (list, delete).
- apiGroups: [""]
  resources: [services]
  verbs: [list, create, patch, delete]
# HorizontalPodAutoscaler of spec.autoscaling: applied; pruned when autoscaling goes.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, create, patch, delete]
# ServiceMonitor, when the Prometheus-operator CRD is installed (found by API discovery, which needs
# no RBAC): applied; pruned when monitoring is turned off.
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [list, create, patch, delete]
# HTTPRoute of a canary with traffic.mode gatewayAPI (CRD found by discovery): applied; pruned.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [list, create, patch, delete]
# Pods of the tracks, listed by label: readiness, restarts and the fetcher's termination message
# (the model's digest). Read-only.
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# Events on ModelDeployments: the operator's condition changes and kopf's warnings. Create only.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .clusterScope }}
# CustomResourceDefinitions: kopf's resource observer watches them, to notice the ModelDeployment CRD
# being (re)installed while it runs. Read-only; not granted with watchNamespaces (kopf then scans once).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}
{{- if include "glidepath.peering" $root }}
{{- $kind := ternary "clusterkopfpeerings" "kopfpeerings" (.clusterScope | default false) }}
# kopf peering (replicas > 1): every instance lists and watches the peering objects to see its peers.
- apiGroups: [kopf.dev]
  resources: [{{ $kind }}]
  verbs: [list, watch]
# ... patches keep-alives into the status of its own peering object only, and reads that object
# (get) so that its requeuer stays idle while kopf has paused this instance.
- apiGroups: [kopf.dev]
  resources: [{{ $kind }}]
  resourceNames: [{{ $root.Values.peering.name }}]
  verbs: [get, patch]
{{- end }}
{{- end -}}
