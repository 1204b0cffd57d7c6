"""`make shell` for real: `rasa shell` with the trained model and a real action server, driven in a
terminal (tmux) the way a person uses it: type a question, read the Chinese answer, pick a button
from Rasa's numbered arrow-key list."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from servers import MODEL, PROJECT, RASA_COMMAND, free_port, start_action_server, stop, write_endpoints

TMUX = shutil.which("tmux")
IN_CI = bool(os.environ.get("CI"))

pytestmark = [
    pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`"),
    # In CI a missing tmux is a broken install (scripts/install.d/test/browser-and-terminal.sh), not a reason to skip.
    pytest.mark.skipif(TMUX is None and not IN_CI, reason="needs tmux: run `make install`"),
]

PROMPT = "Your input ->"
SELECT_HINT = "(Use arrow keys)"
FREE_TEXT_CHOICE = "Type out your own message..."


class Terminal:
    """A `rasa shell` running in its own tmux server (its own socket: never touches other sessions)."""

    def __init__(self, command: str, env: dict[str, str], width: int = 160, height: int = 50):
        self.socket = f"yibao-test-{uuid.uuid4().hex[:8]}"
        self.session = "shell"
        args = ["new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height)]
        for name, value in env.items():
            args += ["-e", f"{name}={value}"]
        self._tmux(*args, command)
        self._tmux("set-option", "-t", self.session, "history-limit", "20000")
        self.pane_pid = int(self._tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip())

    def _tmux(self, *args: str) -> str:
        result = subprocess.run([TMUX, "-u", "-L", self.socket, *args], capture_output=True, text=True,
                                timeout=30, env={**os.environ, "LANG": "C.UTF-8"})
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        """Everything the terminal showed so far (scrollback included), wrapped lines joined."""
        try:
            text = self._tmux("capture-pane", "-p", "-J", "-S", "-20000", "-t", self.session)
        except RuntimeError:
            return ""
        return "\n".join(line.rstrip() for line in text.splitlines())

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        self._tmux("send-keys", "-t", self.session, "Enter")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            if "RASA-SHELL-EXITED" in screen:
                break
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; the terminal shows:\n{self.screen()[-3000:]}")

    def close(self) -> None:
        try:
            self._tmux("kill-server")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        try:  # the pane's shell leads the process group of `rasa shell`: make sure nothing is left
            os.killpg(self.pane_pid, 15)
        except (ProcessLookupError, PermissionError):
            pass


def last_lines(screen: str, count: int = 8) -> list[str]:
    return [line for line in screen.splitlines() if line.strip()][-count:]


def at_text_prompt(screen: str) -> bool:
    return bool(last_lines(screen)) and last_lines(screen, 1)[0].strip() == PROMPT


def at_select_prompt(screen: str) -> bool:
    tail = last_lines(screen, 12)
    return any(SELECT_HINT in line for line in tail) and tail[-1].strip().endswith(FREE_TEXT_CHOICE)


def after(screen: str, marker: str) -> str:
    """What the terminal printed after the last line that contains ``marker``."""
    index = screen.rfind(marker)
    assert index >= 0, f"{marker!r} not on screen:\n{screen[-2000:]}"
    return screen[index + len(marker):]


def choices(screen: str) -> list[str]:
    """The numbered button list of the select prompt at the bottom of the screen."""
    block = screen[screen.rfind(SELECT_HINT):]
    return [re.sub(r"^[\s»]*", "", line) for line in block.splitlines()[1:] if line.strip()]


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shell")
    action_port, rasa_port = free_port(), free_port()
    actions = start_action_server(action_port, tmp / "actions.log")
    endpoints = write_endpoints(tmp, action_port)
    env = {"PYTHONPATH": str(PROJECT), "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           "LANG": "C.UTF-8", "TERM": "screen", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    # The same command `make shell` runs (scripts/run.sh shell), on free ports and a temporary tracker
    # store; the server's log goes to a file so the terminal shows what a person sees.
    launcher = " ".join(RASA_COMMAND)
    command = (f"cd {PROJECT} && {launcher} shell --model {MODEL} --endpoints {endpoints} "
               f"--port {rasa_port} 2>{tmp / 'rasa.log'}; echo RASA-SHELL-EXITED $?; sleep 60")
    terminal = Terminal(command, env)
    try:
        terminal.wait_for(at_text_prompt, 300, "the shell's first prompt")
        yield terminal
    finally:
        terminal.close()
        stop(actions)


def ask(terminal: Terminal, text: str, expected: str, timeout: float = 60) -> str:
    """Types ``text`` at a free-text prompt; returns what the bot printed once ``expected`` shows and
    the shell waits for input again."""
    terminal.type(text)
    marker = f"{PROMPT}  {text}"

    def answered(screen: str) -> bool:
        return marker in screen and expected in after(screen, marker) and (
            at_text_prompt(screen) or at_select_prompt(screen))

    return after(terminal.wait_for(answered, timeout, f"an answer with {expected!r} to {text!r}"), marker)


def to_text_prompt(terminal: Terminal) -> None:
    """Leaves a button list through its last entry, "Type out your own message...", if one is open."""
    screen = terminal.screen()
    if at_select_prompt(screen):
        terminal.keys(*["Down"] * (len(choices(screen)) - 1), "Enter")
        terminal.wait_for(at_text_prompt, 20, "the free-text prompt")


def test_typed_question_gets_the_chinese_answer(shell):
    answer = ask(shell, "亲情账户多久生效", "15号")
    assert "次月生效" in answer and "来源" in answer
    assert "哪天绑定" in answer  # it asks the bind day next, as a question at the prompt
    assert at_text_prompt(shell.screen())


def test_buttons_are_a_numbered_list_and_choosing_one_answers(shell):
    to_text_prompt(shell)
    shell.type("/restart")  # a new conversation, so the account type is unknown again
    shell.wait_for(lambda s: at_text_prompt(s) and s.rstrip().endswith(PROMPT)
                   and f"{PROMPT}  /restart" in s, 30, "the restart")
    question = ask(shell, "绑定不了", SELECT_HINT)
    listed = choices(shell.screen())
    assert "还是" in question  # 您问的是“亲情账户”…还是“家庭共济”…？
    assert listed[0].startswith("1: 亲情账户 (/inform")
    assert listed[1].startswith("2: 家庭共济 (/inform")
    assert listed[-1] == FREE_TEXT_CHOICE

    shell.keys("Down", "Enter")  # choose 2: 家庭共济
    screen = shell.wait_for(lambda s: "12393" in after(s, "2: 家庭共济") and (
        at_text_prompt(s) or at_select_prompt(s)), 60, "the answer to the 家庭共济 button")
    answer = after(screen, "2: 家庭共济")
    assert "家庭共济" in answer and "来源" in answer
    assert "15号" not in answer.split("来源")[0]  # the 亲情账户 15th rule never answers 家庭共济

    to_text_prompt(shell)
    shell.type("/stop")
    shell.wait_for(lambda s: "RASA-SHELL-EXITED" in s, 30, "the shell to exit on /stop")
