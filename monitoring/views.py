"""The supervisors' live monitor page."""

from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from callcenter.livekit_server import livekit_configured
from callcenter.permissions import supervisor_required


@require_GET
@supervisor_required
@ensure_csrf_cookie
def monitor_page(request):
    """Live calls and their transcripts as they are spoken; listen-in. The page posts (listen
    in, barge in) with the CSRF cookie, so it makes sure the browser has one."""
    return render(request, "monitor/monitor.html", {"voice_configured": livekit_configured()})
