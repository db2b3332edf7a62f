"""S&P 500 ticker changes that separate the bundled price history from the sector list.

The daily prices (``sp500_daily/all_stocks_5yr.csv.gz``) end on 2018-02-07; the sector list
(``constituents_2018-04-02.csv``) is a snapshot two months later. In between three companies
changed ticker (Priceline Group → Booking Holdings ``PCLN`` → ``BKNG``, Welltower ``HCN`` →
``WELL``, CBRE Group ``CBG`` → ``CBRE``), so their prices carry the old ticker and their sector
the new one. Four more (``CHK``, ``PDCO``, ``SIG``, ``SNI``) left the index in that window and
are not in the snapshot at all: no sector is known for them from this data.
"""

from __future__ import annotations

#: Former ticker -> the ticker the same company trades under in a later securities list.
RENAMED: dict[str, str] = {"PCLN": "BKNG", "HCN": "WELL", "CBG": "CBRE"}
