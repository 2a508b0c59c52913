"""What a run saw, kept for the steps after the load (deletes, reconciliation)."""

import threading
from typing import Any


class Journal:
    """Collects facts during extraction that the load alone cannot express.

    Attributes:
        api_total: the API's ``total`` for the last finished contact sweep.
        gone_contacts: ids that ``GET /contacts/{id}`` no longer finds.
        children: per kind (``tasks``, ``notes``), contact id -> the ids of all
            its children as read in this run.
        more: the run stopped at ``pages_per_run``; another run continues.
    """

    def __init__(self) -> None:
        self.api_total: int | None = None
        self.gone_contacts: list[str] = []
        self.children: dict[str, dict[str, set[str]]] = {"tasks": {}, "notes": {}}
        self.more = False
        self._lock = threading.Lock()

    def saw_children(
        self, kind: str, contact_ids: list[str], records: list[dict[str, Any]]
    ) -> None:
        """Record that ``records`` are all the ``kind`` of ``contact_ids``."""
        with self._lock:
            seen = self.children[kind]
            for contact_id in contact_ids:
                seen.setdefault(contact_id, set())
            for record in records:
                seen.setdefault(record["contactId"], set()).add(record["id"])
