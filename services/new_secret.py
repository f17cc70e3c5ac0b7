"""Write a new random secret to a file that is private from its first byte (mode 0600, made
with O_EXCL: never world-readable for a moment, never an existing file overwritten).

    python services/new_secret.py var/secret_key [--bytes 50]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path


def create_secret(path: Path, nbytes: int = 32) -> None:
    """``path`` holding a new url-safe secret of ``nbytes`` random bytes, created 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(nbytes) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--bytes", type=int, default=32)
    arguments = parser.parse_args()
    try:
        create_secret(arguments.path, arguments.bytes)
    except FileExistsError:
        sys.exit(f"{arguments.path} exists already; remove it to make a new secret")


if __name__ == "__main__":
    main()
