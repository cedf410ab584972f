import functools

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from waitlist.models import Interest
from waitlist.people import consent
from waitlist.people.forms import STATE_CHOICES, JoinForm

register = template.Library()


@functools.lru_cache(maxsize=64)
def state_options(selected: str) -> SafeString:
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, " selected" if value == selected else "", label)
            for value, label in STATE_CHOICES
        ),
    )


@register.inclusion_tag("waitlist/_join_form.html")
def join_form(
    placement: str, article=None, form=None, heading: str = "Get updates", compact: bool = False
) -> dict:
    """The signup form as every page shows it. It carries no CSRF token and nothing personal,
    so pages that include it can be cached whole. `compact`: the address and the optional state
    alone (interests are optional too, and the preferences page asks for them)."""
    if form is None:
        initial = {"placement": placement, "article": article.pk if article else None}
        form = JoinForm(initial=initial, auto_id=f"{placement}-%s")
    return {
        "form": form,
        "placement": placement,
        "consent_text": consent.current_text(),
        "interests_consent_text": consent.current_text(consent.Purpose.INTERESTS),
        "interests_consent": bool(form["interests_consent"].value()),
        "heading": heading,
        "compact": compact,
        "interests": Interest.choices,
        "state_options": state_options(str(form["state"].value() or "")),
        "chosen_interests": form["interests"].value() or [],
        "hidden": [(field.name, field.value()) for field in form.hidden_fields()],
    }
