from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from servers import MODEL
from yibao.policy import load_table
from yibao.texts import load_texts

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 11, 23)


# Modules that need the trained model, a server process, a browser or a terminal: marked e2e, and left
# out by `make unit`.
END_TO_END = {"test_conversations", "test_faults", "test_feedback", "test_hostile_input", "test_persistence", "test_startup",
              "test_policy_reload", "test_privacy_storage", "test_scale_out", "test_security", "test_shell",
              "test_webchat_browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in END_TO_END:
            item.add_marker(pytest.mark.e2e)


def pytest_sessionstart(session):
    # In CI a missing model is a failed training, not a reason to skip the end-to-end tests.
    if os.environ.get("CI") and not MODEL.exists() and session.config.getoption("-m") != "not e2e":
        pytest.exit(f"CI: the trained model {MODEL} is missing (make train failed?)", returncode=1)


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """The one Rasa server the end-to-end modules share (tests/shared_stack.py), started on first use."""
    if not MODEL.exists():
        pytest.skip("needs the trained model: run `make train`")
    from shared_stack import start_shared_stack

    stack = start_shared_stack(tmp_path_factory.mktemp("shared-rasa"))
    try:
        yield stack
    finally:
        stack.stop()


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
