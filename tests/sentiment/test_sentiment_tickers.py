"""Ticker extraction on tricky sentences."""

from __future__ import annotations

import pytest

from tftrade.sentiment.tickers import TickerExtractor, name_alias


@pytest.fixture(scope="module")
def ex() -> TickerExtractor:
    return TickerExtractor.from_securities([("AAPL", "Apple Inc."), ("ON", "ON Semiconductor Corp."),
                                            ("ALL", "Allstate Corp."), ("SYN0007", "Synthetic Company 7")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$TSLA to the moon", ("TSLA",)),
        ("I think IT is ON, ALL in on A new CEO. YOLO, DD inside", ()),
        ("$ON and $ALL are cheap, $A too", ("ON", "ALL", "A")),
        ("NVDA and AMD ripping, Tesla lagging", ("NVDA", "AMD", "TSLA")),
        ("Nvidia's earnings beat; Home Depot and Bank of America report tomorrow", ("NVDA", "HD", "BAC")),
        ("an apple a day, meta analysis, intel from a friend", ()),
        ("Apple and Meta and Intel", ("AAPL", "META", "INTC")),
        ("$tsla and tsla", ("TSLA",)),
        ("TSLA TSLA $TSLA Tesla", ("TSLA",)),
        ("I paid $100 for 5 shares", ()),
        ("$SYN0007 pumping", ("SYN0007",)),
        ("SYN0007 is moving", ("SYN0007",)),
        ("Synthetic Company 7 is not an alias", ()),
        ("HD video is blurry", ()),
        ("HD video of $HD earnings", ("HD",)),
        ("ABCDEF is not a ticker and neither is XYZQ", ()),
        ("GME, AMC, PLTR squeeze", ("GME", "AMC", "PLTR")),
        ("Amazon.com and Walt Disney", ("AMZN", "DIS")),
    ],
)
def test_tricky_sentences(ex: TickerExtractor, text: str, expected: tuple[str, ...]) -> None:
    assert ex.extract(text) == expected


def test_cashtags_can_be_restricted_to_known() -> None:
    ex = TickerExtractor.from_securities([("AAPL", "Apple Inc.")], include_builtin=False, cashtags_must_be_known=True)
    assert ex.extract("$AAPL $ZZZZ Apple") == ("AAPL",)


def test_name_alias_strips_legal_suffixes() -> None:
    assert name_alias("JPMorgan Chase & Co.") == "jpmorgan chase"
    assert name_alias("Schlumberger Ltd.") == "schlumberger"


@pytest.fixture(scope="module")
def master() -> TickerExtractor:
    # a slice of a real securities master: single letters, dictionary-word names and symbols
    return TickerExtractor.from_securities([
        ("M", "Macy's Inc."), ("D", "Dominion Energy"), ("TGT", "Target Corp."), ("BLL", "Ball Corp"),
        ("KEY", "KeyCorp"), ("CAT", "Caterpillar Inc."), ("IBM", "International Business Machines"),
        ("NOW", "ServiceNow"), ("T", "AT&T Inc."), ("GM", "General Motors"),
    ])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M and D are down today", ()),
        ("price target raised to 200", ()),
        ("they dropped the ball on this one", ()),
        ("Target and Ball report tomorrow", ()),
        ("KEY to this trade: buy NOW, the CAT is out of the bag", ()),
        ("$M $D $TGT $BLL $KEY", ("M", "D", "TGT", "BLL", "KEY")),
        ("TGT and BLL beat; IBM and GM too", ("TGT", "BLL", "IBM", "GM")),
        ("Caterpillar digs, Macy's sells", ("CAT", "M")),
        ("gme and amc and pltr, tsla", ("GME", "AMC", "PLTR", "TSLA")),
        ("SPY puts and COST calls", ("SPY", "COST")),
        ("the cost of a spy", ()),
        ("ibm and tgt in lower case are not on the watch list", ()),
    ],
)
def test_master_words_and_letters_are_not_tickers(master: TickerExtractor, text: str,
                                                   expected: tuple[str, ...]) -> None:
    assert master.extract(text) == expected


def test_watch_list_adds_lower_case_tickers() -> None:
    ex = TickerExtractor.from_securities([("TGT", "Target Corp."), ("IBM", "IBM")], watch=["ibm"])
    assert ex.extract("ibm earnings, tgt too") == ("IBM",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a zero-width space inside a cashtag gave AA (Alcoa) the sentiment meant for Apple
        ("$AA\u200bPL to the moon", ("AAPL",)),
        ("$\u202eAAPL\u202c great", ("AAPL",)),  # right-to-left override / pop
        ("$\uff21\uff21\uff30\uff2c great", ("AAPL",)),  # full-width letters
        ("NV\u00adDA ripping", ("NVDA",)),  # soft hyphen
    ],
)
def test_invisible_and_full_width_characters_do_not_change_the_ticker(ex: TickerExtractor, text: str,
                                                                       expected: tuple[str, ...]) -> None:
    assert ex.extract(text) == expected
