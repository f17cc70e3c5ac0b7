"""A monitor socket's scope as the real stack builds it: the user and their login session."""

from importlib import import_module

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils.module_loading import import_string


def login_session(user):
    """A stored session logged in as ``user``, as ``django.contrib.auth.login`` leaves it."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    # The backend that logs users in (django-axes' comes first but only refuses lockouts).
    session[BACKEND_SESSION_KEY] = next(
        path
        for path in settings.AUTHENTICATION_BACKENDS
        if hasattr(import_string(path), "get_user")
    )
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session


async def logged_in(communicator: WebsocketCommunicator, user) -> WebsocketCommunicator:
    """Give the socket ``user`` and a session of theirs, as AuthMiddlewareStack would."""
    communicator.scope["user"] = user
    if user.is_authenticated:
        communicator.scope["session"] = await sync_to_async(login_session)(user)
    else:
        communicator.scope["session"] = import_module(settings.SESSION_ENGINE).SessionStore()
    return communicator
