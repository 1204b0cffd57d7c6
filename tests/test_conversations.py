"""The user stories of the assistant, end to end: the trained model, the real action server and the
real policy table, asserting what the user reads first — the first sentence of each answer."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from chat import LOOP, Chat
from servers import MODEL, free_port, start_action_server, stop

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    import rasa_ext
    from rasa.core.agent import Agent

    rasa_ext.install()  # as the launcher does for a server
    from rasa.utils.endpoints import EndpointConfig

    port = free_port()
    server = start_action_server(port, tmp_path_factory.mktemp("logs") / "actions.log")
    try:
        yield Agent.load(str(MODEL), action_endpoint=EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    finally:
        stop(server)




def first(reply: str) -> str:
    """The first sentence the user reads: the user's own case when the slots allow it."""
    return reply.splitlines()[0]


def effective_from(bound: date, today: date) -> str:
    """The first sentence for a 亲情账户 bound on `bound` on or after the 15th, asked on `today`."""
    year, month = (bound.year + 1, 1) if bound.month == 12 else (bound.year, bound.month + 1)
    if (today.year, today.month) == (bound.year, bound.month):
        return f"按资料的15号规则（指绑定医保电子凭证），您{bound.month}月{bound.day}日绑定，要到{year}年{month}月1日起才能用，现在还不能用。"
    return f"按资料的15号规则（指绑定医保电子凭证），您{bound.month}月{bound.day}日绑定，从{year}年{month}月1日起生效，现在应该已经可以用了。"


def china_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def test_story1_qinqing_effective_time_asks_the_day_then_computes_the_month(agent, texts):
    chat = Chat(agent)
    replies = chat.say("亲情账户绑定后多久生效")
    assert len(replies) == 1  # one message: the rule, its source, and the question last
    reply = replies[0]["text"]
    assert first(reply) == "资料显示，每月15号前绑定医保电子凭证的当月生效，15号及以后绑的次月生效。"
    assert reply.splitlines()[-1] == texts["ask_bind_date"] and not replies[0].get("buttons")
    assert chat.slot("account_type") == "亲情账户"
    second = chat.text("我是10月16号绑的")
    bound = date.fromisoformat(chat.slot("bind_date"))
    assert (bound.month, bound.day) == (10, 16)
    assert first(second) == effective_from(bound, china_today())
    assert "来源：网络问答《医保亲情账号绑定后多久可以使用》（2025年3月）" in second.splitlines()
    assert second.count("12393") == 1


def test_story1b_december_rolls_over_and_impossible_date_is_explained(agent, texts):
    chat = Chat(agent)
    chat.say("亲情账户绑定以后多久能用")
    reply = chat.text("12月20日绑的")
    assert first(reply).startswith("按资料的15号规则（指绑定医保电子凭证），您12月20日绑定") and "年1月1日起" in first(reply)
    assert chat.text("2月30号绑的") == texts["date_impossible"].format(text="2月30号")


def test_story1c_a_day_alone_is_this_or_last_month(agent):
    chat = Chat(agent)
    reply = chat.text("我16号绑的亲情账户咋还用不了")
    today = china_today()
    month = today.month if today.day >= 16 else (today.month - 1 or 12)
    assert first(reply).startswith(f"按资料的15号规则（指绑定医保电子凭证），您{month}月16日绑定"), reply


def test_story2_family_pooling_is_immediate_never_the_15th_rule(agent):
    chat = Chat(agent)
    reply = chat.text("家庭共济多久生效")
    assert first(reply) == "家庭共济一般授权人绑定成功就立即生效，当天就能用。"
    assert "30天" in reply
    assert "15" not in reply.split("来源")[0]


def test_story3_bind_failed_asks_the_type_with_two_buttons(agent, texts):
    chat = Chat(agent)
    replies = chat.say("绑定不了")
    assert [b["title"] for b in replies[-1]["buttons"]] == ["亲情账户", "家庭共济"]
    answer = chat.say(replies[-1]["buttons"][1]["payload"])
    assert len(answer) == 1
    assert first(answer[0]["text"]) == "家庭共济的前提是家人参加了基本医保，没参保就绑不上，请先给家人参保。"
    assert answer[0]["text"].count("12393") == 1
    # A binding that failed: the insurance type may change the reasons, the binding day never does.
    assert answer[0]["text"].splitlines()[-1] == texts["ask_insurance_type"]
    assert chat.slot("account_type") == "家庭共济" and chat.slot("asked_slot") == "insurance_type"


