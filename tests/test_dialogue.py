from yibao.dialogue import fallback_choices, feedback_record, handoff, respond
from conftest import TODAY


def ent(entity, text, sub, value=None):
    start = text.index(sub)
    return {"entity": entity, "start": start, "end": start + len(sub), "value": value or sub}


def say(table, texts, intent, text, entities=(), slots=None):
    return respond(intent, text, list(entities), slots or {}, TODAY, table, texts)


def test_effective_time_without_a_day_gives_the_rule_then_asks_the_day(small_table, texts):
    text = "亲情账户绑定后多久生效"
    turn = say(small_table, texts, "effective_time", text, [ent("account_type", text, "亲情账户")])
    # One message: the rule, where it comes from, and last the question that would make it the user's own.
    assert len(turn.messages) == 1
    lines = turn.messages[0].text.splitlines()
    assert lines[0] == "每月15号前绑定当月生效，否则次月生效。"
    assert "来源：网络问答《医保亲情账号绑定后多久可以使用》（2025年3月）" in lines
    assert turn.messages[0].text.count("12393") == 1
    assert lines[-1] == texts["ask_bind_date"]
    assert turn.messages[0].buttons == []  # no 有帮助/没帮助 while a question is pending
    assert turn.slots["topic"] == "effective_time" and turn.slots["account_type"] == "亲情账户"
    assert turn.asked == "bind_date"


def test_the_day_given_next_computes_the_month(small_table, texts):
    slots = {"topic": "effective_time", "account_type": "亲情账户"}
    turn = say(small_table, texts, "inform", "我是10月16号绑的", [ent("bind_date", "我是10月16号绑的", "10月16号")], slots)
    assert turn.messages[0].text.startswith("按资料，您10月16号绑定，2026年11月生效。\n")
    assert turn.slots["bind_date"] == "2026-10-16" and turn.asked is None
    assert turn.slots["last_rows"] == ["t-eff-late"]


def test_december_binding_is_effective_next_january(small_table, texts):
    slots = {"topic": "effective_time", "account_type": "亲情账户"}
    turn = say(small_table, texts, "inform", "12月20日", [ent("bind_date", "12月20日", "12月20日")], slots)
    assert turn.messages[0].text.startswith("按资料，您12月20号绑定，2026年1月生效。\n")


def test_bind_failed_without_type_asks_with_two_buttons(small_table, texts):
    turn = say(small_table, texts, "bind_failed", "绑定不了")
    assert len(turn.messages) == 1 and turn.messages[0].text == texts["ask_account_type"]
    assert [b["title"] for b in turn.messages[0].buttons] == ["亲情账户", "家庭共济"]
    assert turn.messages[0].buttons[1]["payload"] == '/inform{"account_type": "家庭共济"}'
    assert turn.asked == "account_type"


def test_after_the_choice_the_reasons_for_that_type(small_table, texts):
    turn = say(small_table, texts, "inform", "/inform", [{"entity": "account_type", "value": "亲情账户"}],
               {"topic": "bind_failed"})
    assert turn.messages[0].text.startswith("被绑定人的医保电子凭证没有激活。\n· 仍不行请拨打12393。\n")
    assert [b["payload"] for b in turn.messages[0].buttons] == ["/feedback_helpful", "/feedback_unhelpful"]


def test_region_pair_and_then_another_place(small_table, texts):
    text = "我在江苏参保,我爸在河南,家庭共济能用吗"
    turn = say(small_table, texts, "remote_use", text,
               [ent("region", text, "江苏"), ent("region", text, "河南"), ent("account_type", text, "家庭共济")])
    assert turn.messages[0].text.startswith("江苏和河南都已开通跨省共济。\n")
    assert "（2025年4月）" in turn.messages[0].text
    turn2 = say(small_table, texts, "inform", "那浙江呢?", [ent("region", "那浙江呢?", "浙江")],
                {**turn.slots})
    assert turn2.messages[0].text.startswith("江苏和浙江之间暂不能跨省共济。")
    assert turn2.slots["treatment_region"] == "浙江" and turn2.asked is None
    # 上海 is only on the older list: the lists are dated snapshots and every one of them counts.
    turn3 = say(small_table, texts, "inform", "那上海呢?", [ent("region", "那上海呢?", "上海")],
                {**turn.slots, **turn2.slots})
    assert turn3.messages[0].text.startswith("江苏和上海都已开通跨省共济。")


def test_insured_in_shanghai_gets_the_shanghai_rule(small_table, texts):
    turn = say(small_table, texts, "remote_use", "x", [],
               {"account_type": "家庭共济", "insured_region": "上海", "treatment_region": "河南"})
    assert turn.messages[0].text.startswith("上海只支持本地参保家人共济。")


