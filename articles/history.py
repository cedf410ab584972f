"""The history of a model kept by django-reversion, in admin: every saved version with who and
when, what changed from the version before (a word-level diff of each text field, and of the
rows that follow it, such as an article's FAQ and sources), and a form to restore it."""

import difflib
import html
import re

from django import forms
from django.contrib.admin.utils import quote, unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from reversion.admin import VersionAdmin
from reversion.models import Version

_TOKENS = re.compile(r"\s+|[^\s]+")


class TextField(forms.CharField):
    """A textarea's text with the line breaks browsers send (CRLF) as files have them (LF), so
    a save that changes nothing changes nothing, in the row and in the history."""

    def to_python(self, value):
        value = super().to_python(value)
        return _lines(value) if isinstance(value, str) else value

    def has_changed(self, initial, data):
        # The stored text as the form would clean it (a file's last line break, say).
        return super().has_changed(self.to_python(initial), data)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def word_diff(before: str, after: str) -> str:
    """`after` as HTML, with the words taken out of `before` in <del> and the new ones in <ins>;
    changes with only spaces between them read as one."""
    old, new = _TOKENS.findall(before or ""), _TOKENS.findall(after or "")
    out, removed, added = [], [], []

    def flush():
        if removed:
            out.append(f"<del>{html.escape(''.join(removed))}</del>")
        if added:
            out.append(f"<ins>{html.escape(''.join(added))}</ins>")
        removed.clear()
        added.clear()

    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        same = "".join(new[j1:j2])
        if op == "equal" and (removed or added) and not same.strip():
            removed.append(same)
            added.append(same)
        elif op == "equal":
            flush()
            out.append(html.escape(same))
        else:
            removed.extend(old[i1:i2])
            added.extend(new[j1:j2])
    flush()
    return mark_safe("".join(out))


def _shown(field: models.Field, value) -> str:
    """A value as an editor knows it: a related row by its name, not its id."""
    if value is None or value == "" or value == []:
        return "(empty)"
    if field.is_relation:
        ids = value if isinstance(value, list) else [value]
        names = {
            str(row.pk): str(row) for row in field.related_model._default_manager.filter(pk__in=ids)
        }
        return ", ".join(names.get(str(pk), f"(deleted, id {pk})") for pk in ids)
    return str(value)


def _fields(model) -> list[models.Field]:
    """What an editor edits: the form's fields, many-to-many ones included."""
    return [
        f
        for f in model._meta.get_fields()
        if isinstance(f, models.Field) and f.editable and not f.auto_created
    ]


def changes(before: Version | None, after: Version) -> list[dict]:
    """Each field of `after` that differs from `before`, with a diff to read."""
    old = before.field_dict if before else {}
    new = after.field_dict
    rows = []
    for field in _fields(after.content_type.model_class()):
        name = field.attname
        if name not in new:
            continue
        a, b = old.get(name), new.get(name)
        text = isinstance(field, (models.CharField, models.TextField))
        if text and a is not None and b is not None:
            # What a form would clean away (line endings, blank space around) is no change.
            a, b = _lines(a).strip(), _lines(b).strip()
        if a == b or (isinstance(a, list) and isinstance(b, list) and sorted(a) == sorted(b)):
            continue
        rows.append(
            {
                "label": field.verbose_name,
                "diff": word_diff(a or "", b or "") if text else None,
                "before": _shown(field, a),
                "after": _shown(field, b),
            }
        )
    return rows


def _children(revision, model, exclude_pk: str) -> dict:
    found = {}
    for version in revision.version_set.select_related("content_type"):
        if version.content_type.model_class() is model and version.object_id == exclude_pk:
            continue
        found[(version.content_type_id, version.object_id)] = version
    return found


class HistoryAdmin(VersionAdmin):
    """VersionAdmin with a history that says what each version changed. A version opens only
    in the admin of its own model; `recover_deleted = False` turns off recovering deleted rows
    (for models whose rows carry more than their fields, such as a sent campaign; such an admin
    also sets admin's own `change_list_template`, without the "Recover deleted" button)."""

    object_history_template = "admin/history/object_history.html"
    history_latest_first = True
    recover_deleted = True
    formfield_overrides = {models.TextField: {"form_class": TextField}}

    def _own_version(self, version_id, object_id=None) -> Version:
        versions = Version.objects.filter(
            content_type=ContentType.objects.get_for_model(self.model)
        )
        if object_id is not None:
            versions = versions.filter(object_id=unquote(object_id))
        return get_object_or_404(versions, pk=version_id)

    def revision_view(self, request, object_id, version_id, extra_context=None):
        self._own_version(version_id, object_id)
        return super().revision_view(request, object_id, version_id, extra_context)

    def recover_view(self, request, version_id, extra_context=None):
        if not self.recover_deleted:
            raise Http404("Deleted rows of this kind are not recovered.")
        self._own_version(version_id)
        return super().recover_view(request, version_id, extra_context)

    def recoverlist_view(self, request, extra_context=None):
        if not self.recover_deleted:
            raise Http404("Deleted rows of this kind are not recovered.")
        return super().recoverlist_view(request, extra_context)

    def get_urls(self):
        changes_view = self.admin_site.admin_view(self.changes_view)
        return [
            path(
                "<path:object_id>/history/<int:version_id>/changes/",
                changes_view,
                name=f"{self.opts.app_label}_{self.opts.model_name}_changes",
            ),
            *super().get_urls(),
        ]

    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        prefix = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        versions = (
            Version.objects.get_for_object_reference(self.model, unquote(object_id))
            .select_related("revision", "revision__user")
            .order_by("-pk")
        )
        entries = [
            {
                "version": version,
                "revision": version.revision,
                "url": reverse(f"{prefix}_revision", args=(quote(version.object_id), version.pk)),
                "changes_url": reverse(
                    f"{prefix}_changes", args=(quote(version.object_id), version.pk)
                ),
            }
            for version in versions
        ]
        context = {**(extra_context or {}), "entries": entries}
        return super().history_view(request, object_id, context)

    def changes_view(self, request, object_id, version_id):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        content_type = ContentType.objects.get_for_model(self.model)
        version = get_object_or_404(
            Version.objects.select_related("revision"),
            pk=version_id,
            object_id=unquote(object_id),
            content_type=content_type,
        )
        earlier = (
            Version.objects.get_for_object_reference(self.model, version.object_id)
            .filter(pk__lt=version.pk)
            .select_related("revision")
            .order_by("-pk")
            .first()
        )
        rows = changes(earlier, version)
        # The rows that follow the object (an article's FAQ and sources), by their own ids.
        old = _children(earlier.revision, self.model, version.object_id) if earlier else {}
        new = _children(version.revision, self.model, version.object_id)
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key), new.get(key)
            if a is not None and b is not None and a.serialized_data == b.serialized_data:
                continue
            model = (b or a).content_type.model_class()
            label = f"{model._meta.verbose_name}: {(b or a).object_repr}"
            if b is None:
                rows.append({"label": label, "before": "(removed)", "after": "", "diff": None})
                continue
            for row in changes(a, b):
                rows.append({**row, "label": f"{label} — {row['label']}"})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"What changed: {version.object_repr}",
            "version": version,
            "earlier": earlier,
            "rows": rows,
            "history_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_history",
                args=(quote(version.object_id),),
            ),
            "restore_url": reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_revision",
                args=(quote(version.object_id), version.pk),
            ),
        }
        return TemplateResponse(request, "admin/history/changes.html", context)
