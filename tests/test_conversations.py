"""The six user stories of the core assistant, end to end: the trained model, the real action server
and the real policy table, asserting what the user reads."""
from __future__ import annotations

import pytest

from chat import LOOP, Chat
from servers import MODEL, free_port, start_action_server, stop

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    port = free_port()
    server = start_action_server(port, tmp_path_factory.mktemp("logs") / "actions.log")
    try:
        yield Agent.load(str(MODEL), action_endpoint=EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    finally:
        stop(server)




def test_story1_qinqing_effective_time_asks_the_day_then_computes_the_month(agent):
    chat = Chat(agent)
    first = chat.text("亲情账户绑定后多久生效")
    assert "15号前" in first and "下个月" in first
    assert "哪天绑定" in first
    assert chat.slot("account_type") == "亲情账户"
    second = chat.text("我是10月16号绑的")
    assert "11月生效" in second
    assert chat.slot("bind_date").endswith("-10-16")
    assert "来源" in second and "12393" in second


def test_story1b_december_rolls_over_and_impossible_date_is_explained(agent):
    chat = Chat(agent)
    chat.say("亲情账户绑定以后多久能用")
    assert "1月1日起" in chat.text("12月20日绑的")
    assert "不存在" in chat.text("2月30号绑的")


def test_story2_family_pooling_is_immediate_never_the_15th_rule(agent):
    chat = Chat(agent)
    reply = chat.text("家庭共济多久生效")
    assert "立即生效" in reply and "30天" in reply
    assert "15" not in reply.split("来源")[0]


def test_story3_bind_failed_asks_the_type_with_two_buttons(agent):
    chat = Chat(agent)
    replies = chat.say("绑定不了")
    assert [b["title"] for b in replies[-1]["buttons"]] == ["亲情账户", "家庭共济"]
    answer = chat.text(replies[-1]["buttons"][1]["payload"])
    assert "1." in answer and "12393" in answer
    assert chat.slot("account_type") == "家庭共济"


def test_story4_region_pair_then_another_place(agent):
    chat = Chat(agent)
    reply = chat.text("我在江苏参保,我爸在河南,家庭共济能用吗")
    assert chat.slot("insured_region") == "江苏" and chat.slot("treatment_region") == "河南"
    assert "江苏" in reply and "河南" in reply and "来源" in reply
    follow = chat.text("那上海呢?")
    assert chat.slot("treatment_region") == "上海" and chat.slot("insured_region") == "江苏"
    assert "上海" in follow and "请问" not in follow


def test_story5_balance_answer_changes_with_insurance_type(agent):
    chat = Chat(agent)
    first = chat.text("医保卡有余额为什么不能用")
    assert "激活" in first
    second = chat.text("我是居民医保")
    assert chat.slot("insurance_type") == "居民医保"
    assert "没有个人账户" in second


def test_story6_out_of_scope_gives_12393_not_a_core_answer(agent):
    chat = Chat(agent)
    reply = chat.text("种牙能报销吗")
    assert "12393" in reply and "来源" not in reply
    assert chat.slot("topic") is None


def test_handoff_gives_the_local_number_when_the_region_is_known(agent):
    chat = Chat(agent)
    chat.say("我在驻马店参保，家庭共济绑定不了")
    reply = chat.text("转人工")
    assert "12393" in reply and "0396" in reply


@pytest.mark.parametrize("text", ["卡号 [银行卡号] 不能用", "医保卡[银行卡号]有余额为啥不能用",
                                  "手机138****5678 绑了亲情账户多久生效", "我的身份证[身份证号] 亲情账户绑定不了"])
def test_masked_personal_numbers_are_not_read_as_a_bind_date(agent, text):
    """The channels replace personal numbers with placeholders before NLU: no date comes out of them."""
    parsed = LOOP.run_until_complete(agent.parse_message(text))
    assert [entity["value"] for entity in parsed["entities"] if entity["entity"] == "bind_date"] == []


@pytest.mark.parametrize("typed, written", [("親情賬戶怎麼解綁", "亲情账户怎么解绑"), ("亲清帐户怎么解绑", "亲情账户怎么解绑"),
                                            ("家庭共计怎么解除", "家庭共济怎么解除")])
def test_traditional_and_homophone_spellings_get_the_same_answer(agent, typed, written):
    """The pipeline's TextNormalizer reads 親情賬戶 / 亲清帐户 as 亲情账户; the stored message keeps what was typed."""
    chat = Chat(agent)
    assert chat.text(typed) == Chat(agent).text(written)
    tracker = LOOP.run_until_complete(agent.tracker_store.retrieve(chat.sender))
    assert [event.text for event in tracker.events if getattr(event, "type_name", "") == "user"] == [typed]


def test_a_near_miss_is_declined_and_the_question_pending_is_still_answered(agent):
    chat = Chat(agent)
    assert "12393" in chat.text("支付宝亲情卡怎么解除") and chat.slot("topic") is None
    chat.text("家庭共济异地能用吗")
    assert chat.slot("asked_slot") == "insured_region"
    reply = chat.text("老家河南那边")
    assert chat.slot("insured_region") == "河南" and "没找到" not in reply
