"""Alerting: the transactional-outbox sender that turns pending deliveries
into Apprise notifications (plain text, secrets redacted, exactly once per
match and channel except for the one documented ambiguous case)."""

from monitor.alerting.channels import (
    ChannelConfigError,
    SendOutcome,
    check_channel,
    clear_cache,
    notify,
    redact_text,
)
from monitor.alerting.message import Limits, RenderedAlert, limits_for_urls, render_alert
from monitor.alerting.notices import send_notices
from monitor.alerting.sender import DeliveryReport, deliver_due

__all__ = [
    "ChannelConfigError",
    "DeliveryReport",
    "Limits",
    "RenderedAlert",
    "SendOutcome",
    "check_channel",
    "clear_cache",
    "deliver_due",
    "limits_for_urls",
    "notify",
    "redact_text",
    "render_alert",
    "send_notices",
]
