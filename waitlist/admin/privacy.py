"""Admin for health privacy: the discreet words, and the erasures told to the email service."""

from django.contrib import admin, messages
from django.db import transaction

from ..engine import processors, workers
from ..models import DiscreetWord, ProcessorErasure
from .people import ReadOnlyAdmin


@admin.register(DiscreetWord)
class DiscreetWordAdmin(admin.ModelAdmin):
    """The condition words discreet mode keeps out of everything around a message's body."""

    list_display = ["word", "created_at"]
    search_fields = ["word"]
    fields = ["word"]


@admin.register(ProcessorErasure)
class ProcessorErasureAdmin(ReadOnlyAdmin):
    """Each erasure passed on to the email service: when it confirmed, or why not yet."""

    list_display = ["subscriber", "processor", "status", "attempts", "answer", "created_at",
                    "sent_at"]  # fmt: skip
    list_filter = ["status", "processor"]
    fields = ["subscriber", "processor", "status", "attempts", "answer", "created_at",
              "not_before", "sent_at"]  # fmt: skip
    readonly_fields = fields
    actions = ["retry"]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("waitlist.erase_subscribers")

    @admin.action(description="Tell the email service again", permissions=["retry"])
    def retry(self, request, queryset):
        count = queryset.filter(status=ProcessorErasure.Status.FAILED, email__isnull=False).retry()
        transaction.on_commit(lambda: workers.enqueue(processors.SEND_TASK))
        self.message_user(
            request, f"{count} erasure{'' if count == 1 else 's'} will be passed on again.",
            messages.SUCCESS,
        )  # fmt: skip
