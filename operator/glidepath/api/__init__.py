"""The ModelDeployment API: pydantic models of spec and status, and the CRD generated from them."""

from glidepath.api.spec import (
    AutoscalingSpec,
    EnvVar,
    ModelDeploymentSpec,
    ModelSource,
    MonitoringSpec,
    ResourceRequirements,
    RuntimeSpec,
    ServiceMonitorSpec,
    SpecError,
    parse_spec,
)
from glidepath.api.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    ModelDeploymentStatus,
    Phase,
    TrackStatus,
    set_condition,
)

__all__ = [
    "AutoscalingSpec",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "EnvVar",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelSource",
    "MonitoringSpec",
    "Phase",
    "ResourceRequirements",
    "RuntimeSpec",
    "ServiceMonitorSpec",
    "SpecError",
    "TrackStatus",
    "parse_spec",
    "set_condition",
]
