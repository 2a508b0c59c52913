"""Shared pieces of the benchmarks: a sandbox process, result sections."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


class SandboxProcess:
    """``python -m sandbox`` in its own process, so it does not share our CPU time."""

    def __init__(self, contacts: int, seed: int = 7, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                "0",
                "--contacts",
                str(contacts),
                "--seed",
                str(seed),
                "--no-record",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        seen: dict[str, str] = {}
        for line in self.proc.stdout:
            if line.startswith("GHL sandbox at "):
                seen["url"] = line.split(" at ", 1)[1].strip()
            else:
                key, _, value = line.partition(":")
                seen[key.strip()] = value.strip()
            if line.startswith("contacts"):
                break
        self.base_url = seen["url"]
        self.location_id = seen["location id"]
        self.token = seen["token"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def write_section(heading: str, text: str) -> None:
    """Replace (or append) the ``## heading`` section of bench/RESULTS.md."""
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.M | re.S)
    section = f"## {heading}\n\n{text.strip()}\n\n"
    if pattern.search(current):
        current = pattern.sub(lambda _: section, current)
    else:
        current = current.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(current.rstrip("\n") + "\n")


def load_average() -> float:
    return os.getloadavg()[0]
