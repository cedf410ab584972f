from django import template

from waitlist import consent
from waitlist.forms import JoinForm

register = template.Library()


@register.inclusion_tag("waitlist/_join_form.html")
def join_form(placement: str, article=None, form=None, heading: str = "Get updates") -> dict:
    """The signup form as every page shows it. It carries no CSRF token and nothing personal,
    so pages that include it can be cached whole."""
    if form is None:
        initial = {"placement": placement, "article": article.pk if article else None}
        form = JoinForm(initial=initial, auto_id=f"{placement}-%s")
    return {
        "form": form,
        "placement": placement,
        "consent_text": consent.current_text(),
        "heading": heading,
    }
