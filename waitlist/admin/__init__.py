"""The waitlist's admin, by room."""

from . import (  # noqa: F401  (registers the ModelAdmins)
    campaigns,
    invites,
    journeys,
    people,
    privacy,
    wording,
)
