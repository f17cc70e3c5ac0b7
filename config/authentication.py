"""API authentication: DRF's tokens, with a lifetime."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
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
