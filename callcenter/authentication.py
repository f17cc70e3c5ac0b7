"""API authentication: DRF's tokens, with a lifetime."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token …`` for API_TOKEN_DAYS after the token was made. Revoke one by
    deleting it in the admin (Auth Token, Tokens); a new one starts a new lifetime."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token.created < timezone.now() - timedelta(days=settings.API_TOKEN_DAYS):
            raise AuthenticationFailed(
                "This token has expired: ask an administrator for a new one."
            )
        return user, token


class CallerSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, with its CSRF check also for anonymous visitors who send
    no credentials: a caller on the call page has no login, and another site's page must not
    start calls in their browser's name. (DRF checks CSRF for logged-in sessions only.)"""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None and "HTTP_AUTHORIZATION" not in request.META:
            self.enforce_csrf(request)
        return result


class CallerSessionScheme(SessionScheme):
    """The OpenAPI schema describes CallerSessionAuthentication as the session cookie."""

    target_class = CallerSessionAuthentication
