"""The waitlist's admin, by room."""

from . import campaigns, people  # noqa: F401  (registers the ModelAdmins)
