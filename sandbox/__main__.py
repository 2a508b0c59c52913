"""``python -m sandbox``: serve a GHL API v2 sandbox on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys

from sandbox import cli


def main(argv: list[str] | None = None) -> int:
    """Parses ``argv`` and serves until Ctrl-C; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="A local GHL API v2 sandbox."
    )
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
