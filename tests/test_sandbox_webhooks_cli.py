"""Signed webhooks for overlay changes, and the command-line entry."""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sandbox import cli
from sandbox.server import Sandbox


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers["x-ghl-signature"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_overlay_changes_post_signed_events():
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        with Sandbox(contacts=10, seed=4, webhook_url=url) as api:
            contact_id = api.data.contact_id(2)
            api.data.update_contact(contact_id, firstName="Zoë")
            task = api.data.add_task(contact_id, "Call")
            api.data.complete_task(task["id"])
            api.data.delete_contact(contact_id)
            api.webhooks.flush()
            key = load_pem_public_key(api.webhook_public_key_pem.encode())
    finally:
        receiver.shutdown()

    events = [json.loads(body) for body, _ in _Receiver.received]
    assert [e["type"] for e in events] == [
        "ContactUpdate",
        "TaskCreate",
        "TaskComplete",
        "ContactDelete",
    ]
    assert all(e["locationId"] == api.location_id for e in events)
    assert events[0]["firstName"] == "Zoë" and events[2]["completed"] is True
    for body, signature in _Receiver.received:
        key.verify(base64.b64decode(signature), body)  # raises if forged


def test_webhook_url_must_be_loopback():
    try:
        Sandbox(webhook_url="http://example.com/hook")
    except ValueError as error:
        assert "127.0.0.1" in str(error)
    else:
        raise AssertionError("a non-loopback webhook URL was accepted")


def test_cli_serves_until_stopped(capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--contacts", "30", "--seed", "2"])
    stop = threading.Event()
    thread = threading.Thread(target=cli.run, args=(args, stop))
    thread.start()
    deadline = time.monotonic() + 5
    while "token:" not in capsys.readouterr().out and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)

    assert not thread.is_alive()


def test_cli_builds_the_options():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["--port", "0", "--faults", '{"500": 0.1}', "--rate-limit", "--spec-strict"]
    )
    api = cli.build(args).start()
    try:
        response = httpx.get(f"{api.base_url}/contacts/", headers=api.headers)
    finally:
        api.stop()

    assert api.faults.rates == {"500": 0.1}
    assert api.limiter.enforce and api.spec_strict
    assert response.status_code in (422, 500)
