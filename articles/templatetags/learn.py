import json

from django import template
from django.utils.html import _json_script_escapes
from django.utils.safestring import SafeString, mark_safe

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
