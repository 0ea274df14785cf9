"""How a ward station says what it holds, for a nurse, in Swedish or English (pure):
``MED42: pack from 06:00 today, data 2 h old, valid until 18:00 today``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LANGS = ("sv", "en")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "held": "{ward}: pack from {issued}, data {age} old, valid until {until}",
        "expired": "{ward}: pack from {issued}, data {age} old, EXPIRED at {until} — sync with "
        "the print host, or use it with care",
        "none": "{ward}: no pack held yet — run downtime station sync",
        "empty": "this station holds no pack yet — run downtime station sync SOURCE --ward W",
        "today": "today",
        "yesterday": "yesterday",
        "tomorrow": "tomorrow",
        "min": "{n} min",
        "hours": "{n} h",
        "days": "{n} days",
        "checked": "last checked {at}: {what}",
        "updated": "new pack fetched",
        "current": "up to date",
        "kept": "kept the pack held",
        "refused": "a newer pack was REFUSED ({detail}); the pack held is kept",
        "absent": "the source has no pack for this ward",
        "unreachable": "the print host could not be reached; the pack held is kept",
        "printed": "printed {when}: {times} time(s), {pages} page(s); last {at} by {who} on "
        "{printer}",
        "never_printed": "not printed here yet",
        "continuation": "continuation {n}: administration record {start} – {end}, {state}",
        "continuation_printed": "printed here",
        "continuation_waiting": "not printed yet (downtime print --ward {ward} --continue)",
        "no_continuation": "no continuation held (the print host makes them ahead with its packs)",
    },
    "sv": {
        "held": "{ward}: paket från {issued}, uppgifter {age} gamla, gäller till {until}",
        "expired": "{ward}: paket från {issued}, uppgifter {age} gamla, GÄLLDE TILL {until} — "
        "synka från utskriftsdatorn, eller använd det med försiktighet",
        "none": "{ward}: inget paket hämtat ännu — kör downtime station sync",
        "empty": "här finns inget paket ännu — kör downtime station sync KÄLLA --ward AVD",
        "today": "i dag",
        "yesterday": "i går",
        "tomorrow": "i morgon",
        "min": "{n} min",
        "hours": "{n} tim",
        "days": "{n} dygn",
        "checked": "senast kontrollerat {at}: {what}",
        "updated": "nytt paket hämtat",
        "current": "aktuellt",
        "kept": "behöll paketet som finns",
        "refused": "ett nyare paket AVVISADES ({detail}); paketet som finns behålls",
        "absent": "källan har inget paket för avdelningen",
        "unreachable": "utskriftsdatorn gick inte att nå; paketet som finns behålls",
        "printed": "utskrivet {when}: {times} gång(er), {pages} sida/sidor; senast {at} av "
        "{who} på {printer}",
        "never_printed": "inte utskrivet här ännu",
        "continuation": "fortsättning {n}: administreringslista {start} – {end}, {state}",
        "continuation_printed": "utskriven här",
        "continuation_waiting": "inte utskriven ännu (downtime print --ward {ward} --continue)",
        "no_continuation": "inget fortsättningspaket finns här (utskriftsdatorn gör dem i "
        "förväg med sina paket)",
    },
}


def word(lang: str, key: str, **values: object) -> str:
    text = WORDS.get(lang, WORDS["sv"])[key]
    return text.format(**values) if values else text


def when(moment: datetime, now: datetime, tz: ZoneInfo, lang: str) -> str:
    """``06:00 today``, ``18:00 yesterday``, or ``2026-11-24 06:00``."""
    local, today = moment.astimezone(tz), now.astimezone(tz).date()
    days = {0: "today", -1: "yesterday", 1: "tomorrow"}.get((local.date() - today).days)
    if days is None:
        return local.strftime("%Y-%m-%d %H:%M")
    return f"{local:%H:%M} {word(lang, days)}"


def age(span: timedelta, lang: str) -> str:
    """``25 min``, ``2 h``, ``3 days`` (rounded down; never negative)."""
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 60:
        return word(lang, "min", n=minutes)
    if minutes < 48 * 60:
        return word(lang, "hours", n=minutes // 60)
    return word(lang, "days", n=minutes // (24 * 60))


def pack_line(
    ward: str,
    held: tuple[datetime, datetime, datetime] | None,
    *,
    now: datetime,
    tz: ZoneInfo,
    lang: str,
) -> str:
    """The ward's line; ``held``: the pack's issue time, data time and end of validity."""
    if held is None:
        return word(lang, "none", ward=ward)
    issued, as_of, until = held
    key = "expired" if until <= now else "held"
    return word(
        lang,
        key,
        ward=ward,
        issued=when(issued, now, tz, lang),
        age=age(now - as_of, lang),
        until=when(until, now, tz, lang),
    )
