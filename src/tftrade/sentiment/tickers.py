"""Find the tickers a comment talks about.

Four kinds of mention are recognised:

* cashtags (``$TSLA``, ``$brk.b``, ``$M``): always a ticker, even a stop-listed word
  (``$ON``, ``$ALL``);
* bare upper-case symbols (``NVDA``) that are in the known universe, have at least two
  letters, are not on the stop-list of words that are also tickers (``ALL``, ``IT``,
  ``ON``, ``DD``, ``CEO``, ``YOLO``, ...) and are not English dictionary words
  (:func:`~tftrade.sentiment.language.dictionary_words`: ``KEY``, ``NOW``, ``CAT``), unless
  they are on the watch list (``COST``, ``SPY``);
* lower-case watch-list symbols of three or more letters that are not dictionary words
  (``gme``, ``tsla``);
* company names and aliases (``Tesla``, ``Nvidia``, ``Home Depot``); built-in aliases
  that are also ordinary words (``apple``, ``meta``, ``intel``) count only when
  capitalised, and a name from the securities master that is one dictionary word
  (*Target*, *Ball*) is never taken, so "price target" is not TGT and "dropped the
  ball" is not BLL.

The watch list defaults to the built-in universe (:data:`EXTRA_TICKERS` and the
well-known companies); pass ``watch`` to add the tickers you follow.

A comment can mention several tickers; each is reported once, in order of first
mention.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

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


@cache
def _invisible() -> dict[int, None]:
    """Format characters (U+200B, U+202E, U+00AD, ...): dropped before tickers are looked for."""
    return dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")


_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,7}(?:\.[A-Za-z])?)\b")
_BARE = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]{0,7}(?:\.[A-Z])?)(?![\w])")
_LOWER = re.compile(r"(?<![\w$])([a-z]{3,5})(?![\w])")


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
    watch
        Tickers found bare even when they are dictionary words, and in lower case.
    words
        Dictionary words (lower case) never taken as bare symbols outside the watch list.

    Examples
    --------
    >>> ex = TickerExtractor.default()
    >>> ex.extract("YOLO'd into $TSLA and NVDA, DD says IT is ON. Apple too, but not an apple pie")
    ('TSLA', 'NVDA', 'AAPL')
    >>> ex.extract("$ON semi is up, ALL in")
    ('ON',)
    >>> ex.extract("gme and pltr, price target raised")
    ('GME', 'PLTR')
    """

    known: frozenset[str]
    aliases: Mapping[str, str]
    stop_list: frozenset[str] = STOP_LIST
    cashtags_must_be_known: bool = False
    watch: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
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
                        cashtags_must_be_known: bool = False, watch: Iterable[str] = ()) -> TickerExtractor:
        """Build an extractor from ``(ticker, company name)`` pairs, e.g. the securities master.

        ``watch`` adds tickers to the watch list (the built-in universe when ``include_builtin``).
        """
        from tftrade.sentiment.language import dictionary_words

        words = dictionary_words()
        known: set[str] = set()
        aliases: dict[str, str] = {}
        for ticker, name in securities:
            known.add(ticker.upper())
            alias = name_alias(name)
            if len(alias) > 3 and not alias.startswith("synthetic company") and alias not in words:
                aliases.setdefault(alias, ticker.upper())
        watched = {t.upper() for t in watch}
        if include_builtin:
            builtin = {t for t, _, _ in KNOWN_COMPANIES} | set(EXTRA_TICKERS)
            known.update(builtin)
            watched.update(builtin)
            for alias, ticker in ALIASES.items():
                aliases.setdefault(alias, ticker)
        known.update(watched)
        aliases = {a: t for a, t in aliases.items() if t in known}
        return cls(frozenset(known), aliases, cashtags_must_be_known=cashtags_must_be_known,
                   watch=frozenset(watched), words=words)

    def extract(self, text: str) -> tuple[str, ...]:
        """Return the tickers ``text`` mentions, each once, in order of first mention.

        Invisible format characters (zero-width spaces, bidirectional marks, soft hyphens) are
        dropped and full-width letters folded first, so ``$AA<U+200B>PL`` is AAPL, not AA.
        """
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text).translate(_invisible())
        found: list[tuple[int, str]] = []
        for m in _CASHTAG.finditer(text):
            sym = m.group(1).upper()
            if sym in self.known or (not self.cashtags_must_be_known and sym.isalpha() and len(sym) <= 5):
                found.append((m.start(), sym))
        for m in _BARE.finditer(text):
            sym = m.group(1)
            if self._bare(sym):
                found.append((m.start(), sym))
        for m in _LOWER.finditer(text):
            if self._lower(m.group(1)):
                found.append((m.start(), m.group(1).upper()))
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

    def _bare(self, sym: str) -> bool:
        """Whether an upper-case word standing alone is a ticker."""
        if sym not in self.known or sym in self.stop_list or len(sym) < 2:
            return False
        return sym in self.watch or sym.lower() not in self.words

    def _lower(self, word: str) -> bool:
        """Whether a lower-case word standing alone is a watch-list ticker (``gme``; not ``cost``)."""
        sym = word.upper()
        return sym in self.watch and word not in self.words and sym not in self.stop_list

    def mask_symbols(self, text: str, token: str = "$ticker") -> str:
        """Return ``text`` with each ticker written without ``$`` replaced by ``token``.

        The bare upper-case symbols and lower-case watch-list symbols that :meth:`extract`
        takes are replaced; cashtags and company names are left as written.

        Examples
        --------
        >>> TickerExtractor.default().mask_symbols("NVDA and gme up, IT is ON, cost matters, $AAPL too")
        '$ticker and $ticker up, IT is ON, cost matters, $AAPL too'
        """
        out = _BARE.sub(lambda m: token if self._bare(m.group(1)) else m.group(0), text)
        return _LOWER.sub(lambda m: token if self._lower(m.group(1)) else m.group(0), out)

    def extract_many(self, texts: Iterable[str]) -> list[tuple[str, ...]]:
        """Return :meth:`extract` of every text."""
        return [self.extract(t) for t in texts]
