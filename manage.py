#!/usr/bin/env python
"""Django's command-line utility for the call center."""

import os
import sys
from pathlib import Path


def asks_only_for_help(argv: list[str]) -> bool:
    """``manage.py``, ``manage.py help …`` or ``… --help``: nothing runs, so the help shows
    even where the secrets a command needs (SECRET_KEY) are not set."""
    return len(argv) < 2 or argv[1] == "help" or "-h" in argv[2:] or "--help" in argv[2:]


def use_checkout_secret_key(base_dir: Path) -> None:
    """Commands run beside ``make run`` (``changepassword``, ``shell``, ``runagent``) use the
    per-checkout key it made in ``var/secret_key``, unless SECRET_KEY is set."""
    key_file = base_dir / "var" / "secret_key"
    if not os.environ.get("SECRET_KEY") and key_file.is_file():
        os.environ["SECRET_KEY"] = key_file.read_text().strip()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    use_checkout_secret_key(Path(__file__).resolve().parent)
    if asks_only_for_help(sys.argv):
        os.environ.setdefault("SECRET_KEY", "only-help-is-shown-nothing-is-served")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration mistakes get one readable line, not a traceback.
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
