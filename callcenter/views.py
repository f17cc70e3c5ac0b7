"""The customer's call page."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from callcenter.livekit_server import livekit_configured


@require_GET
@ensure_csrf_cookie
def call_page(request: HttpRequest) -> HttpResponse:
    """The customer's page: press Call and talk to the agent."""
    context = {
        "voice_configured": livekit_configured(),
        "caller_wait_seconds": settings.CALLER_WAIT_SECONDS,
        "agent_resume_seconds": settings.AGENT_RESUME_SECONDS,
    }
    return render(request, "call.html", context)
