"""Keyword classification: exact carrier keywords, natural-language opt-outs, and ordinary messages."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.keywords import Classification, classify

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
OPT_IN = ["START", "YES", "UNSTOP"]
HELP = ["HELP", "INFO"]


def _variants(word: str) -> list[str]:
    return [
        word,
        word.lower(),
        word.title(),
        f"{word}.",
        f" {word.lower()} ",
        f"{word}!!",
        f"¡{word.lower()}!",
        f"\t{word}?\n",
        f'"{word}"',
        f"({word})",
        f"\u00a0{word}\u200b",
    ]


def _fullwidth(word: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in word)


@pytest.mark.parametrize(("words", "kind"), [(OPT_OUT, "opt_out"), (OPT_IN, "opt_in"), (HELP, "help")])
def test_every_exact_keyword_and_variant(words, kind):
    for word in words:
        for body in [*_variants(word), _fullwidth(word), _fullwidth(word) + "\uff01"]:
            assert classify(body) == Classification(kind, word.lower()), body


@pytest.mark.parametrize("body", ["OPT OUT", "opt-out", "Opt Out.", "opt\u2013out", "OPT  OUT!"])
def test_opt_out_spellings_share_one_canonical_keyword(body):
    assert classify(body) == Classification("opt_out", "optout")


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP please", "stop please"),
        ("Stop please!", "stop please"),
        ("please stop", "please stop"),
        ("Please, STOP.", "please stop"),
        ("stop now", "stop now"),
        ("stop 🛑", "stop"),
        ("🛑STOP🛑", "stop"),
        ("stöp", "stop"),
        ("stop por favor", "stop por favor"),
        ("STOP ALL", "stop all"),
        ("ok cancel thanks", "ok cancel thanks"),
        ("stop texting me", "stop texting me"),
        ("Please stop texting me!", "stop texting me"),
        ("can you stop messaging us", "stop messaging us"),
        ("stop sending me these", "stop sending me"),
        ("stop these texts", "stop these texts"),
        ("unsubscribe me", "unsubscribe"),
        ("How do I unsubscribe?", "unsubscribe"),
        ("I want to opt out of this", "opt out"),
        ("opt me out", "opt me out"),
        ("I revoke my consent", "revoke"),
        ("no more texts", "no more texts"),
        ("No more messages please", "no more messages"),
        ("I don't want any more messages", "i dont want any more messages"),
        ("don't text me", "dont text me"),
        ("don\u2019t text me again", "dont text me"),
        ("do not text me", "do not text me"),
        ("never message me again", "never message me"),
        ("leave me alone", "leave me alone"),
        ("remove me", "remove me"),
        ("Remove me from your list please", "remove me"),
        ("remove my number", "remove my number"),
        ("take me off your list", "take me off"),
        ("para", "para"),
        ("PARA YA", "para ya"),
        ("¡Para!", "para"),
        ("no más mensajes", "no mas mensajes"),
        ("no mas mensajes", "no mas mensajes"),
        ("ya no me escriban", "no me escriban"),
        ("basta", "basta"),
        ("Ya basta!", "ya basta"),
        ("basta de mensajes", "basta de mensajes"),
        ("cancelar", "cancelar"),
        ("Cancelar por favor", "cancelar por favor"),
        ("dejen de escribirme", "dejen de escribirme"),
        ("por favor dejen de mandarme mensajes", "dejen de mandarme mensajes"),
        ("quiero darme de baja", "darme de baja"),
        ("no quiero recibir más mensajes", "no quiero recibir mas mensajes"),
        ("no me manden más mensajes", "no me manden mas mensajes"),
    ],
)
def test_natural_language_opt_outs_are_flagged_for_review(body, keyword):
    assert classify(body) == Classification("natural_opt_out", keyword, needs_review=True)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "!!!",
        "🛑",
        "my water heater won't stop leaking",
        "the pipe will not stop",
        "can you stop by tomorrow?",
        "Please stop by at 3",
        "I need to cancel my appointment?",
        "cancel my appointment please",
        "when does the job end?",
        "take me off the schedule for Tuesday",
        "remove me from the waitlist for Friday? I found someone",
        "don't call me, text me",
        "para mañana a las 3",
        "cancelar la cita",
        "no me manden la factura todavía",
        "yes please come tomorrow",
        "I need help with my furnace",
        "start time?",
        "There's no more hot water",
        "sto p",
        "s.t.o.p",
        "stopper",
        "unstoppable",
    ],
)
def test_ordinary_messages_are_not_opt_outs(body):
    assert classify(body).kind == "none"


def test_opt_in_and_help_are_exact_only():
    assert classify("START please").kind == "none"
    assert classify("yes 👍").kind == "none"
    assert classify("help me").kind == "none"


def test_a_natural_opt_out_in_a_long_message_is_found():
    body = "Hi, we spoke last week about the boiler. " * 50 + "Anyway please stop texting me."
    assert classify(body) == Classification("natural_opt_out", "stop texting me", needs_review=True)


def test_lone_surrogates_and_odd_code_points_do_not_raise():
    for body in ["\ud800", "stop\udfff", "\x00STOP\x00", "\u202estop", "\U0010ffff", "ß" * 10_000, "\u0301" * 5]:
        assert isinstance(classify(body), Classification)


@given(st.text())
def test_classify_never_crashes_and_is_deterministic(body):
    first = classify(body)
    assert first.kind in {"opt_out", "opt_in", "help", "natural_opt_out", "none"}
    assert classify(body) == first
    assert first.needs_review == (first.kind == "natural_opt_out")


@given(st.text())
def test_classifying_the_keyword_again_is_stable(body):
    result = classify(body)
    if result.kind in {"opt_out", "opt_in", "help"}:
        assert classify(result.keyword) == result
    elif result.kind == "natural_opt_out":
        assert classify(result.keyword).kind in {"opt_out", "natural_opt_out"}


@given(
    st.sampled_from(OPT_OUT + OPT_IN + HELP),
    st.text(alphabet=" \t\n.,!?¡¿\"'()-", max_size=5),
    st.text(alphabet=" \t\n.,!?¡¿\"'()-", max_size=5),
    st.booleans(),
)
def test_any_surrounding_whitespace_and_punctuation_is_ignored(word, before, after, lower):
    body = before + (word.lower() if lower else word) + after
    assert classify(body).keyword == word.lower()


@given(st.sampled_from(OPT_OUT), st.sampled_from(["🛑", "🙏", "👍🏽", "❤️"]))
def test_an_emoji_makes_an_opt_out_keyword_natural_language(word, emoji):
    result = classify(f"{word} {emoji}")
    assert result.kind == "natural_opt_out"
    assert result.needs_review
