"""Is this an emergency? Phrase matching on callers' texts and intake descriptions.

Each business picks its trades; their default phrases plus the always-on generic ones plus the owner's own
phrases are matched as whole words (so "leak" does not match "leaky" and "smoke" does not match "smoker"), case-
and accent-insensitively, and a phrase preceded closely by a negation in the same clause ("not urgent", "no
emergency", "isn't leaking", but not "No, it's leaking") does not count. The owner can also list phrases that
never count.
"""

import re
import unicodedata
from dataclasses import dataclass

# Defaults per trade (English and the Spanish our callers most often use). Phrases are words, not stems: list
# each form that matters ("leak", "leaking").
TRADE_PHRASES: dict[str, tuple[str, ...]] = {
    "plumbing": (
        "burst",
        "burst pipe",
        "flood",
        "flooded",
        "flooding",
        "leak",
        "leaking",
        "no water",
        "sewage",
        "sewer backup",
        "overflowing",
        "fuga",
        "inundacion",
        "sin agua",
    ),
    "hvac": (
        "no heat",
        "no ac",
        "no a/c",
        "no air",
        "gas smell",
        "smell gas",
        "smells like gas",
        "carbon monoxide",
        "co alarm",
        "sin calefaccion",
        "olor a gas",
    ),
    "electrical": (
        "sparking",
        "sparks",
        "smoke",
        "smoking outlet",
        "burning smell",
        "no power",
        "sin luz",
        "chispas",
    ),
    "roofing": ("roof leak", "leaking roof", "tree on the roof", "storm damage", "water coming in"),
    "dental": ("severe pain", "knocked out", "swelling", "bleeding", "abscess"),
    "legal": ("arrested", "court tomorrow", "served papers", "deadline today"),
}
GENERIC_PHRASES: tuple[str, ...] = ("emergency", "urgent", "asap", "right away", "urgente", "emergencia")
TRADES = tuple(TRADE_PHRASES)

# A negation this many words before a phrase cancels it: "not urgent", "not an emergency", "isn't really urgent".
_NEGATIONS = frozenset(
    {"not", "no", "isn't", "isnt", "wasn't", "wasnt", "aren't", "arent", "never", "nothing", "non"}
    | {"don't", "dont", "doesn't", "doesnt", "without", "nada"}
)
_NEGATION_WINDOW = 3
_WORD = re.compile(r"[\w'/-]+")


def normalise(text: str) -> str:
    """Lower case, accents off (so "inundación" matches "inundacion"), one space between words, typographic
    apostrophes straightened."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").casefold()
    return " ".join(text.split())


@dataclass(frozen=True)
class UrgencyMatch:
    phrase: str  # the phrase as the business lists it
    source: str  # "text", "intake", "intake_urgency" or "repeat_calls"


def phrases_for(*, trades: list[str] | tuple[str, ...], extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The phrases a business matches: its trades' defaults, the generic ones and its own, longest first (so
    "burst pipe" is reported rather than "burst")."""
    phrases = {normalise(p) for p in GENERIC_PHRASES}
    for trade in trades:
        phrases.update(normalise(p) for p in TRADE_PHRASES.get(trade, ()))
    phrases.update(normalise(p) for p in extra if normalise(p))
    return sorted(phrases, key=lambda p: (-len(p), p))


def _pattern(phrase: str) -> re.Pattern:
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<![\w'/-])" + r"\s+".join(words) + r"(?![\w'/-])")


_CLAUSE_BREAK = re.compile(r"[,.;:!?()]|\bbut\b|\bpero\b")


def _negated(text: str, start: int) -> bool:
    clause = _CLAUSE_BREAK.split(text[:start])[-1]
    before = _WORD.findall(clause)[-_NEGATION_WINDOW:]
    return any(word in _NEGATIONS for word in before)


