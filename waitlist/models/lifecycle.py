"""What every lifecycle of the waitlist's rows shares."""

from django_fsm_log.decorators import fsm_log_by, fsm_log_description


def recorded(transition_method):
    """A transition whose `by` (a person; None for the workers) and `description` (why) go
    into its log entry (django-fsm-log)."""
    return fsm_log_by(fsm_log_description(transition_method))
