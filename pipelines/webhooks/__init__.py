"""GHL webhooks: verify, queue on disk, and sync the contacts they name.

``ghl-concord serve`` runs a :class:`~.receiver.Receiver` (HTTP on 127.0.0.1, writes
accepted events to the :class:`~.queue.EventQueue` before answering 200) and a
:class:`~.worker.Worker` (drains the queue in batches: one targeted load per
location for the contacts named, then the marts).
"""

from .events import CONTACT_EVENTS, KNOWN_EVENTS, WebhookEvent
from .queue import EventQueue
from .receiver import Receiver, ReceiverConfig
from .signatures import SignatureVerifier
from .worker import Worker

__all__ = [
    "CONTACT_EVENTS",
    "KNOWN_EVENTS",
    "EventQueue",
    "Receiver",
    "ReceiverConfig",
    "SignatureVerifier",
    "WebhookEvent",
    "Worker",
]
