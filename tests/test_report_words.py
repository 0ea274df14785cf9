"""The outage report's words catalogue (``downtime/report/words.toml``) and its language rule.

Pure: no data folder. The report itself, in both languages, is checked end to end in
``test_report.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from wordskit import assert_parallel, placeholders, texts

from downtime.report import COUNT_FIELDS, LANGS, SCOPE_REASONS, Words, age_words, pending_words
from downtime.report.formats import FORMATS, MACHINE_FORMATS, report_lang
from downtime.report.htmlchart import SERIES
from downtime.report.words import catalogue

TABLES = ("columns", "counts", "why", "chart")  # tables of codes in words


def test_every_word_is_in_both_languages_with_the_same_placeholders() -> None:
    assert_parallel(catalogue(), TABLES)


def test_a_count_has_a_singular_and_a_plural_form_and_names_its_number() -> None:
    for lang in LANGS:
        for key, value in catalogue()[lang].items():
            if isinstance(value, Mapping) and key not in TABLES:
                assert set(value) == {"one", "other"}, (lang, key)
            if key.endswith("_n"):
                assert all("n" in placeholders(t) for t in texts(value)), (lang, key)


def test_every_code_the_report_names_has_words_in_both_languages() -> None:
    for lang in LANGS:
        table = catalogue()[lang]
        assert set(table["why"]) == set(SCOPE_REASONS), lang
        assert set(table["counts"]) == set(COUNT_FIELDS), lang
        assert {name for name, _ in SERIES} | {"outbox"} == set(table["chart"]), lang


def test_no_word_carries_markdown() -> None:
    for lang in LANGS:
        for key, value in catalogue()[lang].items():
            values = value.values() if key in TABLES else texts(value)
            assert not any("`" in str(v) or "**" in str(v) for v in values), (lang, key)


def test_counts_choose_their_form_in_swedish_and_keep_english_as_it_was() -> None:
    sv, en = Words("sv"), Words("en")

    assert (sv.n("missing_n", 1), sv.n("missing_n", 3)) == ("1 sida saknas", "3 sidor saknas")
    assert en.n("missing_n", 1) == "1 page(s) missing", "JSON's English sentences unchanged"
    assert pending_words({"conflict": 1, "pending-review": 2}) == (
        "3 item(s) held for a person (pending-review 2, conflict 1)"
    ), "the drill's words: English by default"
    assert pending_words({"conflict": 1}, "sv") == "1 post väntar på en person (conflict 1)"


@pytest.mark.parametrize(
    ("seconds", "sv", "en"),
    [
        (35 * 60, "35 min", "35 min"),
        (5 * 3600 + 2 * 60, "5 tim 02 min", "5 h 02 min"),
        (76 * 3600, "3 dygn 4 tim", "3 d 4 h"),
    ],
)
def test_ages_read_in_either_language(seconds: int, sv: str, en: str) -> None:
    assert (age_words(seconds, "sv"), age_words(seconds, "en")) == (sv, en)


def test_people_get_the_sites_language_and_tools_english_unless_one_is_asked_for() -> None:
    for fmt in FORMATS:
        tools = fmt in MACHINE_FORMATS
        assert report_lang(fmt, None, "sv") == ("en" if tools else "sv"), fmt
        assert report_lang(fmt, "sv", "en") == "sv", fmt
    assert report_lang("html", None, "en") == "en"
    with pytest.raises(ValueError, match="no report language"):
        report_lang("table", "de", "sv")
    with pytest.raises(ValueError, match="no report language"):
        Words("de")
