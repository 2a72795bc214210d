"""Classify an inbound text as an opt-out, opt-in or help keyword, a natural-language opt-out, or nothing.

Pure and side-effect free: the caller decides what to record and send. Deterministic, never raises on any `str`
(any Unicode, including lone surrogates), and linear in the length of the message (precompiled, backtracking-safe
regexes; no nested quantifiers).

Exact keywords (what the carrier also acts on, see CARRIER-NOTES "Keywords")
    The message is normalised with NFKC (full-width letters and punctuation become ASCII), case-folded, and stripped
    of surrounding whitespace, punctuation (Unicode categories P*) and invisible format characters. What remains must
    be exactly one keyword:

    - opt_out: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT, "OPT OUT", "OPT-OUT"
    - opt_in:  START, YES, UNSTOP
    - help:    HELP, INFO

    So "Stop.", " stop ", "STOP!!", "¡stop!" and full-width "STOP" are exact. An emoji, an accent or any other
    text makes it not exact ("STOP please", "stop 🛑", "stöp" are not). `keyword` is the canonical lower-case
    keyword ("optout" for all three spellings), and classifying that keyword again gives the same result.

Natural-language opt-outs (kind "natural_opt_out", `needs_review=True`)
    The FCC's 2024 rule (in force 2025-04-11) makes any reasonable wording a revocation, in the conversation's
    language. These are honoured at once like an opt-out and shown to an operator, who confirms or restores. For
    matching, the text is further accent-folded ("más" -> "mas"), apostrophes are dropped ("don't" -> "dont") and
    every run of characters that are not letters or digits (punctuation, emoji, symbols) becomes one space, so
    patterns match whole words only. A message is a natural opt-out when either:

    1. Bare form: it consists only of opt-out words (stop, stopall, unsubscribe, unsub, cancel, end, quit, revoke,
       optout, "opt out", para, paren, basta, cancelar, alto, baja) and politeness fillers (please, pls, now, right,
       thanks, thank you, ok, just, it, all, asap, por favor, porfa, ya, gracias...): "STOP please", "please stop",
       "stop now", "stop 🛑", "para ya", "ya basta", "cancelar por favor", "stop por favor".
    2. Directed form, anywhere in the message: wording that can only be about our messages, e.g. "stop texting /
       messaging / contacting / calling / bothering me", "stop sending me", "stop these texts", "dont text me", "do
       not message me", "never text me again", "unsubscribe" (any use), "opt out" / "opt me out" (any use),
       "revoke", "no more texts", "i dont want any more messages", "leave me alone", "remove me", "remove my
       number", "take me off", "no mas mensajes", "ya no me escriban", "no me manden", "dejen de escribirme", "para
       de mandarme", "basta de mensajes", "darme de baja", "no quiero recibir mensajes", "cancelar suscripcion".

    A bare opt-out word inside an ordinary sentence does not count, which keeps business conversation out: "my water
    heater won't stop leaking", "the pipe will not stop", "can you stop by tomorrow?", "I need to cancel my
    appointment?", "para mañana", "cancelar la cita" are "none". "dont call me" is deliberately not a pattern
    ("don't call me, text me" is common); "stop calling me" is, since it is directed at the business.
    `keyword` is the matched phrase in its normalised form (for a bare form, the whole normalised message).

Anything else is "none". Opt-in and help are exact-only: re-consent must be unambiguous, and a stray "yes" in a
sentence is not a START.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["opt_out", "opt_in", "help", "natural_opt_out", "none"]


@dataclass(frozen=True)
class Classification:
    kind: Kind
    keyword: str = ""
    needs_review: bool = False


NONE = Classification("none")

# Canonical keyword for each accepted spelling (after normalisation).
_EXACT: dict[str, tuple[Kind, str]] = {
    **{word: ("opt_out", word) for word in ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke")},
    "optout": ("opt_out", "optout"),
    **{word: ("opt_in", word) for word in ("start", "yes", "unstop")},
    **{word: ("help", word) for word in ("help", "info")},
}
# "opt out", "opt-out", "opt\u2013out": any whitespace or dash between the two words.
_OPT_OUT_SPELLING = re.compile(r"opt[\s\-\u2010-\u2015\u2212_]+out")

_OPT_OUT_WORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "unsub",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "para",
        "paren",
        "basta",
        "cancelar",
        "alto",
        "baja",
    }
)
_FILLERS = frozenset(
    {
        "please",
        "pls",
        "plz",
        "plse",
        "now",
        "right",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "ok",
        "okay",
        "just",
        "it",
        "all",
        "asap",
        "por",
        "favor",
        "porfavor",
        "porfa",
        "xfa",
        "ya",
        "gracias",
    }
)

_ME = r"(?:me|us|this number|my number)"
_MESSAGES = r"(?:texts?|txts?|messages?|msgs?|sms|smss)"
# "remove me" / "take me off" count only when nothing follows or what follows is a list, not "the schedule".
_LIST = (
    r"(?:(?:your|the|this|ur|all|all your|all the|my) )?(?:\w+ )?"
    r"(?:list|lists|texts?|messages?|msgs?|contacts?|system|database|records?)\b"
)
_FROM_LIST = r"from " + _LIST
_NATURAL = re.compile(
    r"\b(?:"
    # English
    r"stop (?:texting|txting|messaging|msging|contacting|calling|bothering|spamming|harassing|emailing)(?: me| us)?"
    r"|stop (?:sending|send) (?:me|us|these|those|them|texts?|messages?|msgs?)"
    r"|stop (?:(?:these|those|the|your|all|all these|all the|all your) )?" + _MESSAGES + r"\b"
    r"|quit (?:texting|messaging|contacting|sending me)"
    r"|(?:dont|do not|pls dont|please dont|never) (?:ever )?(?:text|txt|message|msg|sms|contact|email) " + _ME + r"\b"
    r"|unsubscribe|unsub"
    r"|opt (?:me )?out|optout"
    r"|revoke"
    r"|stopall"
    r"|no more " + _MESSAGES + r"\b"
    r"|i (?:dont|do not) want (?:any |your )?(?:more |these |any more |anymore )?" + _MESSAGES + r"\b"
    r"|leave me alone"
    r"|remove (?:me|my number|this number)(?=$| please| pls| now| asap| " + _FROM_LIST + r")"
    r"|take (?:me|my number|this number) off(?=$| please| pls| now| asap| (?:of )?" + _LIST + r")"
    r"|delete (?:my number|this number)"
    # Spanish (accent-folded)
    r"|no mas (?:mensajes|textos|msjs?|sms)"
    r"|no me (?:escriban|escribas|escriba|escribes|contacten|contactes|contacte|molesten|molestes|textees|texteen)"
    r"|no me (?:manden|mandes|mande|envien|envies|envie) (?:mas )?(?:mensajes|textos|msjs?|sms|nada)"
    r"|(?:deja|dejen|deje|dejes|dejar|para|paren|pare|parar) de "
    r"(?:mandarme mensajes|enviarme mensajes|mandar mensajes|enviar mensajes|escribirme|escribirnos|mandarme"
    r"|enviarme|contactarme|molestarme|textearme|llamarme|escribir)"
    r"|basta de (?:mensajes|textos|msjs?)"
    r"|(?:darme|dame|denme|deme|dar) de baja"
    r"|no quiero (?:recibir )?(?:mas )?(?:mensajes|textos|msjs?)"
    r"|cancelar (?:la |mi )?suscripcion"
    r")\b"
)
_NON_WORD = re.compile(r"[\W_]+")
_APOSTROPHES = re.compile(r"['\u2019\u2018\u02bc`\u00b4]")


def _is_edge_noise(char: str) -> bool:
    """Whitespace, punctuation, control and invisible format characters: ignored around an exact keyword."""
    return char.isspace() or unicodedata.category(char)[0] in "PZC"


def normalise(body: str) -> str:
    """NFKC, case-folded, with surrounding whitespace, punctuation and invisible characters removed."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", body).casefold())
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    return text[start:end]


