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
