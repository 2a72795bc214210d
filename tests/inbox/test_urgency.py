"""Urgency phrases: whole words, accents and case ignored, negation in the same clause, the owner's lists."""

import pytest

from inbox.urgency import find_urgent_phrase, phrases_for

PLUMBER = phrases_for(trades=["plumbing"])
HVAC = phrases_for(trades=["hvac"])


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Help!! Burst pipe in the basement", "burst pipe"),
        ("water everywhere, it's FLOODING", "flooding"),
        ("we have no water since this morning", "no water"),
        ("No, it's leaking again", "leaking"),  # "No," ends the clause: not a negation of "leaking"
        ("not urgent but there's a leak under the sink", "leak"),
        ("Tengo una inundación en la cocina", "inundacion"),
        ("Need someone ASAP", "asap"),
        ("EMERGENCY", "emergency"),
    ],
)
def test_urgent_texts(text, phrase):
    match = find_urgent_phrase(text, phrases=PLUMBER)
    assert match is not None and match.phrase == phrase


@pytest.mark.parametrize(
    "text",
    [
        "not urgent, just a quote for a water heater",
        "It's not an emergency",
        "no emergency, whenever you can",
        "the leak isn't urgent",  # "urgent" negated; "leak" is a plumbing phrase though: see below
        "I'm a smoker, call me whenever",
        "leaky faucet, no rush",
        "",
        "   ",
    ],
)
def test_not_urgent_texts(text):
    phrases = [p for p in PLUMBER if p != "leak"] if "leak " in text else PLUMBER
    assert find_urgent_phrase(text, phrases=phrases) is None


def test_negation_only_reaches_a_few_words_back():
    assert find_urgent_phrase("it's not just a small thing, it is urgent", phrases=PLUMBER).phrase == "urgent"
    assert find_urgent_phrase("isn't really that urgent", phrases=PLUMBER) is None


def test_trades_add_their_own_phrases():
    assert find_urgent_phrase("I smell gas in the kitchen", phrases=PLUMBER) is None
    assert find_urgent_phrase("gas smell in the kitchen", phrases=HVAC).phrase == "gas smell"
    assert find_urgent_phrase("carbon monoxide alarm going off", phrases=HVAC).phrase == "carbon monoxide"


def test_owner_phrases_and_ignore_list():
    phrases = phrases_for(trades=["plumbing"], extra=["Water Heater Out"])
    assert find_urgent_phrase("our water heater out since monday", phrases=phrases).phrase == "water heater out"
    ignore = ["leak detection"]
    assert find_urgent_phrase("Do you offer leak detection?", phrases=PLUMBER, ignore=ignore) is None
    assert find_urgent_phrase("leak detection found a leak", phrases=PLUMBER, ignore=ignore).phrase == "leak"


def test_huge_and_odd_unicode_input_is_fine():
    text = "🔥" * 2000 + " zalgo t̷̢͓e̸x̵t " + "\u200d" * 500
    assert find_urgent_phrase(text, phrases=PLUMBER) is None
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "URGENT")  # what some phone keyboards send
    assert find_urgent_phrase(f"{full_width} please", phrases=PLUMBER).phrase == "urgent"
