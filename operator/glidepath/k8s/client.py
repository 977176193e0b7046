"""The one wrapper around the Kubernetes API: a typed ``request`` on top of the official client.

Clients are built at start-up (:func:`connect`) and passed down; nothing is process-global.
Every non-2xx answer becomes :class:`KubeError` with the API server's status and message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import kubernetes.client
import kubernetes.config
from kubernetes.client.exceptions import ApiException

from glidepath import naming

Obj = dict[str, Any]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """The API server refused a request. ``status`` is the HTTP code (404, 409, 422...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_body(cls, status: int, body: bytes | str | None) -> KubeError:
        """Build from a ``metav1.Status`` body, falling back to the raw text."""
        text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
        try:
            parsed = json.loads(text)
            return cls(status, str(parsed.get("reason", "")), str(parsed.get("message", text)))
        except (ValueError, AttributeError):
            return cls(status, "", text)


@dataclass(frozen=True)
class ResourceType:
    """A resource the operator reads or writes: group/version, kind, URL plural, scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """REST path, e.g. ``/apis/apps/v1/namespaces/ml/deployments/fraud-stable``."""
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name)}"
        if subresource is not None:
            base += f"/{subresource}"
        return base


DEPLOYMENT = ResourceType("apps/v1", "Deployment", "deployments")
SERVICE = ResourceType("v1", "Service", "services")
CONFIG_MAP = ResourceType("v1", "ConfigMap", "configmaps")
HPA = ResourceType("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
SERVICE_MONITOR = ResourceType("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors")
HTTP_ROUTE = ResourceType("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
EVENT = ResourceType("v1", "Event", "events")
POD = ResourceType("v1", "Pod", "pods")
MODEL_DEPLOYMENT = ResourceType(naming.API_VERSION, naming.KIND, naming.PLURAL)
CLUSTER_KOPF_PEERING = ResourceType(
    "kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", namespaced=False
)
KOPF_PEERING = ResourceType("kopf.dev/v1", "KopfPeering", "kopfpeerings")

CHILD_TYPES: tuple[ResourceType, ...] = (CONFIG_MAP, DEPLOYMENT, SERVICE, HTTP_ROUTE, HPA, SERVICE_MONITOR)
"""Every kind of child the operator creates, in apply order."""

_BY_KIND = {(t.api_version, t.kind): t for t in (*CHILD_TYPES, EVENT, POD, MODEL_DEPLOYMENT)}


def type_of(manifest: Obj) -> ResourceType:
    """The ResourceType of a manifest; raises KeyError for a kind the operator does not manage."""
    return _BY_KIND[(manifest["apiVersion"], manifest["kind"])]


class Kube:
    """A connection to one API server. Thread-safe (one urllib3 pool)."""

    def __init__(self, api_client: kubernetes.client.ApiClient, request_timeout: float = 30.0) -> None:
        self._api = api_client
        self._timeout = request_timeout

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()

    def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        """Send one request; return the decoded JSON body ({} when empty). Raises KubeError on non-2xx."""
        header_params = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self._api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=header_params,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(*serialized, _request_timeout=self._timeout)
            data = response.read()
        except ApiException as exc:
            raise KubeError.from_body(int(exc.status or 0), exc.body) from exc
        if not 200 <= response.status <= 299:
            raise KubeError.from_body(response.status, data)
        if not data:
            return {}
        decoded: Obj = json.loads(data)
        return decoded

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", rtype.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, rtype: ResourceType, namespace: str | None, label_selector: str | None = None
    ) -> list[Obj]:
        """Every object of that type in the namespace (all pages) matching the selector."""
        items: list[Obj] = []
        query: dict[str, str] = {"limit": "500"}
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            page = self.request("GET", rtype.path(namespace), query=query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    def apply(self, manifest: Obj, subresource: str | None = None, force: bool = True) -> Obj:
        """Server-side apply ``manifest`` with field manager ``glidepath``; returns the live object."""
        rtype = type_of(manifest)
        meta = manifest["metadata"]
        path = rtype.path(meta.get("namespace"), meta["name"], subresource)
        query = {"fieldManager": naming.FIELD_MANAGER, "force": "true" if force else "false"}
        return self.request("PATCH", path, body=manifest, query=query, content_type=APPLY_PATCH)

    def merge_patch(
        self, rtype: ResourceType, namespace: str | None, name: str, patch: Obj, field_manager: str
    ) -> Obj:
        """JSON merge patch (RFC 7386) of one object, recorded under ``field_manager``."""
        return self.request(
            "PATCH",
            rtype.path(namespace, name),
            body=patch,
            query={"fieldManager": field_manager},
            content_type=MERGE_PATCH,
        )

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, uid: str | None = None) -> bool:
        """Delete in the background (dependents via GC); with ``uid``, only that incarnation.

        Returns False when it was already gone.
        """
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", rtype.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True

    def create(self, rtype: ResourceType, namespace: str | None, body: Obj) -> Obj:
        """POST a new object."""
        return self.request("POST", rtype.path(namespace), body=body)

    def has_api(self, api_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``api_version`` (e.g. a CRD is installed)."""
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            resources = self.request("GET", path).get("resources") or []
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return any(r.get("name") == plural for r in resources)


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """Build a client from a kubeconfig file, or from the pod's service account when none is given.

    Raises kubernetes.config.ConfigException when neither is usable.
    """
    configuration = kubernetes.client.Configuration()
    if kubeconfig is not None:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
        )
    else:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(
                context=context, client_configuration=configuration, persist_config=False
            )
    return Kube(kubernetes.client.ApiClient(configuration))


def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace of the kubeconfig's current context (or the pod's own), else ``default``."""
    try:
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
        if context is not None:
            contexts, _ = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            active = next((c for c in contexts if c["name"] == context), active)
        return str((active.get("context") or {}).get("namespace") or "default")
    except (kubernetes.config.ConfigException, OSError):
        path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        try:
            with open(path) as f:
                return f.read().strip() or "default"
        except OSError:
            return "default"
