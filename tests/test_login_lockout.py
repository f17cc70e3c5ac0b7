"""Guessing passwords: a login is locked after LOGIN_FAILURE_LIMIT wrong passwords, per user
name and per client address (IPv6 counted per /64), and the lockout is logged."""

import logging

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def attempt(username: str, password: str, address: str = "203.0.113.7"):
    client = Client(REMOTE_ADDR=address)
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_wrong_passwords_lock_the_user_even_with_the_right_one_then(superuser, settings, caplog):
    caplog.set_level(logging.WARNING, logger="axes")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt("root", "guess").status_code == 200  # the form again, with an error
    assert attempt("root", "guess").status_code == 429
    assert attempt("root", "root pass 123").status_code == 429  # locked, even when right
    assert attempt("root", "root pass 123", "198.51.100.9").status_code == 429  # per user
    assert any("lock" in record.getMessage().lower() for record in caplog.records)


def test_one_address_guessing_many_users_is_locked(superuser, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(f"user{number}", "guess", "2001:db8:1:2::10")
    # Another address of the same /64 is the same subscriber.
    assert attempt("root", "root pass 123", "2001:db8:1:2::99").status_code == 429
    assert attempt("root", "root pass 123", "2001:db8:9:9::1").status_code == 302


def test_a_correct_login_resets_the_count(superuser, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt("root", "guess")
    assert attempt("root", "root pass 123").status_code == 302
    assert attempt("root", "guess").status_code == 200
