"""Forms of the data-protection pages. The services check everything again; these give field errors."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from governance.access import Capability, business_units_for
from governance.forms import BusinessUnitChoiceField
from governance.models.data_protection import ErasureRequestStatus
from governance.retention import selectors
from governance.retention.services import DETAILS_MAX, REASON_MAX, REASON_MIN, REFERENCE_MAX


class EraseForm(forms.Form):
    reason = forms.CharField(
        label="Reason for erasure", min_length=REASON_MIN, max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit trail. For example: retention period of 2 years ended; "
                  "or erasure request ER-00012 (GDPR Art. 17). Do not name the data subject.",
    )
    confirm = forms.BooleanField(
        label="I understand that the file is destroyed for good and cannot be restored",
        error_messages={"required": "Tick the box to confirm that the file is to be destroyed."},
    )


class ErasureRequestForm(forms.Form):
    business_unit = BusinessUnitChoiceField(queryset=None, label="Business unit")
    subject_reference = forms.CharField(
        label="Subject reference", max_length=REFERENCE_MAX,
        help_text="How the subject is known to us: a customer number or an e-mail address. Stored encrypted, "
                  "and as a keyed hash to find a repeat request.",
    )
    subject_details = forms.CharField(
        label="How to find the subject in the data", required=False, max_length=DETAILS_MAX,
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Stored encrypted.",
    )
    received_at = forms.DateField(label="Received on", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business_unit"].queryset = business_units_for(user, Capability.MANAGE_DATA_PROTECTION)


class AddVersionForm(forms.Form):
    version = forms.ModelChoiceField(queryset=None, label="Dataset version that holds the subject",
                                     empty_label="Choose a version")
    note = forms.CharField(label="Note", required=False, max_length=DETAILS_MAX,
                           widget=forms.Textarea(attrs={"rows": 2}), help_text="Stored encrypted.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["version"]
        field.queryset = selectors.erasable_versions(user)
        field.label_from_instance = lambda version: f"{version.dataset.name} · {version.version}"


class NotHeldForm(forms.Form):
    note = forms.CharField(label="What was checked", min_length=REASON_MIN, max_length=DETAILS_MAX,
                           widget=forms.Textarea(attrs={"rows": 2}))


class CloseRequestForm(forms.Form):
    status = forms.ChoiceField(
        label="Close as",
        choices=[(ErasureRequestStatus.DONE, "Done: erased or not held everywhere"),
                 (ErasureRequestStatus.REJECTED, "Rejected: an exemption applies")],
        widget=forms.RadioSelect,
    )
    outcome = forms.CharField(label="Outcome", min_length=REASON_MIN, max_length=DETAILS_MAX,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="What was done, or the exemption relied on (GDPR Art. 17(3)). "
                                        "Stored encrypted.")

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        if status not in (ErasureRequestStatus.DONE, ErasureRequestStatus.REJECTED):
            raise ValidationError("Close a request as done or rejected.")
        return status


class HoldForm(forms.Form):
    until = forms.DateField(label="Keep until", widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="At most a year from today; the version is listed again on that day.")
    reason = forms.CharField(label="Why it is kept", min_length=REASON_MIN, max_length=REASON_MAX,
                             widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Recorded in the audit trail, for example a legal hold or an open dispute.")
