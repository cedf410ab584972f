from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django import forms
from email_validator import EmailNotValidError, validate_email

from ..models.people import UTM_KEYS, Interest, USState
from . import consent, typos

PLACEMENTS = {"inline", "footer", "home", "page", "embed"}  # embed: a form on another site


STATE_CHOICES = [("", "Choose a state (optional)"), *USState.choices]


INTERESTS_WITHOUT_CONSENT = (
    "Your interests are health information: we keep them only if you tick “{consent}”. Tick "
    "it, or untick your interests."
)


class InterestsStateFields(forms.Form):
    """The state, and interests with their own consent: interests say something about a
    person's health, so none is kept unless the person ticks the separate, unticked choice."""

    interests_consent = forms.BooleanField(required=False)
    interests = forms.MultipleChoiceField(
        choices=Interest.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="What interests you? (optional)",
    )
    state = forms.ChoiceField(
        choices=STATE_CHOICES,
        required=False,
        label="Your US state (optional)",
        help_text="We launch state by state.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["interests_consent"].label = consent.current_text(consent.Purpose.INTERESTS)

    def clean_interests(self) -> list[str]:
        return list(dict.fromkeys(self.cleaned_data["interests"]))  # each once, in order

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("interests") and not cleaned.get("interests_consent"):
            label = self.fields["interests_consent"].label
            problem = INTERESTS_WITHOUT_CONSENT.format(consent=label)
            self.add_error(
                "interests_consent", forms.ValidationError(problem, code="interests_consent")
            )
        return cleaned


class JoinForm(InterestsStateFields):
    email = forms.CharField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={"required": "Enter your email address."},
    )
    # A field people never see; bots that fill every field fill this one too.
    website = forms.CharField(required=False, max_length=200)
    article = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    placement = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)
    ref = forms.CharField(required=False, max_length=16, widget=forms.HiddenInput)
    # An access code's page (/start/CODE/): the person joins with the code.
    code = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    referrer = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)
    # A likely typo's suggestion, taken (the button's value) or declined (the address it was
    # offered for, sent again as it was): never rendered as fields of their own.
    email_suggested = forms.CharField(required=False, max_length=254)
    checked_email = forms.CharField(required=False, max_length=254)

    utm_source = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    utm_medium = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    utm_campaign = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    utm_term = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    utm_content = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    field_order = ["email", "interests_consent", "interests", "state"]

    def clean(self) -> dict:
        cleaned = super().clean()
        # What invalid UTF-8 in a form body decodes to: such a signup is refused, never stored.
        if any("\ufffd" in str(value) for value in cleaned.values()):
            raise forms.ValidationError(
                "Part of what was sent could not be read as text (it was not UTF-8).",
                code="encoding",
            )
        return cleaned

    suggestion = ""  # a likely spelling offered for the address sent, set by clean_email
    typed_email = ""

    def clean_email(self) -> str:
        raw = (str(self.data.get("email_suggested") or "") or self.cleaned_data["email"]).strip()
        try:
            result = validate_email(raw, check_deliverability=False)
        except EmailNotValidError as exc:
            raise forms.ValidationError(
                f"That doesn't look like an email address: {exc}", code="invalid"
            ) from exc
        if len(result.local_part) > 64:
            raise forms.ValidationError(
                f"The part before the @ has {len(result.local_part)} characters; an email "
                "address allows 64.",
                code="invalid",
            )
        offered = typos.suggestion(result.normalized)
        declined = str(self.data.get("checked_email") or "").strip().lower()
        if offered and declined != result.normalized.lower():
            self.suggestion, self.typed_email = offered, result.normalized
            raise forms.ValidationError(
                f"Did you mean {offered}? If {result.normalized} is right, send it again.",
                code="typo",
            )
        domain = result.ascii_domain.lower()
        parts = domain.split(".")
        if any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1)):
            raise forms.ValidationError(
                "Please use a permanent email address; we can't send to disposable inboxes.",
                code="disposable",
            )
        return result.normalized

    def clean_placement(self) -> str:
        placement = self.cleaned_data["placement"]
        return placement if placement in PLACEMENTS else "page"

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    def utm(self) -> dict[str, str]:
        return {
            key: self.cleaned_data[f"utm_{key}"]
            for key in UTM_KEYS
            if self.cleaned_data.get(f"utm_{key}")
        }


class PreferencesForm(InterestsStateFields):
    pass


class StateForm(forms.Form):
    """The state a person on the list had not told us, asked on their page."""

    state = forms.ChoiceField(
        choices=STATE_CHOICES,
        label="Your US state",
        error_messages={"required": "Choose your state."},
    )
