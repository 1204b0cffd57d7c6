import pytest

from yibao.entities import INSURED, TREATMENT, extract, mentions_from, region_role
from conftest import TODAY


def ent(entity, text, sub, value=None, role=None, extractor="x"):
    start = text.index(sub)
    found = {"entity": entity, "start": start, "end": start + len(sub), "value": value or sub, "extractor": extractor}
    if role:
        found["role"] = role
    return found


@pytest.mark.parametrize("text, place, role", [
    ("我在杭州参保 我妈在河南能共济吗", "杭州", INSURED),
    ("我在杭州参保 我妈在河南能共济吗", "河南", TREATMENT),
    ("我是江苏医保，我爸在河南", "江苏", INSURED),
    ("老人在北京看病能用吗", "北京", TREATMENT),
    ("亲情账户在上海能用吗", "上海", TREATMENT),
    ("上海医保家庭共济能给外地家人用吗", "上海", INSURED),
    ("那上海呢", "上海", None),  # no words tell: the conversation decides (below)
])
def test_region_roles_from_the_surrounding_words(text, place, role):
    start = text.index(place)
    assert region_role(text, start, start + len(place)) == role


def test_two_regions_with_roles_fill_both_slots():
    text = "我在江苏参保,我爸在河南,家庭共济能用吗"
    found = extract(text, [ent("region", text, "江苏"), ent("region", text, "河南"),
                           ent("account_type", text, "家庭共济")], TODAY, {})
    assert found.slots == {"insured_region": "江苏", "treatment_region": "河南", "account_type": "家庭共济"}


def test_bare_region_after_a_remote_question_changes_the_family_members_place():
    found = extract("那上海呢?", [ent("region", "那上海呢?", "上海", role=INSURED)], TODAY,
                    {"insured_region": "江苏", "treatment_region": "河南"})
    assert found.slots == {"treatment_region": "上海"}


def test_bare_region_after_a_question_about_where_insured_changes_that_place():
    found = extract("那北京呢", [ent("region", "那北京呢", "北京", role=TREATMENT)], TODAY, {"insured_region": "上海"})
    assert found.slots == {"insured_region": "北京"}


def test_overlapping_extractors_are_merged_keeping_the_role():
    text = "我妈在河南"
    merged = mentions_from([ent("region", text, "河南", extractor="SpacyEntityExtractor"),
                            ent("region", text, "河南", role=TREATMENT, extractor="DIETClassifier")], text)
    assert len(merged) == 1 and merged[0].role == TREATMENT


def test_unknown_region_is_reported_not_guessed():
    found = extract("我在纽约参保", [ent("region", "我在纽约参保", "纽约")], TODAY, {})
    assert found.unknown_regions == ["纽约"] and "insured_region" not in found.slots


def test_binding_date_from_entity_or_text():
    assert extract("我是10月16号绑的", [ent("bind_date", "我是10月16号绑的", "10月16号")], TODAY, {}).slots == {"bind_date": "2026-10-16"}
    assert extract("我是十月十六号绑的", [], TODAY, {}).slots == {"bind_date": "2026-10-16"}


def test_impossible_date_is_a_problem_not_a_slot():
    found = extract("2月30号绑的", [ent("bind_date", "2月30号绑的", "2月30号")], TODAY, {})
    assert found.date_problem.kind == "impossible" and "bind_date" not in found.slots


def test_two_account_types_in_one_message_conflict():
    text = "亲情账户还是家庭共济"
    found = extract(text, [ent("account_type", text, "亲情账户"), ent("account_type", text, "家庭共济")], TODAY, {})
    assert found.conflicting == ["account_type"] and "account_type" not in found.slots


def test_button_payload_entities_without_offsets():
    found = extract("/inform", [{"entity": "account_type", "value": "家庭共济"}], TODAY, {})
    assert found.slots == {"account_type": "家庭共济"}
