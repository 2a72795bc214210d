"""Turns the results dashboard's figures (tenants.selectors_results) into what the template draws: headline cards
with their change against the previous period, and the geometry of the inline SVG charts. No queries here.

Charts are plain SVG drawn on the server in a fixed coordinate box that scales to the page width, so they need
no script, stay sharp on a phone, and every chart has the same numbers in a table next to it."""

import dataclasses
from decimal import Decimal

from django.contrib.humanize.templatetags.humanize import intcomma

from tenants.selectors_results import Bar, Figures, Results

# SVG boxes (user units); the <svg> is 100% wide, so a 320-unit box reads at about text size on a 375 px phone.
COLUMN_BOX_WIDTH = 320
COLUMN_BOX_HEIGHT = 140
COLUMN_LABEL_SPACE = 16
ROW_BOX_WIDTH = 320
ROW_HEIGHT = 38
ROW_BAR_HEIGHT = 14
NOTHING = "\u2013"  # en dash: no figure (nothing to count)
MINUS = "\u2212"  # a real minus sign, as wide as the plus


@dataclasses.dataclass(frozen=True)
class Headline:
    label: str
    value: str
    previous: str
    change: str  # "+3 (+25%)", "-4 pts" (with a real minus sign), "" when there is nothing to compare
    tone: str  # "good", "bad" or "" (no better/worse reading)
    help: str


@dataclasses.dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    label: str
    show_label: bool
    value: int


@dataclasses.dataclass(frozen=True)
class Row:
    y: float
    bar_y: float
    width: float
    value_x: float  # where the figure after the bar starts
    label: str
    value: int
    share: str  # of the first row, for the funnel ("100%", "40%")


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def rate_text(rate: float | None) -> str:
    return NOTHING if rate is None else f"{rate * 100:.0f}%"


def money_text(value: Decimal) -> str:
    return f"${intcomma(f'{value:.2f}')}"


def _sign(value: float, text: str) -> str:
    return f"+{text}" if value > 0 else (f"{MINUS}{text}" if value < 0 else text)


def _tone(delta: float, *, lower_is_better: bool | None) -> str:
    if lower_is_better is None or delta == 0:
        return ""
    return "good" if (delta < 0) == lower_is_better else "bad"


def _count(label: str, now: int, before: int, *, help: str, lower_is_better: bool | None = False) -> Headline:
    delta = now - before
    change = _sign(delta, intcomma(abs(delta)))
    if before:
        change += f" ({_sign(delta, f'{abs(delta) / before * 100:.0f}%')})"
    return Headline(
        label=label,
        value=intcomma(now),
        previous=intcomma(before),
        change=change,
        tone=_tone(delta, lower_is_better=lower_is_better),
        help=help,
    )


def _rate(label: str, now: float | None, before: float | None, *, help: str, lower_is_better: bool) -> Headline:
    change, tone = "", ""
    if now is not None and before is not None:
        points = round((now - before) * 100)
        change = _sign(points, f"{abs(points)} pts")
        tone = _tone(points, lower_is_better=lower_is_better)
    return Headline(label=label, value=rate_text(now), previous=rate_text(before), change=change, tone=tone, help=help)


def _duration(label: str, now: float | None, before: float | None, *, help: str) -> Headline:
    change, tone = "", ""
    if now is not None and before is not None:
        delta = now - before
        change = _sign(delta, seconds_text(abs(delta)))
        tone = _tone(round(delta, 1), lower_is_better=True)
    return Headline(
        label=label, value=seconds_text(now), previous=seconds_text(before), change=change, tone=tone, help=help
    )


def headlines(now: Figures, before: Figures) -> list[Headline]:
    revenue_delta = now.revenue - before.revenue
    return [
        _count("Missed calls", now.missed, before.missed, help="Calls nobody took.", lower_is_better=None),
        _duration(
            "Text-back time (median)",
            now.latency_p50,
            before.latency_p50,
            help="From the missed call to the carrier accepting the text.",
        ),
        _duration(
            "Text-back time (95th percentile)",
            now.latency_p95,
            before.latency_p95,
            help="19 of 20 callers got their text at least this fast.",
        ),
        _rate(
            "Reply rate",
            now.reply_rate,
            before.reply_rate,
            help="Callers texted back who wrote back.",
            lower_is_better=False,
        ),
        _rate(
            "Intake forms completed",
            now.intake_rate,
            before.intake_rate,
            help="Forms sent in, of the links sent.",
            lower_is_better=False,
        ),
        _duration(
            "First reply from your team (median)",
            now.first_response_median,
            before.first_response_median,
            help="From the first call or text to the first answer from a person.",
        ),
        _count("Booked jobs", now.booked, before.booked, help="Conversations marked booked."),
        Headline(
            label="Recovered revenue",
            value=money_text(now.revenue),
            previous=money_text(before.revenue),
            change=_sign(revenue_delta, money_text(abs(revenue_delta))),
            tone=_tone(revenue_delta, lower_is_better=False),
            help="Job values of the booked conversations.",
        ),
        _rate(
            "Opt-out rate",
            now.opt_out_rate,
            before.opt_out_rate,
            help="Numbers that opted out, of the numbers texted back.",
            lower_is_better=True,
        ),
    ]


def columns(bars: list[Bar], *, label_every: int = 1) -> list[Column]:
    """Vertical bars side by side across the box, tallest at full height; labels under every `label_every`th."""
    slot = COLUMN_BOX_WIDTH / len(bars)
    plot = COLUMN_BOX_HEIGHT - COLUMN_LABEL_SPACE
    result = []
    for index, bar in enumerate(bars):
        height = round(bar.fraction * (plot - 4), 1)
        result.append(
            Column(
                x=round(index * slot + slot * 0.15, 1),
                y=round(plot - height, 1),
                width=round(slot * 0.7, 1),
                height=height,
                label=bar.label,
                show_label=index % label_every == 0,
                value=bar.value,
            )
        )
    return result


def rows(bars: list[Bar]) -> list[Row]:
    """Horizontal bars one under another, the label above each bar and the figure after it."""
    first = bars[0].value if bars else 0
    result = []
    for index, bar in enumerate(bars):
        width = round(max(bar.fraction * (ROW_BOX_WIDTH - 80), 1 if bar.value else 0), 1)
        result.append(
            Row(
                y=index * ROW_HEIGHT + 13,
                bar_y=index * ROW_HEIGHT + 18,
                width=width,
                value_x=width + 6,
                label=bar.label,
                value=bar.value,
                share=f"{bar.value / first * 100:.0f}%" if first else NOTHING,
            )
        )
    return result


def results_display(results: Results) -> dict:
    return {
        "period": results.period,
        "previous_period": results.previous_period,
        "headlines": headlines(results.current, results.previous),
        "any_calls": results.current.missed > 0,
        "reasons": rows(results.by_reason),
        "reasons_height": max(len(results.by_reason), 1) * ROW_HEIGHT,
        "funnel": rows(results.funnel),
        "funnel_height": len(results.funnel) * ROW_HEIGHT,
        "hours": columns(results.by_hour, label_every=3),
        "weekdays": columns(results.by_weekday),
        "column_box": (COLUMN_BOX_WIDTH, COLUMN_BOX_HEIGHT),
        "column_baseline": COLUMN_BOX_HEIGHT - COLUMN_LABEL_SPACE,
        "row_box_width": ROW_BOX_WIDTH,
        "row_bar_height": ROW_BAR_HEIGHT,
    }
