"""The one way a WeChat request ends early: a 4xx with a short reason for WeChat's server logs."""

from __future__ import annotations


class Reject(Exception):
    """Ends a request with ``status`` and ``reason`` (plain text, never a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