def test_balance_answer_changes_with_insurance_type(small_table, texts):
    first = say(small_table, texts, "balance_unusable", "医保卡有余额为什么不能用")
    assert first.messages[0].text.startswith("药品不在医保目录内。\n") and first.asked == "insurance_type"
    assert first.messages[0].text.endswith(texts["ask_insurance_type"])
    assert [b["title"] for b in first.messages[0].buttons] == ["职工医保", "居民医保", "灵活就业"]
    second = say(small_table, texts, "inform", "我是居民医保",
                 [ent("insurance_type", "我是居民医保", "居民医保")], first.slots)
    assert second.messages[0].text.startswith("居民医保没有个人账户。\n· 药品不在医保目录内。\n")


def test_a_fact_the_sources_disagree_on_is_worded_as_theirs(small_table, texts):
    turn = say(small_table, texts, "account_difference", "有啥区别")
    text = turn.messages[0].text
    assert text.startswith("资料显示，亲情账户是展码")
    assert "亲情账户看码" not in text  # the row the resolution decided against
    assert texts["confirm_thin"] in text


def test_impossible_date_gets_a_clear_answer(small_table, texts):
    turn = say(small_table, texts, "inform", "2月30号绑的", [ent("bind_date", "2月30号绑的", "2月30号")],
               {"topic": "effective_time", "account_type": "亲情账户"})
    assert turn.messages[0].text == texts["date_impossible"].format(text="2月30号")
    assert "bind_date" not in turn.slots


def test_unknown_region_gets_a_clear_answer(small_table, texts):
    turn = say(small_table, texts, "remote_use", "我在纽约参保", [ent("region", "我在纽约参保", "纽约")],
               {"topic": "remote_use", "account_type": "家庭共济"})
    assert turn.messages[0].text == texts["region_unknown"].format(text="纽约")


def test_bare_answer_without_a_topic_offers_topics(small_table, texts):
    turn = say(small_table, texts, "inform", "家庭共济", [ent("account_type", "家庭共济", "家庭共济")])
    assert turn.messages[0].text == texts["which_topic"]
    assert turn.slots == {"account_type": "家庭共济"}
    assert "/effective_time" in [b["payload"] for b in turn.messages[0].buttons]


def test_handoff_adds_local_numbers_when_region_known(small_table, texts):
    plain = handoff({}, small_table, texts).messages[0].text
    assert "12393" in plain and "0396" not in plain
    local = handoff({"insured_region": "驻马店"}, small_table, texts).messages[0].text
    assert "遂平县医保办 0396-2763198。" in local


def test_fallback_offers_the_two_likeliest_topics_and_a_person(texts):
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "greet", "confidence": 0.5},
               {"name": "unbind", "confidence": 0.2}, {"name": "effective_time", "confidence": 0.3},
               {"name": "remote_use", "confidence": 0.1}]
    message = fallback_choices(ranking, texts)
    assert [b["payload"] for b in message.buttons] == ["/effective_time", "/unbind", "/human_handoff"]
    assert message.buttons[2]["title"] == "转人工"


def test_feedback_record_keeps_topic_rows_and_slots():
    record = feedback_record(False, {"topic": "effective_time", "last_rows": ["a"], "account_type": "亲情账户",
                                     "asked_slot": None, "bind_date": None})
    assert record == {"helpful": False, "topic": "effective_time", "rows": ["a"], "slots": {"topic": "effective_time", "account_type": "亲情账户"}}


def test_short_answer_to_the_asked_slot_counts_as_an_answer(small_table, texts):
    slots = {"topic": "bind_failed", "asked_slot": "account_type"}
    turn = say(small_table, texts, "account_difference", "亲情账户", [ent("account_type", "亲情账户", "亲情账户")], slots)
    assert "topic" not in turn.slots  # the topic stays bind_failed
    assert turn.messages[0].text.startswith("被绑定人的医保电子凭证没有激活。\n")


def test_a_real_question_is_not_mistaken_for_an_answer(small_table, texts):
    slots = {"topic": "bind_failed", "asked_slot": "account_type"}
    text = "亲情账户和家庭共济到底有什么不一样呢"
    turn = say(small_table, texts, "account_difference", text,
               [ent("account_type", text, "亲情账户"), ent("account_type", text, "家庭共济")], slots)
    assert turn.slots["topic"] == "account_difference"


