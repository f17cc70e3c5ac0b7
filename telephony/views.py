"""Asking for a callback: a button on a call's history page and ``POST
/api/calls/<id>/callback/``, for supervisors."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from callcenter.models import Call
from callcenter.permissions import supervisor_required
from telephony.callbacks import CallbackRefused, request_callback


@require_POST
@supervisor_required
def callback_from_history(request: HttpRequest, call_id) -> HttpResponse:
    original = get_object_or_404(Call, pk=call_id)
    try:
        callback = request_callback(original, request.user)
    except CallbackRefused as refused:
        messages.error(request, str(refused))
        return redirect("history-call", call_id=original.pk)
    messages.success(request, "Calling the customer back now; this is the new call.")
    return redirect("history-call", call_id=callback.pk)


@extend_schema(
    request=None,
    responses={201: inline_serializer("CallbackStarted", {"call_id": serializers.UUIDField()})},
)
@api_view(["POST"])
def callback_api(request, call_id) -> Response:
    """Phone a failed or abandoned phone call's caller back (the agent dials out)."""
    original = get_object_or_404(Call, pk=call_id)
    try:
        callback = request_callback(original, request.user)
    except CallbackRefused as refused:
        return Response({"detail": str(refused)}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"call_id": str(callback.pk)}, status=status.HTTP_201_CREATED)
