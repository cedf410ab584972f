"""The waitlist's models, kept by room: the mail engine's rows, people, and campaigns."""

from .campaigns import (
    Campaign,
    CampaignQuerySet,
    CampaignWave,
    Delivery,
    Journey,
    JourneyStep,
    LearningDigest,
    WarmUp,
)
from .engine import (
    Heartbeat,
    MailDomain,
    Pace,
    Provider,
    Sendable,
    SendableQuerySet,
    SendStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from .invites import AccessCode, Invitation, OpenState
from .people import (
    UTM_FIELDS,
    UTM_KEYS,
    ConsentRecord,
    Counter,
    DashboardFigures,
    EmailWording,
    Interest,
    ListUpload,
    Milestone,
    MilestoneReached,
    OutboundEmail,
    Subscriber,
    SubscriberQuerySet,
    USState,
    email_hash,
    new_referral_code,
    new_token_key,
)
from .privacy import DiscreetWord, ProcessorErasure

__all__ = [
    "UTM_FIELDS", "UTM_KEYS", "AccessCode", "Campaign", "CampaignQuerySet", "CampaignWave",
    "ConsentRecord", "Counter", "DashboardFigures", "Delivery", "DiscreetWord", "EmailWording",
    "Heartbeat", "Interest",
    "Invitation", "Journey", "JourneyStep", "LearningDigest", "ListUpload", "MailDomain",
    "Milestone",
    "MilestoneReached", "OpenState", "OutboundEmail", "Pace", "ProcessorErasure", "Provider",
    "Sendable", "SendableQuerySet", "SendStatus", "Subscriber", "SubscriberQuerySet", "USState",
    "WarmUp", "WebhookDelivery", "WebhookEndpoint", "email_hash", "new_referral_code",
    "new_token_key",
]  # fmt: skip
