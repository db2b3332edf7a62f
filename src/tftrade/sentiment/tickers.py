"""Find the tickers a comment talks about.

Three kinds of mention are recognised:

* cashtags (``$TSLA``, ``$brk.b``): always a ticker, even a stop-listed word
  (``$ON``, ``$ALL``);
* bare upper-case symbols (``NVDA``) that are in the known universe and not on
  the stop-list of words that are also tickers (``A``, ``ALL``, ``IT``, ``ON``,
  ``DD``, ``CEO``, ``YOLO``, ...);
* company names and aliases (``Tesla``, ``Nvidia``, ``Home Depot``); aliases
  that are also ordinary words (``apple``, ``meta``, ``intel``) count only when
  capitalised.

A comment can mention several tickers; each is reported once, in order of first
mention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tftrade.data.universe import KNOWN_COMPANIES

STOP_LIST: frozenset[str] = frozenset({
    "A", "I", "AM", "AN", "ARE", "AS", "AT", "BE", "BY", "CAN", "DO", "GO", "HE", "IF", "IN", "IS", "IT", "ME",
    "MY", "NO", "OF", "OK", "ON", "OR", "SO", "TO", "UP", "US", "WE", "ALL", "ANY", "BIG", "FOR", "HAS", "NEW",
    "NOW", "ONE", "OUT", "OWN", "PAY", "RUN", "SEE", "TWO", "WAY", "WHO", "DD", "CEO", "CFO", "CTO", "YOLO",
    "FOMO", "HODL", "ATH", "ATL", "IMO", "IMHO", "TLDR", "LOL", "LMAO", "OP", "EDIT", "WSB", "EPS", "PE", "PT",
    "IV", "GDP", "CPI", "FED", "FOMC", "SEC", "FDA", "IPO", "ETF", "USD", "EUR", "IRA", "ROTH", "EV", "AI",
    "TV", "PM", "EOD", "EOW", "HD", "USA", "UK", "EU", "BUY", "SELL", "HOLD", "CALL", "CALLS", "PUT", "PUTS",
    "MOON", "LONG", "SHORT", "GAIN", "LOSS", "BEAR", "BULL", "RH", "TD", "DOW",
})
"""Words written in capitals that are usually not tickers (some are listed tickers too)."""

EXTRA_TICKERS: tuple[str, ...] = ("GME", "AMC", "PLTR", "SPY", "QQQ", "BB", "NOK", "COIN", "HOOD", "RIVN",
                                  "SOFI", "BABA", "UBER", "DIS", "KO", "WMT", "COST")
"""Tickers recognised without a securities master (meme stocks and a few large caps)."""

ALIASES: dict[str, str] = {
    "apple": "AAPL", "microsoft": "MSFT", "nvidia": "NVDA", "tesla": "TSLA", "amazon": "AMZN",
    "jpmorgan": "JPM", "jp morgan": "JPM", "chase": "JPM", "exxon": "XOM", "exxonmobil": "XOM",
    "exxon mobil": "XOM", "johnson & johnson": "JNJ", "j&j": "JNJ", "alphabet": "GOOGL", "google": "GOOGL",
    "meta": "META", "facebook": "META", "bank of america": "BAC", "bofa": "BAC", "chevron": "CVX",
    "pfizer": "PFE", "advanced micro devices": "AMD", "home depot": "HD", "goldman": "GS",
    "goldman sachs": "GS", "conocophillips": "COP", "unitedhealth": "UNH", "netflix": "NFLX", "intel": "INTC",
    "nike": "NKE", "wells fargo": "WFC", "schlumberger": "SLB", "merck": "MRK", "disney": "DIS",
    "walt disney": "DIS", "gamestop": "GME", "palantir": "PLTR", "coinbase": "COIN", "robinhood": "HOOD",
    "rivian": "RIVN", "alibaba": "BABA", "uber": "UBER", "walmart": "WMT", "costco": "COST",
    "coca-cola": "KO", "coca cola": "KO", "blackberry": "BB",
    "nokia": "NOK",
}
"""Company names and nicknames (lower case) → ticker."""

CASED_ALIASES: frozenset[str] = frozenset({"apple", "meta", "intel", "chase", "nike", "merck", "uber"})
"""Aliases that are also common words: they count only when written with a capital letter."""

_SUFFIXES = re.compile(
    r"[\s,]+(inc|corp|corporation|co|company|ltd|plc|group|holdings|platforms|& co|n\.?v|s\.?a)\.?$", re.I
)
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,7}(?:\.[A-Za-z])?)\b")
_BARE = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]{0,7}(?:\.[A-Z])?)(?![\w])")


def name_alias(name: str) -> str:
    """Return the short, lower-case form of a company name used to find it in text.

    Examples
    --------
    >>> name_alias("Walt Disney Co."), name_alias("Goldman Sachs Group Inc."), name_alias("Amazon.com Inc.")
    ('walt disney', 'goldman sachs', 'amazon.com')
    """
    out = name.strip()
    while True:
        shorter = _SUFFIXES.sub("", out)
        if shorter == out:
            return out.lower()
        out = shorter


@dataclass(frozen=True)
class TickerExtractor:
    """Find tickers in text against a universe of known symbols and names.

    Parameters
    ----------
    known
        Tickers that bare symbols may match (cashtags need not be known unless
        ``cashtags_must_be_known``).
    aliases
        Lower-case company names and nicknames mapped to tickers.
    stop_list
        Upper-case words never taken as bare symbols.
    cashtags_must_be_known
        Drop cashtags of tickers outside ``known``.

    Examples
    --------
    >>> ex = TickerExtractor.default()
    >>> ex.extract("YOLO'd into $TSLA and NVDA, DD says IT is ON. Apple too, but not an apple pie")
    ('TSLA', 'NVDA', 'AAPL')
    >>> ex.extract("$ON semi is up, ALL in")
    ('ON',)
    """

    known: frozenset[str]
    aliases: Mapping[str, str]
    stop_list: frozenset[str] = STOP_LIST
    cashtags_must_be_known: bool = False
    _alias_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = sorted(self.aliases, key=len, reverse=True)
        pattern = "|".join(re.escape(n) for n in names) or r"(?!x)x"
        object.__setattr__(self, "_alias_re", re.compile(rf"(?<![\w$])({pattern})(?![\w&-])", re.I))

    @classmethod
    def default(cls) -> TickerExtractor:
        """Return an extractor over the built-in universe (the synthetic names plus a few meme stocks)."""
        return cls.from_securities((t, n) for t, n, _ in KNOWN_COMPANIES)

    @classmethod
    def from_securities(cls, securities: Iterable[tuple[str, str]], *, include_builtin: bool = True,
                        cashtags_must_be_known: bool = False) -> TickerExtractor:
        """Build an extractor from ``(ticker, company name)`` pairs, e.g. the securities master."""
        known: set[str] = set()
        aliases: dict[str, str] = {}
        for ticker, name in securities:
            known.add(ticker.upper())
            alias = name_alias(name)
            if len(alias) > 3 and not alias.startswith("synthetic company"):
                aliases.setdefault(alias, ticker.upper())
        if include_builtin:
            known.update(t for t, _, _ in KNOWN_COMPANIES)
            known.update(EXTRA_TICKERS)
            for alias, ticker in ALIASES.items():
                aliases.setdefault(alias, ticker)
        aliases = {a: t for a, t in aliases.items() if t in known}
        return cls(frozenset(known), aliases, cashtags_must_be_known=cashtags_must_be_known)

    def extract(self, text: str) -> tuple[str, ...]:
        """Return the tickers ``text`` mentions, each once, in order of first mention."""
        found: list[tuple[int, str]] = []
        for m in _CASHTAG.finditer(text):
            sym = m.group(1).upper()
            if sym in self.known or (not self.cashtags_must_be_known and sym.isalpha() and len(sym) <= 5):
                found.append((m.start(), sym))
        for m in _BARE.finditer(text):
            sym = m.group(1)
            if sym in self.known and sym not in self.stop_list:
                found.append((m.start(), sym))
        for m in self._alias_re.finditer(text):
            word = m.group(1)
            key = word.lower()
            if key in CASED_ALIASES and not word[0].isupper():
                continue
            found.append((m.start(), self.aliases[key]))
        seen: dict[str, None] = {}
        for _, sym in sorted(found):
            seen.setdefault(sym, None)
        return tuple(seen)

    def extract_many(self, texts: Iterable[str]) -> list[tuple[str, ...]]:
        """Return :meth:`extract` of every text."""
        return [self.extract(t) for t in texts]
