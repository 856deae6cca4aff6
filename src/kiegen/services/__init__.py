"""Use cases. Each takes a ``Context`` (the ports and the operator's policy); anyio only, no adapters."""

from kiegen.services.callbacks import CallbackOutcome, CallbackResult, handle_callback
from kiegen.services.cancel import Cancellation, cancel
from kiegen.services.context import CALLBACK_PATH, Config, Context, MessengerRouter
from kiegen.services.deliver import DeliveryStats, deliver_due
from kiegen.services.refresh import expire, refresh
from kiegen.services.submit import submit
from kiegen.services.wait import wait
from kiegen.services.workers import Drain, poll_due, run_workers

__all__ = [
    "CALLBACK_PATH",
    "CallbackOutcome",
    "CallbackResult",
    "Cancellation",
    "Config",
    "Context",
    "DeliveryStats",
    "Drain",
    "MessengerRouter",
    "cancel",
    "deliver_due",
    "expire",
    "handle_callback",
    "poll_due",
    "refresh",
    "run_workers",
    "submit",
    "wait",
]
