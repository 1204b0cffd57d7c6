import pytest

from yibao import regions


@pytest.mark.parametrize("written, code", [
    ("杭州", "330100"), ("杭州市", "330100"), ("河南", "410000"), ("河南省", "410000"), ("江苏", "320000"),
    ("延边", "222400"), ("延边朝鲜族自治州", "222400"), ("广西", "450000"), ("内蒙", "150000"),
    ("内蒙古", "150000"), ("新疆", "650000"), ("上海", "310000"), ("北京", "110000"), ("京", "110000"),
    ("大兴安岭", "232700"), ("黔西南", "522300"), ("恩施", "422800"), ("遂平", "411700"), (" 郑州 ", "410100"),
])
def test_names_as_people_write_them_resolve_to_codes(written, code):
    assert regions.resolve(written).code == code


def test_shared_short_names_mean_the_province():
    assert regions.resolve("吉林").level == "province"
    assert regions.resolve("吉林市").level == "city"
    assert regions.resolve("海南").code == "460000"


@pytest.mark.parametrize("text", ["火星", "纽约", "", "亲情账户", "12393"])
def test_unknown_places_resolve_to_none(text):
    assert regions.resolve(text) is None


def test_every_province_and_prefecture_level_city_is_known():
    all_regions = regions.all_regions()
    assert sum(r.level == "province" for r in all_regions) == 34
    assert sum(r.level == "city" for r in all_regions) >= 330


def test_city_lies_within_its_province():
    assert regions.resolve("杭州").is_within(regions.resolve("浙江"))
    assert not regions.resolve("杭州").is_within(regions.resolve("江苏"))
    assert regions.resolve("杭州").province.short == "浙江"


def test_find_regions_in_free_text():
    found = regions.find_regions("我在杭州参保 我妈在河南能共济吗")
    assert [(m.text, m.region.short) for m in found] == [("杭州", "杭州"), ("河南", "河南")]
    assert found[0].start == 2


def test_find_regions_prefers_longest_name():
    assert [m.text for m in regions.find_regions("江苏省南京市")] == ["江苏省", "南京市"]
