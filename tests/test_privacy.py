import re

import pytest
from hypothesis import given, strategies as st

from yibao.privacy import CARD_MASK, ID_MASK, mask_personal_numbers, mask_value


@pytest.mark.parametrize("text, masked", [
    ("我的身份证号110101199003071234怎么查", "我的身份证号[身份证号]怎么查"),
    ("身份证11010119900307123X", "身份证[身份证号]"),
    ("身份证11010119900307123x，帮我查", "身份证[身份证号]，帮我查"),
    ("老身份证110101900307123", "老身份证[身份证号]"),
    ("手机13812345678", "手机138****5678"),
    ("电话：+86 138-1234-5678，谢谢", "电话：138****5678，谢谢"),
    ("0086 19912345678", "199****5678"),
    ("微信号wx13812345678", "微信号wx138****5678"),
    ("卡号6222021234567890123", "卡号[银行卡号]"),
    ("卡号 6222 0212 3456 7890 不能用", "卡号 [银行卡号] 不能用"),
    ("6222-0212-3456-7890-123", "[银行卡号]"),
    ("１３８１２３４５６７８", "138****5678"),
    ("１１０１０１１９９００３０７１２３４", ID_MASK),
    # An 18-digit number that is not a plausible ID is still masked, as a card number.
    ("123456789012345678", CARD_MASK),
    ("我妈13812345678，我爸13987654321", "我妈138****5678，我爸139****4321"),
])
def test_personal_numbers_are_masked(text, masked):
    assert mask_personal_numbers(text) == masked


@pytest.mark.parametrize("text", [
    "国家医保服务热线 12393",
    "遂平县医保办 0396-2763198",
    "我是2025年3月2日绑的",
    "10月16号",
    "余额1234.56元",
    "12812345678",  # 12x is not a mobile prefix
    "138123456789",  # 12 digits: not a phone number
    "订单号123456789012345678901",  # 21 digits: none of the kinds
    "",
    "亲情账户怎么绑定",
])
def test_other_numbers_and_text_are_kept(text):
    assert mask_personal_numbers(text) == text


def test_non_strings_pass_through_and_nested_values_are_masked():
    assert mask_personal_numbers(None) is None
    value = {"slots": {"phone": "13812345678"}, "rows": ["r1"], "n": 3, "t": ("110101199003071234",)}
    assert mask_value(value) == {"slots": {"phone": "138****5678"}, "rows": ["r1"], "n": 3, "t": (ID_MASK,)}


LEFTOVER = re.compile(r"(?<!\d)(1[3-9]\d{9}|\d{15,19}|\d{17}[Xx])(?!\d)")


@given(st.lists(st.one_of(
    st.text(alphabet="0123456789 -+Xx汉字号码", max_size=25),
    st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    st.from_regex(r"\d{15,19}", fullmatch=True),
    st.from_regex(r"\d{17}[\dX]", fullmatch=True),
), max_size=5).map("，".join))
def test_masking_is_idempotent_and_leaves_no_number_in_clear(text):
    masked = mask_personal_numbers(text)
    assert mask_personal_numbers(masked) == masked
    assert not LEFTOVER.search(masked)
