"""The Consumer Health Data Privacy Policy (/health-data-privacy/) and the site's Global Privacy
Control support (/.well-known/gpc.json).

A change to the policy's wording is a new version: write its text as a template under
templates/health_data/, add it here and point CURRENT at it. Every version stays readable at
/health-data-privacy/<version>/, so anyone can see what the policy said when they joined."""

import datetime as dt
from typing import NamedTuple


class Version(NamedTuple):
    in_effect: dt.date
    template: str


VERSIONS = {
    "2026-12": Version(in_effect=dt.date(2026, 12, 6), template="health_data/2026-12.html"),
}
CURRENT = "2026-12"

# The day the site's Global Privacy Control support last changed: gpc.json's `lastUpdate`.
GPC_LAST_UPDATE = dt.date(2026, 12, 6)


def replaced_on(label: str) -> dt.date | None:
    """The day the version after `label` took effect; None for the newest."""
    later = [v.in_effect for v in VERSIONS.values() if v.in_effect > VERSIONS[label].in_effect]
    return min(later, default=None)


def history() -> list[tuple[str, Version]]:
    """Every version with its label, newest first."""
    return sorted(VERSIONS.items(), key=lambda item: item[1].in_effect, reverse=True)