def test_a_long_answer_says_the_users_own_case_first_and_keeps_the_rest_for_more(real_table, texts):
    turn = say(real_table, texts, "balance_unusable", "我是居民医保 医保卡有余额为什么不能用",
               [ent("insurance_type", "我是居民医保 医保卡有余额为什么不能用", "居民医保")])
    text = turn.messages[0].text
    assert text.startswith("居民医保（包括新农合）没有个人账户")
    assert turn.more and turn.slots["more_rows"] == turn.more
    assert [b["payload"] for b in turn.messages[0].buttons] == ["/more_reasons", "/feedback_helpful",
                                                                "/feedback_unhelpful"]
    assert turn.messages[0].buttons[0]["title"] == texts["more_label"]
    # 家庭共济 rows about the user's own personal account do not apply to a 居民医保 user.
    assert not {"bal-gj-01", "bal-gj-02", "bal-ty-02"} & set(turn.rows + turn.more)
    more = say(real_table, texts, "more_reasons", "/more_reasons", [], {**turn.slots})
    assert more.messages[0].text.startswith(texts["more_heading"])
    assert set(more.rows) <= set(turn.more) and not set(more.rows) & set(turn.rows)
    typed = say(real_table, texts, "out_of_scope", "还有别的原因吗", [], {**turn.slots})
    assert typed.rows == more.rows
    if not more.more:
        assert more.slots["more_rows"] is None and "next_step" in [real_table.by_id(r).item for r in more.rows]


def test_difference_question_may_name_both_types(small_table, texts):
    text = "亲情账户和家庭共济有啥区别"
    turn = say(small_table, texts, "account_difference", text,
               [ent("account_type", text, "亲情账户"), ent("account_type", text, "家庭共济")])
    assert turn.messages[0].text.startswith("资料显示，亲情账户是展码，家庭共济是把个人账户的钱给家人用。\n")


def test_the_fact_a_message_asks_about_comes_first(real_table, texts):
    # "住进去三天了还赶趟吗": in a conversation about 家庭共济 taking effect, the admission row answers it.
    turn = say(real_table, texts, "inform", "她已经住进去三天了 现在绑还赶趟吗", [],
               {"topic": "effective_time", "account_type": "家庭共济"})
    assert turn.messages[0].text.startswith("家人要住院的，要在办入院手续前绑好家庭共济")
    # "我弟能用吗": the members row, not how to open it.
    turn = say(real_table, texts, "how_to_use", "我弟能用我的共济吗", [ent("account_type", "我弟能用我的共济吗", "共济", "家庭共济")])
    assert turn.messages[0].text.startswith("资料说法不一：一般是配偶、父母、子女")
    # Another topic's fact when the question's own topics have none: what to bring to the counter.
    turn = say(real_table, texts, "how_to_use", "去窗口办要带啥", [], {"topic": "unbind", "account_type": "家庭共济"})
    assert "身份证" in turn.messages[0].text.splitlines()[0]


def test_a_region_specific_row_needs_no_question_about_the_other_place(real_table, texts):
    text = "我在上海交的医保 能给外地的爸妈共济吗"
    turn = say(real_table, texts, "remote_use", text, [ent("region", text, "上海"), ent("account_type", text, "共济", "家庭共济")])
    assert turn.messages[0].text.startswith("上海的家庭共济只限上海本地参保的家人")
    assert turn.asked is None  # 上海's own rule answers whatever the family member's place
    follow = say(real_table, texts, "inform", "那北京呢", [ent("region", "那北京呢", "北京")], {**turn.slots, "account_type": "家庭共济"})
    assert follow.slots["insured_region"] == "北京" and follow.messages[0].text.startswith("北京要求")


def test_unless_conditions_hold_until_the_user_says_otherwise(real_table):
    from yibao.policy import lookup
    unknown = lookup(real_table, "balance_unusable", "家庭共济", {}, None)
    resident = lookup(real_table, "balance_unusable", "家庭共济", {"insurance_type": "居民医保"}, None)
    assert "bal-gj-02" in [row.id for row in unknown.rows]  # insurance_type!=居民医保: applies until told
    assert "bal-gj-02" not in [row.id for row in resident.rows]


def test_a_handoff_guess_without_a_person_asked_for_answers_the_question(real_table, texts):
    from yibao.dialogue import handoff_or_decline
    ranking = [{"name": "human_handoff", "confidence": 0.6}, {"name": "how_to_use", "confidence": 0.3}]
    turn = handoff_or_decline("一个人能绑几个", {"topic": "how_to_use", "account_type": "亲情账户"}, real_table, texts,
                              [], TODAY, ranking)
    assert turn.messages[0].text.startswith("一人最多绑5个家庭成员")
    text = "遂平县医保中心电话多少"
    local = handoff_or_decline(text, {}, real_table, texts, [ent("region", text, "遂平")], TODAY, ranking)
    assert "0396-2763198" in local.messages[0].text and local.slots == {"treatment_region": "驻马店"}
