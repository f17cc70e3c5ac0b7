"""Who may do what: supervisors hold the ``callcenter.monitor_calls`` permission."""

from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

MONITOR_PERMISSION = "callcenter.monitor_calls"


def is_supervisor(user) -> bool:
    """Staff who may watch calls, listen in and read the history (superusers always may)."""
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm(MONITOR_PERMISSION)
    )


class IsSupervisor(permissions.BasePermission):
    message = "Only supervisors (staff with the monitor permission) may do this."

    def has_permission(self, request, view) -> bool:
        return is_supervisor(request.user)


class CsrfProtected(permissions.BasePermission):
    """Django's CSRF check, also for anonymous callers (DRF checks it only for logged-in ones)."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        check = CsrfViewMiddleware(lambda req: None)
        check.process_request(request._request)
        reason = check.process_view(request._request, None, (), {})
        if reason is not None:
            raise PermissionDenied("CSRF check failed: reload the page and try again.")
        return True
