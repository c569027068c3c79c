"""The data-protection panel on a dataset page: ``{% data_protection_panel dataset versions %}``.

Gathers what it shows itself, so the dataset page needs only one include line and no view change.
"""

from django import template

from governance.retention import selectors

register = template.Library()


@register.inclusion_tag("governance/retention/partials/dataset_panel.html", takes_context=True)
def data_protection_panel(context, dataset, versions):
    request = context["request"]
    return {**selectors.dataset_panel(user=request.user, dataset=dataset, versions=versions), "request": request}
