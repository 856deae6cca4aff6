"""Outgoing webhooks (Standard Webhooks, signed) to the URL of a ``webhook:<url>`` recipient."""

from kiegen.adapters.webhook.messenger import PREFIX, WebhookMessenger, message_id
from kiegen.adapters.webhook.payload import EVENT_TYPES, event_type, job_json

__all__ = ["EVENT_TYPES", "PREFIX", "WebhookMessenger", "event_type", "job_json", "message_id"]
