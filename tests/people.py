"""Named users for every rung of the permission ladder (loaded as a pytest plugin).

The organisation: "Acme" with two units, "Retail" (where the cast works) and "Research" (where the
outsider works). Everyone's password is ``DEFAULT_PASSWORD``.

- ``admin``: Admin of Acme (everything, everywhere)
- ``risk_manager``: Risk manager of Retail
- ``ml_lead``: ML lead of Retail (may register and change inventory there)
- ``auditor``: Auditor of Retail (read-only)
- ``staff``: Staff of Retail (training only: sees no inventory)
- ``outsider``: ML lead of Research (sees nothing of Retail)
"""

import pytest

from tests.factories import DEFAULT_PASSWORD, BusinessUnitFactory, RoleGrantFactory, UserFactory


@pytest.fixture
def acme(db):
    return BusinessUnitFactory(name="Acme", parent=None)


@pytest.fixture
def retail(acme):
    return BusinessUnitFactory(name="Retail", parent=acme)


@pytest.fixture
def research(acme):
    return BusinessUnitFactory(name="Research", parent=acme)


def _person(username, role, unit):
    user = UserFactory(username=username)
    RoleGrantFactory(user=user, role=role, business_unit=unit)
    return user


@pytest.fixture
def admin_user(acme):
    return _person("admin", "admin", acme)


@pytest.fixture
def risk_manager(retail):
    return _person("risk", "risk_manager", retail)


@pytest.fixture
def ml_lead(retail):
    return _person("mllead", "ml_lead", retail)


@pytest.fixture
def auditor(retail):
    return _person("auditor", "auditor", retail)


@pytest.fixture
def staff(retail):
    return _person("staff", "staff", retail)


@pytest.fixture
def outsider(research):
    return _person("outsider", "ml_lead", research)


@pytest.fixture
def password():
    return DEFAULT_PASSWORD


@pytest.fixture
def client_for(client):
    """``client_for(user)``: a test client signed in as that user."""

    def sign_in(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return sign_in


@pytest.fixture
def api_for(client):
    """``api_for(user)``: a test client that sends that user's API token, as a pipeline does."""
    from rest_framework.authtoken.models import Token

    def with_token(user):
        token, _ = Token.objects.get_or_create(user=user)
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"
        return client

    return with_token
