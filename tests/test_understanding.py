"""The dialogue state and understanding, one test group per class of real-user failure (issue #9):
near misses, the feature described, false ambiguity, context, the pending question, whose insurance,
dates against today, and long situation messages. Pure Python: no model, the real policy table."""
from __future__ import annotations

from datetime import date

import pytest

from yibao import state, understanding
from yibao.dialogue import respond
from yibao.normalize import normalize

TODAY = date(2026, 11, 23)


def ent(entity, text, sub, value=None, role=None):
    start = text.index(sub)
    found = {"entity": entity, "start": start, "end": start + len(sub), "value": value or sub}
    if role:
        found["role"] = role
    return found


class Conversation:
    """Messages in order, the slots carried from each reply to the next, as the action does."""

    def __init__(self, table, texts, today=TODAY):
        self.table, self.texts, self.today = table, texts, today
        self.slots: dict = {}

    def say(self, intent, text, entities=(), ranking=()):
        turn = respond(intent, text, list(entities), dict(self.slots), self.today, self.table, self.texts, ranking)
        self.slots.update({**turn.slots, "asked_slot": turn.asked})
        return "\n".join(message.text for message in turn.messages)


@pytest.fixture
def chat(real_table, texts):
    return Conversation(real_table, texts)


# 1. Near misses --------------------------------------------------------------------------------
@pytest.mark.parametrize("intent, text", [
    ("effective_time", "居民医保交完多久生效"),
    ("effective_time", "异地备案办好了多久生效"),
    ("remote_use", "异地就医备案在哪弄"),
    ("unbind", "支付宝亲情卡怎么解除"),
    ("unbind", "淘宝亲情号怎么删除"),
    ("balance_unusable", "招行亲情卡余额不能用"),
    ("balance_unusable", "公积金余额为啥提不出来"),
    ("unbind", "支付宝如何解绑家人的亲情号 支付宝解绑亲情账户的方法"),
])
def test_near_misses_are_declined_not_answered(chat, texts, intent, text):
    reply = chat.say(intent, text)
    assert reply == texts["out_of_scope"]
    assert "12393" in reply and not chat.slots.get("topic")


@pytest.mark.parametrize("text", ["亲情账户绑定后多久生效", "支付宝里绑亲情账户失败了", "医保亲情卡怎么绑",
                                  "家庭共济能给我妈交居民医保吗"])
def test_our_questions_with_shared_words_stay_ours(text):
    assert not understanding.read(normalize(text)).outside_scope


# 2. The feature described, not named -----------------------------------------------------------
@pytest.mark.parametrize("intent, text, kind, topic", [
    ("balance_unusable", "想让我爸用我卡里的医保钱买药", "家庭共济", "how_to_use"),
    ("balance_unusable", "个账能给老婆用吗", "家庭共济", "how_to_use"),
    ("how_to_use", "我想用我的医保给我爸买药 咋弄", "家庭共济", "how_to_use"),
    ("how_to_use", "我想在自己手机上替我妈出示医保码", "亲情账户", "how_to_use"),
])
def test_the_described_feature_is_answered_without_asking_which(chat, texts, intent, text, kind, topic):
    reply = chat.say(intent, text)
    assert chat.slots["account_type"] == kind and chat.slots["topic"] == topic
    assert texts["ask_account_type"] not in reply


def test_a_doubtful_description_takes_the_classifiers_likeliest_topic(chat):
    ranking = [{"name": "nlu_fallback", "confidence": 0.5}, {"name": "how_to_use", "confidence": 0.3},
               {"name": "remote_use", "confidence": 0.1}]
    chat.say("nlu_fallback", "帮老人扫码看病", ranking=ranking)
    assert chat.slots["topic"] == "how_to_use" and chat.slots["account_type"] == "亲情账户"


