"""One rule for channel settings: a non-empty value in credentials.yml, else the environment variable."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional


def setting(credentials: Optional[Mapping[str, Any]], key: str, env_var: str) -> Optional[str]:
    """The stripped value of `key` from credentials, else of `env_var`, else None (never "")."""
    for value in ((credentials or {}).get(key), os.environ.get(env_var)):
        if value is not None and str(value).strip():
            return str(value).strip()
    return None
