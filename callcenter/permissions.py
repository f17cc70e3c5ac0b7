"""Who may do what: supervisors hold the ``callcenter.monitor_calls`` permission."""

import ipaddress
from functools import wraps
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from rest_framework import permissions
from rest_framework.throttling import BaseThrottle

MONITOR_PERMISSION = "callcenter.monitor_calls"
# What a staff member without the permission reads: what is missing and who can grant it.
SUPERVISORS_ONLY = (
    "This page is for supervisors. It needs the permission “Can monitor live calls and listen "
    f"in” ({MONITOR_PERMISSION}) on a staff account. An administrator of the service desk "
    "grants it in the admin: Users, or the Supervisors group."
)


def client_address(request) -> str:
    """Who a request comes from, for rate limits and login lockouts: the address DRF reads
    (REMOTE_ADDR, or with NUM_PROXIES the one that many proxies back in X-Forwarded-For),
    and for IPv6 its /64 network, since one subscriber is usually given a whole /64
    (``2001:db8:1:2::10`` counts as ``2001:db8:1:2::``)."""
    ident = BaseThrottle().get_ident(request)
    try:
        address = ipaddress.ip_address(ident)
    except ValueError:
        return ident
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        # The /64 as its first address (still an address, as django-axes requires).
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def is_supervisor(user) -> bool:
    """Staff who may watch calls, listen in and read the history (superusers always may)."""
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm(MONITOR_PERMISSION)
    )


def login_still_holds(scope: dict, allowed=is_supervisor) -> bool:
    """Whether a long-lived connection's login still stands: its session is still stored and
    still logs in the same user (logout deletes it, a password change invalidates it), and
    that user is still ``allowed`` (an active supervisor). Read fresh from the database each
    time."""
    session, user = scope.get("session"), scope.get("user")
    session_key = getattr(session, "session_key", None)
    if not session_key or user is None or not user.is_authenticated:
        return False
    stored = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    current = auth.get_user(SimpleNamespace(session=stored))
    return current.pk == user.pk and allowed(current)


def role_required(allowed, refusal: str):
    """For a role's pages: anonymous visitors go to the login page, logged-in users who are
    not ``allowed`` get 403 with ``refusal`` (what is missing, who grants it)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if not allowed(request.user):
                raise DjangoPermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


supervisor_required = role_required(is_supervisor, SUPERVISORS_ONLY)


class IsSupervisor(permissions.BasePermission):
    message = "Only supervisors (staff with the monitor permission) may do this."

    def has_permission(self, request, view) -> bool:
        return is_supervisor(request.user)
