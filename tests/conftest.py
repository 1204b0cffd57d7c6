from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from yibao.policy import load_table
from yibao.texts import load_texts

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="session")
def small_table():
    return load_table(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv")


@pytest.fixture(scope="session")
def real_table():
    return load_table()


@pytest.fixture(scope="session")
def texts():
    return load_texts()


@pytest.fixture
def today():
    return TODAY
