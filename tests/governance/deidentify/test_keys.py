"""Where the pseudonymisation key comes from: the environment or a key file, never the database."""

from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from governance.deidentify.keys import DEV_KEY_FILE_NAME, load_pseudonym_key

KEY = base64.b64encode(b"p" * 32).decode()


def test_from_the_environment_with_an_id():
    key = load_pseudonym_key(environ={"WARDEN_PSEUDONYM_KEY": f"2026:{KEY}"}, production=True, data_dir=".")
    assert key.key_id == "2026" and key.key == b"p" * 32
    assert "pppp" not in repr(key)


def test_from_a_private_key_file(tmp_path):
    path = tmp_path / "pseudonym.key"
    path.write_text(f"# comment\nmain {KEY}\n")
    os.chmod(path, 0o600)
    key = load_pseudonym_key(environ={"WARDEN_PSEUDONYM_KEY_FILE": str(path)}, production=True, data_dir=tmp_path)
    assert key.key_id == "main"
    os.chmod(path, 0o644)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        load_pseudonym_key(environ={"WARDEN_PSEUDONYM_KEY_FILE": str(path)}, production=True, data_dir=tmp_path)


@pytest.mark.parametrize("environ, message", [
    ({}, "required|must hold"),
    ({"WARDEN_PSEUDONYM_KEY": KEY, "WARDEN_PSEUDONYM_KEY_FILE": "/x"}, "not both"),
    ({"WARDEN_PSEUDONYM_KEY": "c2hvcnQ="}, "32 random bytes"),
    ({"WARDEN_PSEUDONYM_KEY": f"a:{KEY},b:{KEY}"}, "exactly one"),
    ({"WARDEN_PSEUDONYM_KEY_FILE": "/nonexistent/key"}, "cannot read"),
])
def test_bad_configuration_is_refused_by_name(environ, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_pseudonym_key(environ=environ, production=True, data_dir="/nonexistent")


def test_development_generates_one_private_key_once(tmp_path):
    first = load_pseudonym_key(environ={}, production=False, data_dir=tmp_path)
    second = load_pseudonym_key(environ={}, production=False, data_dir=tmp_path)
    assert first == second and len(first.key) == 32
    assert (os.stat(tmp_path / DEV_KEY_FILE_NAME).st_mode & 0o777) == 0o600
