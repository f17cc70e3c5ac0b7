"""What LiveKit's job processes import: Django set up first, then the session code.

Job processes are started by livekit-agents (forkserver), not by ``manage.py``, so they must
configure Django themselves before any model is imported.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcenter.settings")
django.setup()

from agentworker.session import entrypoint, prewarm  # noqa: E402

__all__ = ["entrypoint", "prewarm"]
