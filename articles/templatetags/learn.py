import json

from django import template
from django.utils.html import _json_script_escapes
from django.utils.safestring import SafeString, mark_safe

from ..models import Source

register = template.Library()


@register.filter
def ld_json(data: object) -> SafeString:
    """A JSON-LD block; <, > and & are escaped so no value can close the script element."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    payload = payload.translate(_json_script_escapes)
    return mark_safe(f'<script type="application/ld+json">{payload}</script>')


@register.filter
def full_stop(text: str) -> str:
    """The full stop a citation's part needs after it: none when it ends in its own (an author
    list's "et al.", a title that asks a question)."""
    return "" if str(text).rstrip().endswith((".", "?", "!")) else "."


@register.filter
def strengths(sources) -> list[dict]:
    """The key to the evidence grades of `sources`: every grade, A to C, once any is used."""
    if not any(source.strength for source in sources):
        return []
    return [
        {"value": choice.value, "meaning": choice.label.partition(": ")[2].capitalize()}
        for choice in Source.Strength
    ]