def test_a_fallback_without_any_cue_offers_the_two_likeliest_topics(chat, texts):
    ranking = [{"name": "nlu_fallback", "confidence": 0.5}, {"name": "unbind", "confidence": 0.3},
               {"name": "remote_use", "confidence": 0.1}]
    reply = chat.say("nlu_fallback", "这个咋弄啊", ranking=ranking)
    assert reply == texts["fallback"]


# 3. False ambiguity ----------------------------------------------------------------------------
def test_an_entity_span_that_ran_on_is_still_one_feature(chat, texts):
    text = "亲情账户18号弄好的 啥时候能刷"
    reply = chat.say("effective_time", text, [ent("account_type", text, "亲情账户18号"), ent("bind_date", text, "18号")])
    assert texts["conflict_account_type"] not in reply
    assert chat.slots["account_type"] == "亲情账户" and chat.slots["bind_date"] == "2026-11-18"


def test_two_features_named_still_ask_which(chat, texts):
    text = "亲情账户和家庭共济绑定不了"
    reply = chat.say("bind_failed", text, [ent("account_type", text, "亲情账户"), ent("account_type", text, "家庭共济")])
    assert texts["conflict_account_type"] in reply


# 4. Context carried across turns ---------------------------------------------------------------
def test_a_feature_settled_by_description_is_kept_for_the_next_question(chat, texts):
    chat.say("account_difference", "亲情账户和家庭共济有什么不一样")
    middle = chat.say("balance_unusable", "我就想让我妈用我的个账")
    assert chat.slots["account_type"] == "家庭共济" and chat.slots["topic"] == "how_to_use"
    assert "家人" in middle
    last = chat.say("effective_time", "那多久生效")
    assert texts["ask_account_type"] not in last and "立即生效" in last


def test_that_place_then_re_answers_the_last_question_with_the_change(chat):
    text = "我在江苏参保 我爸在河南 家庭共济能用吗"
    chat.say("remote_use", text, [ent("region", text, "江苏"), ent("region", text, "河南"),
                                  ent("account_type", text, "家庭共济")])
    assert chat.slots["treatment_region"] == "河南"
    reply = chat.say("remote_use", "那上海呢", [ent("region", "那上海呢", "上海")])
    assert chat.slots["topic"] == "remote_use" and chat.slots["treatment_region"] == "上海"
    assert chat.slots["insured_region"] == "江苏" and chat.slots["account_type"] == "家庭共济"
    assert "上海" in reply


def test_that_other_feature_then_re_answers_with_it(chat):
    chat.say("effective_time", "亲情账户多久生效", [ent("account_type", "亲情账户多久生效", "亲情账户")])
    reply = chat.say("inform", "那家庭共济呢", [ent("account_type", "那家庭共济呢", "家庭共济")])
    assert chat.slots["account_type"] == "家庭共济" and "立即生效" in reply


# 5. The pending question -----------------------------------------------------------------------
def _asked_where_insured(chat, texts):
    reply = chat.say("remote_use", "家庭共济异地能用吗", [ent("account_type", "家庭共济异地能用吗", "家庭共济")])
    assert chat.slots["asked_slot"] == "insured_region", reply
    return reply


@pytest.mark.parametrize("intent, text, entities", [
    ("nlu_fallback", "老家河南那边", [{"entity": "region", "start": 0, "end": 2, "value": "老家"},
                                  {"entity": "region", "start": 2, "end": 4, "value": "河南"}]),
    ("out_of_scope", "我是在郑州交的", []),
    ("inform", "在深圳上班交的社保", []),
])
def test_any_words_that_name_a_place_answer_where_insured(chat, texts, intent, text, entities):
    _asked_where_insured(chat, texts)
    reply = chat.say(intent, text, entities)
    assert chat.slots["insured_region"] in ("河南", "郑州", "深圳")
    assert "没找到" not in reply and texts["ask_insured_region"] not in reply


