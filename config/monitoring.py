"""Config model of the dashboard and the alert policies (`gke-serving:monitoring`).

Every environment gets the dashboard and the alerts. Without this section (or without channels in it)
the alerts notify no one: they still open incidents on the Cloud Monitoring console's Alerting page,
which is enough for dev; prod names its on-call address.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from settings.base import StrictModel

# Not RFC 5322: an address Cloud Monitoring's email channel takes, written without display name.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
# The resource name of a channel that exists already (Slack, PagerDuty, an SMS number, ...).
CHANNEL_PATTERN = r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/notificationChannels/[0-9]+$"


class AlertThresholds(StrictModel):
    no_ready_replica_minutes: int = Field(10, ge=1, le=1440)
    """Minutes a service may have no ready replica before an alert opens: a GPU pod takes minutes to
    pull its image and load its model, so shorter windows page on every rollout."""
    gpu_pods_pending_minutes: int = Field(15, ge=1, le=1440)
    """Minutes a model-server pod may stay Pending (no GPU node in any zone, quota, no shape fits)
    before an alert opens; a node pool scaling up from zero takes several of them."""
    queue_above_threshold: float = Field(10, gt=0)
    """Requests waiting in one replica (the server's queue metric) above which the queue alert counts."""
    queue_minutes: int = Field(5, ge=1, le=1440)
    """Minutes the queue must stay above `queueAboveThreshold` before an alert opens (autoscaling has had its
    minute to react by then)."""
    lb_error_ratio: float = Field(0.05, gt=0, lt=1)
    """Share of a service's requests answered 5xx at the load balancer above which an alert opens."""
    lb_error_minutes: int = Field(5, ge=1, le=1440)
    """Minutes the 5xx share must stay above `lbErrorRatio`."""
    gpu_memory_used_ratio: float = Field(0.95, gt=0, le=1)
    """Share of a GPU's memory in use (DCGM framebuffer used / total) above which an alert opens. vLLM
    and SGLang reserve most of it at start (gpuMemoryUtilization, memFractionStatic): set this above
    that share, or the alert is always open."""
    gpu_memory_minutes: int = Field(5, ge=1, le=1440)
    """Minutes GPU memory must stay above `gpuMemoryUsedRatio`."""


class MonitoringConfig(StrictModel):
    emails: list[str] = []
    """Email addresses the alerts notify; each gets an email notification channel of this stack
    (GCP sends it a verification mail first)."""
    channels: list[str] = []
    """Existing notification channels to notify as well, by resource name
    (projects/<project>/notificationChannels/<id>): Slack, PagerDuty, SMS, ..."""
    alerts: AlertThresholds = AlertThresholds()

    @field_validator("emails")
    @classmethod
    def _emails(cls, values: list[str]) -> list[str]:
        return _checked(values, EMAIL_PATTERN, "an email address such as oncall@example.com")

    @field_validator("channels")
    @classmethod
    def _channels(cls, values: list[str]) -> list[str]:
        return _checked(values, CHANNEL_PATTERN, "a channel name such as projects/my-project/notificationChannels/123")


def _checked(values: list[str], pattern: str, wanted: str) -> list[str]:
    bad = [v for v in values if not re.fullmatch(pattern, v)]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))} is not {wanted}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} is listed twice")
    return values