def _fold(text: str) -> str:
    """Accents removed, apostrophes dropped, everything that is not a letter or digit collapsed to one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    stripped = _APOSTROPHES.sub("", stripped)
    return _NON_WORD.sub(" ", stripped).strip()


def _exact(normalised: str) -> Classification | None:
    hit = _EXACT.get(_OPT_OUT_SPELLING.sub("optout", normalised) if "opt" in normalised else normalised)
    if hit is None:
        return None
    kind, keyword = hit
    return Classification(kind, keyword)


def classify(body: str) -> Classification:
    """Classify one inbound message body. Pure: the same body always gives the same result."""
    normalised = normalise(body)
    if not normalised:
        return NONE
    exact = _exact(normalised)
    if exact is not None:
        return exact
    folded = _fold(normalised)
    if not folded:
        return NONE
    # Bare form: only opt-out words and fillers. Checked on the first few words so a long message costs nothing.
    words = _OPT_OUT_SPELLING.sub("optout", folded).split(" ", 12)
    bare = len(words) <= 12 and any(word in _OPT_OUT_WORDS for word in words)
    if bare and all(word in _OPT_OUT_WORDS or word in _FILLERS for word in words):
        return Classification("natural_opt_out", " ".join(words), needs_review=True)
    match = _NATURAL.search(folded)
    if match is not None:
        return Classification("natural_opt_out", match.group(0), needs_review=True)
    return NONE