def find_urgent_phrase(
    text: str, *, phrases: list[str], ignore: list[str] | tuple[str, ...] = (), source: str = "text"
) -> UrgencyMatch | None:
    """The first listed phrase (longest first) that occurs in `text` without a negation just before it, or None.
    Phrases in `ignore` (the owner's "never urgent" list, e.g. "leak detection service") are blanked out first."""
    text = normalise(text)[:5000]
    if not text:
        return None
    for phrase in ignore:
        phrase = normalise(phrase)
        if phrase:
            text = _pattern(phrase).sub(" ", text)
    for phrase in phrases:
        for match in _pattern(phrase).finditer(text):
            if not _negated(text, match.start()):
                return UrgencyMatch(phrase=phrase, source=source)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Applying it: settings, detection on the inbound paths, and marking a conversation urgent.


def response_settings_for(business):
    """The business's ResponseSettings, created with the defaults on first use."""
    from inbox.models import ResponseSettings

    settings, _ = ResponseSettings.objects.get_or_create(business=business)
    return settings


def mark_urgent(*, conversation, reason: str, actor=None) -> bool:
    """Make the conversation urgent because of `reason` (shown on the conversation and in the audit log): raise
    its priority, tell the team and start paging the on-call chain. Run with the conversation locked. Returns
    False, changing nothing, when it is already urgent or no longer open (a second burst-pipe text joins the
    running escalation rather than starting another)."""
    from compliance.services import audit
    from inbox import live
    from inbox.escalation import escalation_start
    from inbox.models import Conversation, ConversationEvent
    from inbox.notifications import notify_urgent

    if not conversation.is_open or conversation.priority == Conversation.Priority.URGENT:
        return False
    before = conversation.priority
    conversation.priority = Conversation.Priority.URGENT
    conversation.urgent_reason = reason[:200]
    conversation.save(update_fields=["priority", "urgent_reason"])
    ConversationEvent.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=ConversationEvent.Kind.PRIORITY,
        actor=actor,
        data={"from": before, "to": Conversation.Priority.URGENT, "reason": reason[:200]},
    )
    audit(
        business=conversation.business,
        action="conversation.urgent",
        actor=actor,
        target=conversation,
        reason=reason[:200],
    )
    live.touch(conversation.business_id, conversation.pk)
    notify_urgent(conversation, reason=reason, actor=actor)
    escalation_start(conversation=conversation, reason=reason)
    from integrations import outbound

    outbound.conversation_urgent(conversation, reason=reason)
    return True


def check_text(*, conversation, text: str, source: str = "text") -> UrgencyMatch | None:
    """Match a caller's text (or intake description) against the business's phrases and mark the conversation
    urgent on a match. Run with the conversation locked, after compliance keywords were handled."""
    if not text or not text.strip():
        return None
    settings = response_settings_for(conversation.business)
    match = find_urgent_phrase(
        text,
        phrases=phrases_for(trades=settings.trades, extra=settings.extra_phrases),
        ignore=settings.ignore_phrases,
        source=source,
    )
    if match is not None:
        where = "the intake form" if source == "intake" else "a text"
        mark_urgent(conversation=conversation, reason=f"“{match.phrase}” in {where}")
    return match


def check_repeat_calls(*, conversation, caller: str, at) -> bool:
    """Several calls from one caller in a short window (default 3 in 30 minutes) make the conversation urgent.
    Run inside the missed-call transaction with the contact and conversation locked."""
    import datetime as dt

    from telephony.models import Call

    settings = response_settings_for(conversation.business)
    if settings.repeat_calls < 2:
        return False
    since = at - dt.timedelta(minutes=settings.repeat_window_minutes)
    calls = Call.objects.filter(
        business_id=conversation.business_id, caller=caller, direction="inbound", started_at__gte=since
    ).count()
    if calls < settings.repeat_calls:
        return False
    return mark_urgent(
        conversation=conversation,
        reason=f"{calls} calls in {settings.repeat_window_minutes} minutes",
    )
