"""Shared fixtures: the users every behaviour is checked against."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff_user(db):
    """A supervisor: staff, allowed to monitor calls."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        "supervisor", "supervisor@example.com", "correct horse battery", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="monitor_calls"))
    return user


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root pass 123")


@pytest.fixture
def customer_user(db):
    """Someone with an account who is not staff."""
    return get_user_model().objects.create_user("customer", "c@example.com", "customer pass 1")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def admin_client_logged_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    """Tests render pages without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
