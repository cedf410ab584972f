"""The waitlist's admin, by room."""

from . import campaigns, invites, journeys, people, wording  # noqa: F401  (registers the ModelAdmins)
