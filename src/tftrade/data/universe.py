"""Names and sectors the synthetic market draws its tickers from."""

from __future__ import annotations

from tftrade.core.types import Security

KNOWN_COMPANIES: tuple[tuple[str, str, str], ...] = (
    ("AAPL", "Apple Inc.", "Information Technology"),
    ("MSFT", "Microsoft Corp.", "Information Technology"),
    ("NVDA", "Nvidia Corp.", "Information Technology"),
    ("TSLA", "Tesla Inc.", "Consumer Discretionary"),
    ("AMZN", "Amazon.com Inc.", "Consumer Discretionary"),
    ("JPM", "JPMorgan Chase & Co.", "Financials"),
    ("XOM", "Exxon Mobil Corp.", "Energy"),
    ("JNJ", "Johnson & Johnson", "Health Care"),
    ("GOOGL", "Alphabet Inc.", "Communication Services"),
    ("META", "Meta Platforms Inc.", "Communication Services"),
    ("BAC", "Bank of America Corp.", "Financials"),
    ("CVX", "Chevron Corp.", "Energy"),
    ("PFE", "Pfizer Inc.", "Health Care"),
    ("AMD", "Advanced Micro Devices Inc.", "Information Technology"),
    ("HD", "Home Depot Inc.", "Consumer Discretionary"),
    ("GS", "Goldman Sachs Group Inc.", "Financials"),
    ("COP", "ConocoPhillips", "Energy"),
    ("UNH", "UnitedHealth Group Inc.", "Health Care"),
    ("NFLX", "Netflix Inc.", "Communication Services"),
    ("INTC", "Intel Corp.", "Information Technology"),
    ("NKE", "Nike Inc.", "Consumer Discretionary"),
    ("WFC", "Wells Fargo & Co.", "Financials"),
    ("SLB", "Schlumberger Ltd.", "Energy"),
    ("MRK", "Merck & Co.", "Health Care"),
    ("DIS", "Walt Disney Co.", "Communication Services"),
)

SYNTHETIC_SECTORS: tuple[str, ...] = (
    "Information Technology",
    "Consumer Discretionary",
    "Financials",
    "Energy",
    "Health Care",
    "Communication Services",
)


def synthetic_universe(n: int) -> list[Security]:
    """Return ``n`` securities: well-known names first, then ``SYN0001``… in rotating sectors."""
    out = [Security(t, name, sector) for t, name, sector in KNOWN_COMPANIES[:n]]
    for k in range(len(out), n):
        sector = SYNTHETIC_SECTORS[k % len(SYNTHETIC_SECTORS)]
        out.append(Security(f"SYN{k:04d}", f"Synthetic Company {k}", sector))
    return out
