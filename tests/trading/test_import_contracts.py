"""The package order of ARCHITECTURE.md, checked with import-linter (runs in CI with the tests)."""

from __future__ import annotations

import re
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_packages_import_only_earlier_packages() -> None:
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0


def test_the_contract_lists_every_package() -> None:
    config = (ROOT / ".importlinter").read_text()
    listed = set(re.findall(r"tftrade\.(\w+)", config))
    packages = {p.name for p in (ROOT / "src" / "tftrade").iterdir() if (p / "__init__.py").exists()}
    assert packages <= listed, f"packages missing from .importlinter: {sorted(packages - listed)}"


def test_the_trading_loop_reads_no_wall_clock() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "tftrade" / "trading").glob("*.py"))
    assert not re.search(r"datetime\.now|time\.time|time_ns|monotonic|perf_counter|utcnow", source)
