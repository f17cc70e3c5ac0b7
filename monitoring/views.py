"""The supervisors' live monitor page."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from callcenter.permissions import is_supervisor


def supervisor_required(view):
    """Anonymous visitors go to the login page; logged-in non-supervisors get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        if not is_supervisor(request.user):
            raise PermissionDenied("Only supervisors may watch calls.")
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@supervisor_required
@ensure_csrf_cookie
def monitor_page(request):
    """Live calls and their transcripts as they are spoken; listen-in. The page posts (listen
    in, barge in) with the CSRF cookie, so it makes sure the browser has one."""
    return render(request, "monitor/monitor.html", {"voice_configured": bool(settings.LIVEKIT_URL)})
