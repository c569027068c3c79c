"""Organisation structure and who may do what where.

Roles are granted per business unit and reach down the tree: a risk manager of "Retail" is also a
risk manager of "Retail / Credit". Single objects are granted through django-guardian instead
(see ``inventory.py``).
"""

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    RISK_MANAGER = "risk_manager", "Risk manager"
    ML_LEAD = "ml_lead", "ML lead"
    STAFF = "staff", "Staff"
    AUDITOR = "auditor", "Auditor"
    # Signs off deployments of models that process personal data (issue 8's approval policy).
    DATA_PROTECTION_OFFICER = "dpo", "Data-protection officer"


class BusinessUnit(models.Model):
    name = models.CharField(max_length=120)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="unique_bu_name_per_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="unique_root_bu_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RoleGrant(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=20, choices=Role.choices)
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="role_grants")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "business_unit"], name="unique_role_grant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} in {self.business_unit}"


class RolePolicy(models.Model):
    """Per-role security policy, edited by admins in the app."""

    role = models.CharField(max_length=20, choices=Role.choices, unique=True)
    require_two_factor = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_role_display()} policy"


class Invitation(models.Model):
    """An admin invites someone by e-mail; the link carries a token of which only the hash is kept."""

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email}"
