"""The domain dictionary keeps the field's terms whole when jieba cuts a message."""
from pathlib import Path

import jieba
import pytest

DICTIONARY = Path(__file__).resolve().parent.parent / "data" / "jieba" / "domain.txt"
TERMS = ["亲情账户", "家庭共济", "医保电子凭证", "医保码", "个人账户", "历年账户", "当年账户", "异地就医备案",
         "统筹区", "职工医保", "居民医保"]


@pytest.fixture(scope="module")
def tokenizer():
    custom = jieba.Tokenizer()
    custom.load_userdict(str(DICTIONARY))
    return custom


@pytest.mark.parametrize("term", TERMS)
def test_domain_terms_stay_whole(tokenizer, term):
    sentence = f"我想问一下{term}的问题"
    assert term in tokenizer.lcut(sentence)


