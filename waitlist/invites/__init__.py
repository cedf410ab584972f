"""From waitlist to patient: invitation waves by open state, access codes, the start page and
the invitations' sweep."""
