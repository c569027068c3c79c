"""Template context shared by every page: the navigation, chosen by what the user's roles allow.

The lists are lazy: they are built (and the access profile read, cached per request by
``access_profile``) only when a template actually uses them, so htmx fragments and JSON views pay
nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from governance.access import AccessProfile, Capability, access_profile


@dataclass(frozen=True)
class _Item:
    label: str
    # URL names to try in order; the first that reverses is used, and the item is left out when
    # none does (the page is not built yet).
    url_names: tuple[str, ...]
    allowed: Callable[[AccessProfile], bool]
    # Whether the item is also "active" on the pages below its URL (not for the dashboard at "/").
    prefix: bool = True


def _anyone(profile: AccessProfile) -> bool:
    return True


def _capable(*capabilities: Capability) -> Callable[[AccessProfile], bool]:
    def allowed(profile: AccessProfile) -> bool:
        # A superuser may do everything, even before any business unit exists.
        return profile.is_superuser or any(profile.can(capability) for capability in capabilities)

    return allowed


# Whoever may change the inventory can see it too (access.ScopedAccess.visible counts both).
_inventory = _capable(Capability.VIEW_INVENTORY, Capability.CHANGE_INVENTORY)


MAIN_NAVIGATION: tuple[_Item, ...] = (
    _Item("Dashboard", ("dashboard",), _anyone, prefix=False),
    _Item("Models", ("model_list",), _inventory),
    _Item("Datasets", ("dataset_list",), _inventory),
    # Readers of the inventory read its models' assessments and risks; risk managers write them.
    _Item("Assessments", ("assessment_list",), _capable(Capability.RUN_ASSESSMENTS, Capability.VIEW_INVENTORY,
                                                        Capability.CHANGE_INVENTORY)),
    _Item("Training", ("training_list", "training:index"), _anyone),
    _Item("Audit trail", ("audit_list",), _capable(Capability.VIEW_AUDIT)),
    _Item("Evidence packs", ("pack_list",), _capable(Capability.VIEW_AUDIT, Capability.RUN_ASSESSMENTS)),
    _Item("Data protection", ("data_protection",), _capable(Capability.MANAGE_DATA_PROTECTION)),
    _Item("People & access", ("people_list",), _capable(Capability.MANAGE_USERS)),
)

ACCOUNT_NAVIGATION: tuple[_Item, ...] = (
    # The account page sits above the others ("/accounts/"): active only on itself.
    _Item("Account", ("account",), _anyone, prefix=False),
    _Item("API tokens", ("api_tokens",), _anyone),
    _Item("Two-factor authentication", ("two_factor_setup",), _anyone),
    _Item("Change password", ("password_change",), _anyone),
)


def _url(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def _is_active(path: str, url: str, prefix: bool) -> bool:
    if path == url:
        return True
    return prefix and url != "/" and path.startswith(url.rstrip("/") + "/")


def _build(request, items: tuple[_Item, ...]) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    profile = access_profile(user)
    result = []
    for item in items:
        if not item.allowed(profile):
            continue
        url = _url(item.url_names)
        if url is None:
            continue
        result.append({"label": item.label, "url": url, "active": _is_active(request.path, url, item.prefix)})
    return result


def _capabilities(request) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {capability.value: False for capability in Capability}
    profile = access_profile(user)
    return {capability.value: _capable(capability)(profile) for capability in Capability}


def navigation(request) -> dict:
    """What base.html needs to draw the header.

    ``nav_items`` (main navigation) and ``account_items`` (the user menu) are lists of
    ``{"label", "url", "active"}``, empty for anonymous users. ``logout_url`` is where the log-out
    form posts (Django's logout accepts only POST). ``user_can`` maps each capability's value to a
    bool, for templates that show a link only to those who may follow it:
    ``{% if user_can.view_audit %}``. It decides what to show, never what is allowed: views check.
    """
    return {
        "nav_items": SimpleLazyObject(lambda: _build(request, MAIN_NAVIGATION)),
        "account_items": SimpleLazyObject(lambda: _build(request, ACCOUNT_NAVIGATION)),
        "logout_url": SimpleLazyObject(lambda: _url(("logout",)) or ""),
        "user_can": SimpleLazyObject(lambda: _capabilities(request)),
    }
