#!/usr/bin/env python
"""Django's command-line utility for the call center."""

import os
import sys


def asks_only_for_help(argv: list[str]) -> bool:
    """``manage.py``, ``manage.py help …`` or ``… --help``: nothing runs, so the help shows
    even where the secrets a command needs (SECRET_KEY) are not set."""
    return len(argv) < 2 or argv[1] == "help" or "-h" in argv[2:] or "--help" in argv[2:]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
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
