"""What `make services` and `make run` set up holds no more than it needs: secrets are
private from their first byte, and the tests' PostgreSQL role is no superuser."""

import importlib.util
import os
import stat
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def new_secret_module():
    spec = importlib.util.spec_from_file_location("new_secret", ROOT / "services/new_secret.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_new_secret_is_private_from_its_creation_not_chmoded_afterwards(tmp_path, monkeypatch):
    def no_chmod(*args, **kwargs):
        raise AssertionError("the secret was made readable first and chmod-ed afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    secret = tmp_path / "var" / "secret_key"
    previous = os.umask(0)  # the most permissive umask a user could have
    try:
        new_secret_module().create_secret(secret, 50)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 60


def test_an_existing_secret_is_never_overwritten(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("kept\n")
    with pytest.raises(FileExistsError):
        new_secret_module().create_secret(secret)
    assert secret.read_text() == "kept\n"


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_tests_database_role_may_create_databases_but_is_no_superuser():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, True)