@pytest.mark.parametrize("text, expected", [("月底", "2026-10-31"), ("上周三", "2026-11-18"), ("月初", "2026-11-01")])
def test_month_parts_and_weekdays_answer_the_binding_day(chat, texts, text, expected):
    first = chat.say("effective_time", "亲情账户多久生效", [ent("account_type", "亲情账户多久生效", "亲情账户")])
    assert chat.slots["asked_slot"] == "bind_date", first
    reply = chat.say("nlu_fallback", text)
    assert chat.slots["bind_date"] == expected and texts["ask_bind_date"] not in reply


def test_ordinary_words_are_never_unknown_places(chat):
    text = "重新绑定那边还是不行"
    reply = chat.say("bind_failed", text, [ent("region", text, "重新"), ent("region", text, "那边")])
    assert "没找到" not in reply


def test_a_binding_that_failed_is_never_asked_its_day(chat, texts):
    reply = chat.say("bind_failed", "亲情账户绑定不了", [ent("account_type", "亲情账户绑定不了", "亲情账户")])
    assert texts["ask_bind_date"] not in reply and chat.slots["bind_stage"] == "绑定失败"


def test_a_binding_that_does_not_work_yet_is_asked_its_day(chat, texts):
    reply = chat.say("bind_failed", "亲情账户绑了用不了", [ent("account_type", "亲情账户绑了用不了", "亲情账户")])
    assert texts["ask_bind_date"] in reply


# 6. Whose insurance ----------------------------------------------------------------------------
def test_a_family_members_resident_insurance_can_receive(chat, texts):
    text = "我妈是居民医保 我能给她开共济吗"
    reply = chat.say("how_to_use", text, [ent("insurance_type", text, "居民医保")])
    assert chat.slots.get("family_insurance_type") == "居民医保" and not chat.slots.get("insurance_type")
    assert "家人参加的是居民医保也可以用" in reply.splitlines()[0]


def test_the_users_own_resident_insurance_cannot_authorise(chat, texts):
    text = "我是居民医保 能开共济吗"
    reply = chat.say("remote_use", text, [ent("insurance_type", text, "居民医保")])
    assert chat.slots["insurance_type"] == "居民医保"
    assert "不能当家庭共济的授权人" in reply or "不能把钱共济给家人" in reply
    assert texts["ask_insured_region"] not in reply


# 7. Dates compared with today ------------------------------------------------------------------
def test_a_binding_from_last_month_after_the_15th_works_now(chat):
    text = "上月22号弄的亲情账户 这会儿该能用了吧"
    reply = chat.say("effective_time", text, [ent("bind_date", text, "上月22号"), ent("account_type", text, "亲情账户")])
    assert "已经可以用了" in reply and "要等到下个月" not in reply


def test_a_binding_this_month_after_the_15th_waits_for_the_1st(chat):
    text = "亲情账户16号绑的"
    reply = chat.say("effective_time", text, [ent("bind_date", text, "16号"), ent("account_type", text, "亲情账户")])
    assert "12月1日起才能用" in reply and "现在还不能用" in reply


def test_a_feature_and_a_day_without_a_question_ask_when_it_works(chat):
    text = "上个月20号绑的亲情账户"
    chat.say("inform", text, [ent("bind_date", text, "上个月20号"), ent("account_type", text, "亲情账户")])
    assert chat.slots["topic"] == "effective_time"


# 8. Long messages that describe a situation ----------------------------------------------------
def test_a_long_description_is_answered_as_the_feature_it_describes(chat, texts):
    text = "我爸今年七十多了不会用智能手机，我想把他的医保码弄到我手机上，以后带他去医院我直接扫，请问具体要怎么操作？"
    reply = chat.say("how_to_use", text)
    assert chat.slots["account_type"] == "亲情账户" and texts["ask_account_type"] not in reply


# The normaliser ---------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, read", [("國家醫保綁定親情賬戶失敗", "国家医保绑定亲情账户失败"), ("亲清账户", "亲情账户"),
                                         ("家庭共计", "家庭共济"), ("医保帐户", "医保账户"), ("共计100元", "共计100元"),
                                         ("公积金", "公积金"), ("１６号", "16号")])
