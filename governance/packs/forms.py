"""Forms of the evidence-pack pages: asking for a pack, and uploading one to verify."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from governance.models import PackScopeKind
from governance.packs.scope import MAX_PERIOD_DAYS, PackScope, buildable_models, buildable_units, may_build_org
from governance.selectors import business_unit_paths


class PackRequestForm(forms.Form):
    scope_kind = forms.ChoiceField(label="Scope", widget=forms.RadioSelect)
    # Required for the scope they belong to (relaxed in __init__ for the others), so that the labels
    # do not call them optional.
    model = forms.ModelChoiceField(
        label="Model", queryset=None, error_messages={"required": "Choose the model the pack is about."},
        help_text="The pack covers the model, its versions and the datasets behind them.")
    framework = forms.ModelChoiceField(label="Framework", queryset=None,
                                       error_messages={"required": "Choose a framework."})
    business_unit = forms.ModelChoiceField(label="Business unit", queryset=None, help_text="With the units below it.",
                                           error_messages={"required": "Choose a business unit."})
    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    period_end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, user, **kwargs):
        from assessments.models import Framework

        today = timezone.localdate()
        kwargs.setdefault("initial", {"period_start": today - dt.timedelta(days=365), "period_end": today,
                                      "scope_kind": PackScopeKind.MODEL})
        super().__init__(*args, **kwargs)
        self.user = user
        choices = [(PackScopeKind.MODEL, "One model and its datasets"),
                   (PackScopeKind.FRAMEWORK, "A framework for a business unit")]
        if may_build_org(user):
            choices.append((PackScopeKind.ORGANISATION, "The whole organisation"))
        self.fields["scope_kind"].choices = choices
        self.fields["model"].queryset = buildable_models(user).order_by("name")
        self.fields["framework"].queryset = Framework.objects.filter(is_deprecated=False).order_by("name")
        units = buildable_units(user)
        self.fields["business_unit"].queryset = units
        paths = business_unit_paths()
        self.fields["business_unit"].label_from_instance = lambda unit: paths.get(unit.pk, unit.name)
        if self.is_bound:
            kind = self.data.get("scope_kind")
            for name, needed_for in (("model", PackScopeKind.MODEL), ("framework", PackScopeKind.FRAMEWORK),
                                     ("business_unit", PackScopeKind.FRAMEWORK)):
                if kind != needed_for:
                    self.fields[name].required = False

    def clean(self):
        data = super().clean()
        start, end = data.get("period_start"), data.get("period_end")
        if start and end:
            if start > end:
                self.add_error("period_end", "The period must end on or after its first day.")
            elif (end - start).days > MAX_PERIOD_DAYS:
                self.add_error("period_start", "A pack covers at most ten years.")
            elif start > timezone.localdate():
                self.add_error("period_start", "The period cannot start in the future.")
        return data

    def scope(self) -> PackScope:
        data = self.cleaned_data
        kind = data["scope_kind"]
        if kind == PackScopeKind.MODEL:
            return PackScope(kind=kind, model=data["model"])
        if kind == PackScopeKind.FRAMEWORK:
            return PackScope(kind=kind, framework=data["framework"], business_unit=data["business_unit"])
        return PackScope(kind=PackScopeKind.ORGANISATION)


class PackVerifyForm(forms.Form):
    file = forms.FileField(label="Evidence pack (PDF)",
                           widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.WARDEN_PACK_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise ValidationError(f"The file is larger than {filesizeformat(limit)}: that is not a Warden pack.",
                                  code="too_large")
        if upload.size == 0:
            raise ValidationError("The file is empty.", code="empty")
        return upload
