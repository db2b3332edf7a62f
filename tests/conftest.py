"""Shared fixtures: an isolated workspace, SQLite and PostgreSQL engines, the public data sets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tftrade.store.engine import make_engine
from tftrade.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TFTRADE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own TFTRADE_HOME and no stray TFTRADE_* settings."""
    for key in list(os.environ):
        if key.startswith("TFTRADE_") and key not in ("TFTRADE_SHARED_DATA", "TFTRADE_TEST_PG_URL"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    monkeypatch.setenv("TFTRADE_HOME", str(home))
    return home


@pytest.fixture
def initialized_home(_isolated_home: Path) -> Path:
    """The isolated workspace with its database created, as ``tftrade db init`` leaves it."""
    eng = make_engine(f"sqlite:///{_isolated_home / 'tftrade.db'}")
    upgrade(eng)
    eng.dispose()
    return _isolated_home


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    upgrade(eng)
    return eng


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI and unreachable: {why}")
    pytest.skip(f"{what} unreachable: {why}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL into a fresh PostgreSQL schema, dropped afterwards (tests run in parallel)."""
    from tftrade.core.errors import StoreError

    try:
        admin = make_engine(PG_URL)
    except StoreError as e:
        _unavailable("PostgreSQL", str(e))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Run a test on both backends: one conformance suite for every store."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data sets beside the project (``../shared/data``), or ``$TFTRADE_SHARED_DATA``."""
    path = Path(os.environ.get("TFTRADE_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        if IN_CI:
            pytest.fail(f"shared data folder {path} is missing in CI")
        pytest.skip(f"shared data folder {path} is absent (a fresh clone); set TFTRADE_SHARED_DATA")
    return path


class CliWorkspace:
    """A workspace initialised through the CLI as a user would (``db init``, an admin API key) for subprocess tests."""

    def __init__(self, home: Path) -> None:
        import json
        import subprocess
        import sys

        self.home = home
        self.env = {**os.environ, "TFTRADE_HOME": str(home),
                    "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        self.cli = [sys.executable, "-m", "tftrade"]
        subprocess.run([*self.cli, "db", "init"], env=self.env, check=True, capture_output=True)
        made = subprocess.run([*self.cli, "apikey", "create", "--name", "t", "--json"], env=self.env, check=True,
                              capture_output=True, text=True)
        self.key: str = json.loads(made.stdout)["key"]


@pytest.fixture
def cli_workspace(tmp_path: Path) -> CliWorkspace:
    """:class:`CliWorkspace` in ``tmp_path``."""
    return CliWorkspace(tmp_path)

