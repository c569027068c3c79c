"""Request-wide rules: every page needs a login, roles may demand two factors, audit gets the IP."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import resolve, reverse
from django.utils.http import urlencode
from django_otp import user_has_device

from governance.access import access_profile
from governance.models import RolePolicy
from governance.request_context import client_ip, current_ip

# URL names reachable without signing in (the API authenticates its own requests by token).
# pack_verify: anyone holding an evidence pack may check it (the upload is never stored).
PUBLIC_URL_NAMES = {"login", "invitation_accept", "health", "pack_verify"}
PUBLIC_PREFIXES = ("/static/", "/api/")
# Where a user who must still set up or enter a second factor may go.
TWO_FACTOR_URL_NAMES = {"two_factor_setup", "two_factor_verify", "logout", "login"}


def _url_name(request) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Exception:  # noqa: BLE001 - unresolvable paths are simply not public
        return None


class LoginRequiredMiddleware:
    """Every page needs a login, unless it is listed as public above."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_ip.set(client_ip(request))
        try:
            if (
                not request.user.is_authenticated
                and not request.path_info.startswith(PUBLIC_PREFIXES)
                and _url_name(request) not in PUBLIC_URL_NAMES
            ):
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            return self.get_response(request)
        finally:
            current_ip.reset(token)


def two_factor_required(user) -> bool:
    roles = access_profile(user).roles
    return bool(roles) and RolePolicy.objects.filter(role__in=roles, require_two_factor=True).exists()


def second_factor_pending(user) -> bool:
    """Signed in with a password only, where a second factor is set up or demanded by a role."""
    if user.is_verified():
        return False
    return user_has_device(user, confirmed=True) or two_factor_required(user)


class TwoFactorEnforcementMiddleware:
    """Users holding a role that requires two factors must verify one before using the app."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path_info.startswith(PUBLIC_PREFIXES)
            and not user.is_verified()
            and _url_name(request) not in TWO_FACTOR_URL_NAMES
        ):
            # Whoever has a second factor uses it, whether or not their role demands one.
            has_device = user_has_device(user, confirmed=True)
            if has_device or two_factor_required(user):
                target = "two_factor_verify" if has_device else "two_factor_setup"
                return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
