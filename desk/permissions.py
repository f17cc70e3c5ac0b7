"""Who may work at the desk: staff with ``desk.answer_handoffs`` (the Desk staff group)."""

from rest_framework import permissions

from callcenter.permissions import role_required
from desk.models import ANSWER_PERMISSION

DESK_STAFF_ONLY = (
    "This page is for the people at the desk. It needs the permission “Can take handoffs at "
    f"the desk” ({ANSWER_PERMISSION}) on a staff account. An administrator of the service "
    "desk grants it in the admin: Users, or the Desk staff group."
)


def is_desk_staff(user) -> bool:
    """Staff who take handoffs (superusers always may)."""
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm(ANSWER_PERMISSION)
    )


desk_staff_required = role_required(is_desk_staff, DESK_STAFF_ONLY)


class IsDeskStaff(permissions.BasePermission):
    message = "Only people at the desk (staff with the handoff permission) may do this."

    def has_permission(self, request, view) -> bool:
        return is_desk_staff(request.user)