def test_story4_region_pair_then_another_place(agent):
    chat = Chat(agent)
    reply = chat.text("我在江苏参保,我爸在河南,家庭共济能用吗")
    assert chat.slot("insured_region") == "江苏" and chat.slot("treatment_region") == "河南"
    assert first(reply).startswith("按资料，江苏和河南都在跨省共济试点名单里（截至2025年4月的资料），一般可共济")
    follow = chat.text("那上海呢?")
    assert chat.slot("treatment_region") == "上海" and chat.slot("insured_region") == "江苏"
    # 上海 is on the February list only: every dated list counts, and the answer says which dates.
    assert first(follow).startswith("按资料，江苏和上海都在跨省共济试点名单里（截至2025年2月、4月的资料）")
    assert "请问" not in follow


def test_story4b_a_province_only_the_older_list_names(agent):
    chat = Chat(agent)
    reply = chat.text("内蒙古参保的家庭共济能给河北的家人用吗")
    assert first(reply).startswith("按资料，内蒙古和河北都在跨省共济试点名单里（截至2025年2月、4月的资料）"), reply


def test_story5_balance_answer_changes_with_insurance_type(agent, texts):
    chat = Chat(agent)
    reply = chat.text("医保卡有余额为什么不能用")
    assert first(reply).startswith("社保卡没激活或长期不用休眠了")
    assert reply.splitlines()[-1] == texts["ask_insurance_type"]
    second = chat.text("我是居民医保")
    assert chat.slot("insurance_type") == "居民医保"
    assert first(second).startswith("居民医保（包括新农合）没有个人账户")
    assert "家庭共济只能用授权人的历年账户" not in second  # not about a 居民医保 user's own account


def test_story6_out_of_scope_gives_12393_not_a_core_answer(agent, texts):
    chat = Chat(agent)
    assert chat.text("种牙能报销吗") == texts["out_of_scope"]
    assert chat.slot("topic") is None


def test_story7_a_failed_binding_and_one_that_does_not_work_get_their_own_reasons(agent, texts):
    failed = Chat(agent)
    reply = failed.text("我妈的亲情账户绑定失败了")
    assert first(reply) == "家人姓名、身份证号、医保卡号要和医保系统里完全一致，请核对后重新绑定。"
    assert "哪天绑定" not in reply and failed.slot("asked_slot") is None
    bound = Chat(agent)
    reply = bound.text("亲情账户绑了用不了")
    assert first(reply).startswith("可能是家人的医保电子凭证没激活")
    assert reply.splitlines()[-1] == texts["ask_bind_date"]


def test_story8_more_reasons_page_by_page_until_the_next_step(agent, texts):
    chat = Chat(agent)
    answer = chat.say("我妈的亲情账户绑定失败了")
    assert [b["title"] for b in answer[0]["buttons"]] == ["还有其他原因", "有帮助", "没帮助"]
    shown = list(chat.slot("last_rows"))
    more = chat.text(answer[0]["buttons"][0]["payload"])
    assert first(more) == texts["more_heading"]
    assert not set(chat.slot("last_rows")) & set(shown)
    typed = chat.text("还有别的原因吗")  # typed instead of pressed
    assert first(typed) == texts["more_heading"] or first(typed) == texts["no_more"]


def test_story9_limits_and_pilot_lists_are_answered_as_questions_of_their_own(agent):
    assert first(Chat(agent).text("亲情账户最多能绑几个人")) == "一人最多绑5个家庭成员，超过要先联系医保机构解除一个。"
    assert first(Chat(agent).text("家庭共济能给谁用")).startswith("资料说法不一：一般是配偶、父母、子女")
    pilots = Chat(agent).text("哪些省份能跨省共济")
    assert first(pilots).startswith("资料显示，截至2025年4月，河北、江苏、安徽、山东、河南")
    assert "截至2025年2月4日" in pilots


def test_handoff_gives_the_local_number_when_the_region_is_known(agent, texts):
    chat = Chat(agent)
    chat.say("我在驻马店参保，家庭共济绑定不了")
    reply = chat.text("转人工")
    assert first(reply) == texts["handoff_intro"]
    assert reply.count("12393") == 1 and "0396-2763198" in reply


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


def test_a_near_miss_is_declined_and_the_question_pending_is_still_answered(agent, texts):
    chat = Chat(agent)
    assert chat.text("支付宝亲情卡怎么解除") == texts["out_of_scope"] and chat.slot("topic") is None
    chat.text("家庭共济异地能用吗")
    assert chat.slot("asked_slot") == "insured_region"
    reply = chat.text("老家河南那边")
    assert chat.slot("insured_region") == "河南" and "没找到" not in reply
