"""Talk to an in-process Rasa Agent as one user would, and read that user's slots back."""
from __future__ import annotations

import asyncio
import uuid

# Importing Rasa installs uvloop's policy, which has no implicit current loop: make one.
LOOP = asyncio.new_event_loop()


class Chat:
    def __init__(self, agent):
        self.agent = agent
        self.sender = uuid.uuid4().hex

    def say(self, text: str) -> list[dict]:
        return LOOP.run_until_complete(self.agent.handle_text(text, sender_id=self.sender))

    def text(self, message: str) -> str:
        return "\n".join(reply.get("text", "") for reply in self.say(message))

    def slot(self, name: str):
        tracker = LOOP.run_until_complete(self.agent.tracker_store.retrieve(self.sender))
        return tracker.get_slot(name)