def test_normalised_spelling(typed, read):
    assert normalize(typed) == read and len(normalize(typed)) == len(typed)


def test_decide_keeps_a_new_question_that_also_answers_the_pending_one():
    slots = {"topic": "remote_use", "asked_slot": "insured_region", "account_type": "家庭共济"}
    text = "我在杭州参保，想问问家庭共济怎么解除绑定呢，麻烦告诉我具体步骤"
    decision = state.decide("unbind", text, [ent("region", text, "杭州")], slots, TODAY)
    assert decision.intent == "unbind" and decision.updates["insured_region"] == "杭州"


# Limits, money and the feature implied by the conversation ----------------------------------------
def test_a_limit_asked_on_its_own_is_answered_from_the_limits_rows(chat):
    chat.say("how_to_use", "亲情账户怎么绑", [ent("account_type", "亲情账户怎么绑", "亲情账户")])
    reply = chat.say("account_difference", "一个人能绑几个")
    assert chat.slots["last_rows"] and all(row.startswith("lim-qq") for row in chat.slots["last_rows"])
    assert "5个" in reply


def test_a_qinqing_account_without_money_says_it_has_none_of_its_own_first(chat):
    text = "我给我爸绑了亲情账户 里面怎么没钱啊"
    reply = chat.say("bind_failed", text, [ent("account_type", text, "亲情账户")])
    assert chat.slots["last_rows"][0] == "what-qq-02" and "家庭共济" in reply.splitlines()[0]


def test_paying_for_family_with_a_qinqing_account_is_answered_as_family_pooling(chat):
    text = "能用亲情账户给我妈交医保费吗"
    chat.say("how_to_use", text, [ent("account_type", text, "亲情账户")])
    assert chat.slots["account_type"] == "家庭共济" and chat.slots["last_rows"][0] == "what-qq-02"


def test_my_money_in_a_conversation_about_a_family_member_means_family_pooling(chat):
    text = "我想给我爸弄个亲情账户"
    chat.say("how_to_use", text, [ent("relation", text, "我爸", "父母"), ent("account_type", text, "亲情账户")])
    chat.say("how_to_use", "开了能用我卡里的钱吗")
    assert chat.slots["account_type"] == "家庭共济"


def test_a_button_payload_is_taken_as_chosen(chat, texts):
    reply = chat.say("bind_failed", "/bind_failed")
    assert chat.slots["topic"] == "bind_failed" and reply == texts["ask_account_type"]


@pytest.mark.parametrize("intent, text", [("bind_failed", "家庭共济是啥意思"),
                                          ("effective_time", "绑了亲情账户是不是就等于开了家庭共济")])
def test_what_a_feature_is_or_how_the_two_differ_is_a_comparison(chat, intent, text):
    chat.say(intent, text)
    assert chat.slots["topic"] == "account_difference"


def test_the_national_hotline_is_named_once_per_reply(real_table, texts):
    from yibao.dialogue import handoff

    chat = Conversation(real_table, texts)
    reply = chat.say("bind_failed", "亲情账户绑了用不了", [ent("account_type", "亲情账户绑了用不了", "亲情账户")])
    assert reply.count("12393") == 1
    assert handoff({}, real_table, texts).messages[0].text.count("12393") == 1


def test_a_longer_new_question_in_a_conversation_is_not_taken_as_a_detail(chat):
    chat.say("balance_unusable", "医保卡有余额为什么不能用")
    text = "亲情账户怎么开通，我妈手机[手机号]，麻烦告诉我"
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "how_to_use", "confidence": 0.4}]
    chat.say("nlu_fallback", text, [ent("account_type", text, "亲情账户"), ent("relation", text, "我妈", "父母")],
             ranking)
    assert chat.slots["topic"] == "how_to_use"
