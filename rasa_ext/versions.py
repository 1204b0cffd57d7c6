"""The start-up version guard: the patches in this package were written against these exact releases.

Every module here replaces or reaches into a private symbol of Rasa, Rasa SDK, Sanic or aiogram. A
different release may have moved or changed that symbol, and a patch that silently stops matching
would either crash on the first message or, worse, keep running with a behaviour nobody measured.
So the launcher (``python -m rasa_ext``) and the action server stop with the list of mismatches
instead. After an upgrade, follow the checklist in requirements/UPGRADING.md and change the pins
here and in requirements/lock.txt together.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata

# distribution name -> the release the patches were written for (requirements/lock.txt)
WRITTEN_FOR: dict[str, str] = {
    "rasa": "3.6.21",
    "rasa-sdk": "3.6.2",
    "sanic": "21.12.2",
    "aiogram": "2.15",
}


class UnsupportedVersions(SystemExit):
    """Raised at start when an installed release differs from what the patches were written for."""


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def mismatches(
    expected: Mapping[str, str] = WRITTEN_FOR, installed: Mapping[str, str | None] | None = None
) -> list[str]:
    """One line per package whose installed release is not the expected one (empty when all match)."""
    found = installed if installed is not None else {name: installed_version(name) for name in expected}
    lines = []
    for name, wanted in expected.items():
        have = found.get(name)
        if have != wanted:
            lines.append(f"  {name}: installed {have or 'nothing'}, the patches need {wanted}")
    return lines


def check_versions(packages: list[str] | None = None) -> None:
    """Stops the process when one of ``packages`` (default: all) is not the release in WRITTEN_FOR."""
    expected = {name: WRITTEN_FOR[name] for name in (packages or WRITTEN_FOR)}
    problems = mismatches(expected)
    if problems:
        raise UnsupportedVersions(
            "已安装的版本与 rasa_ext/ 中补丁所针对的版本不一致，未启动。请运行 make install，"
            "或按 requirements/UPGRADING.md 升级补丁。\n"
            "The installed releases differ from those the patches in rasa_ext/ were written for; not started:\n"
            + "\n".join(problems)
            + "\nRun `make install`, or follow requirements/UPGRADING.md to upgrade the patches."
        )
