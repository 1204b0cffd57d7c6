"""An incoming WeChat message, parsed once and safely, and the passive text reply to it.

The body is parsed with defusedxml (DTDs, entity declarations and external references refused)
and read into ``Incoming``; nothing parses it again. The reply is rendered by wechatpy's
``TextReply`` (WeCom's carries ``AgentID``).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from wechatpy import replies as mp_replies
from wechatpy.enterprise import replies as wecom_replies

from channels.wechat.crypto import MODE_WECOM
from channels.wechat.errors import Reject

# OpenIDs are 28 characters, WeCom user ids at most 64.
MAX_OPENID_CHARS = 128
REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


def safe_parse(text: str) -> Element:
    """Parses XML refusing DTDs, entity declarations and external references (400 otherwise)."""
    try:
        return defused_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Reject(400, f"XML with DTD/entities refused ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:  # ValueError: e.g. embedded NUL characters
        raise Reject(400, f"malformed XML ({exc})") from None


@dataclass(frozen=True)
class Incoming:
    """The fields of one message or event that the channel uses (all text, stripped)."""

    fields: dict[str, str]

    @classmethod
    def from_xml(cls, root: Element) -> Incoming:
        if root.tag != "xml":
            raise Reject(400, "root element must be <xml>")
        fields = {child.tag: (child.text or "") for child in root}
        for required in REQUIRED:
            if not fields.get(required, "").strip():
                raise Reject(400, f"missing {required}")
        if len(fields["FromUserName"].strip()) > MAX_OPENID_CHARS:
            raise Reject(400, "FromUserName too long")
        return cls(fields)

    def get(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()

    @property
    def sender(self) -> str:
        return self.get("FromUserName")

    @property
    def msg_type(self) -> str:
        return self.get("MsgType").lower()

    @property
    def msg_id(self) -> str | None:
        return self.get("MsgId") or None

    @property
    def content(self) -> str:
        return self.fields.get("Content") or ""  # unstripped: the channel cleans it

    @property
    def agent_id(self) -> str | None:
        return self.fields.get("AgentID")

    def metadata(self) -> dict[str, str | None]:
        """What Rasa gets as the message's metadata."""
        metadata: dict[str, str | None] = {
            "MsgId": self.msg_id,
            "MsgType": self.msg_type,
            "ToUserName": self.fields["ToUserName"],
            "CreateTime": self.fields["CreateTime"],
        }
        if self.agent_id is not None:
            metadata["AgentID"] = self.agent_id
        return metadata


def _cdata_safe(text: str) -> str:
    """Keeps text valid inside wechatpy's CDATA sections (drops control characters XML forbids)."""
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 0x20)
    return cleaned.replace("]]>", "]]]]><![CDATA[>")


def render_text_reply(content: str, incoming: Incoming, mode: str) -> str:
    """The passive reply XML: From and To swapped, WeCom's AgentID kept."""
    source, target = incoming.fields["ToUserName"], incoming.fields["FromUserName"]
    if mode == MODE_WECOM:
        agent = incoming.get("AgentID")
        return wecom_replies.TextReply(
            source=source, target=target, content=_cdata_safe(content), agent=int(agent) if agent.isdigit() else 0
        ).render()
    return mp_replies.TextReply(source=source, target=target, content=_cdata_safe(content)).render()
