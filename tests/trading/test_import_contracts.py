"""The package order of ARCHITECTURE.md, checked with import-linter (runs in CI with the tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_packages_import_only_earlier_packages() -> None:
    # in a process of its own: import-linter configures logging and disables every logger already created
    run = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config", str(ROOT / ".importlinter"),
                          "--no-cache"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_contract_lists_every_package() -> None:
    config = (ROOT / ".importlinter").read_text()
    listed = set(re.findall(r"tftrade\.(\w+)", config))
    packages = {p.name for p in (ROOT / "src" / "tftrade").iterdir() if (p / "__init__.py").exists()}
    assert packages <= listed, f"packages missing from .importlinter: {sorted(packages - listed)}"


def test_the_trading_loop_reads_no_wall_clock() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "tftrade" / "trading").glob("*.py"))
    assert not re.search(r"datetime\.now|time\.time|time_ns|monotonic|perf_counter|utcnow", source)
