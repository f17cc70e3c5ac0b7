"""The desk page: presence, the queue, the handoff ringing, the call with the caller."""

from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from callcenter.livekit_server import livekit_configured
from desk.permissions import desk_staff_required


@require_GET
@desk_staff_required
@ensure_csrf_cookie
def desk_page(request):
    """The page posts (accept, decline, hand back, end) with the CSRF cookie."""
    return render(request, "desk/desk.html", {"voice_configured": livekit_configured()})
