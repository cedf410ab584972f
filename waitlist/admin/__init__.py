"""The waitlist's admin, by room."""

from . import campaigns, invites, people, wording  # noqa: F401  (registers the ModelAdmins)
