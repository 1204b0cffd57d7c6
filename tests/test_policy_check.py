"""`python -m yibao.policy_check` (what `make policy-check` runs): exit code and the lines it prints."""
from __future__ import annotations

import subprocess
import sys

from conftest import FIXTURES
from servers import PROJECT, env

HEADER = ("id,topic,item,rank,account_type,region,condition,answer,source,source_date,as_of,confidence,scope,"
          "resolution,valid_until,status,note\n")
CERTAINTY = ",,仅一篇,全国,,"  # as_of, confidence, scope, resolution, valid_until
GOOD = f"x1,contact,hotline,1,通用,全国,,国家医保服务热线 12393。,000_4ef41ffcd167f519.txt,2025-04-19{CERTAINTY},active,\n"


def policy_check(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yibao.policy_check", *map(str, args)], cwd=PROJECT, env=env(),
                          capture_output=True, text=True, timeout=120)


def test_broken_table_exits_1_naming_file_line_and_column_in_both_languages(tmp_path):
    table = tmp_path / "broken.csv"
    table.write_text(HEADER + GOOD + f"x2,contact,local,2,通用,火星,,电话,000_4ef41ffcd167f519.txt,2025-04-19{CERTAINTY},active,\n"
                     + f"x3,contact,local,3,通用,全国,bind_day>>3,电话,000_4ef41ffcd167f519.txt,2025/04/19{CERTAINTY},active,\n",
                     encoding="utf-8")
    result = policy_check(table, FIXTURES / "sources_small.csv")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "broken.csv:3 [region] error: 地区 火星 无法对应到行政区划代码 / region '火星' does not resolve to a region code" in lines
    assert any(line.startswith("broken.csv:4 [condition] error: 条件格式错误") and "malformed condition" in line
               for line in lines)
    assert any(line.startswith("broken.csv:4 [source_date] error: 日期应为 YYYY-MM-DD / date must be YYYY-MM-DD")
               for line in lines)
    assert lines[-1] == "broken.csv: 3 个错误 / 3 error(s)"


def test_unreadable_header_exits_1(tmp_path):
    table = tmp_path / "header.csv"
    table.write_text("id,topic,answer\nx1,contact,答\n", encoding="utf-8")
    result = policy_check(table, FIXTURES / "sources_small.csv")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("header.csv:1 [item,rank,account_type,region,condition,")


def test_fixture_table_exits_0_and_lists_the_conflict_with_its_resolution():
    result = policy_check(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "policy_small.csv:22 冲突按裁决 / conflict settled by its resolution: t-diff-b 作答，不用 t-diff-a："
        "答 t-diff-a 与本行：本行把两项功能都说清楚了。",
        "policy_small.csv: OK — 23 rows, 22 active, 1 superseded, 1 conflicts settled by a resolution",
    ]


def test_a_conflict_without_a_written_resolution_exits_1(tmp_path):
    table = tmp_path / "conflict.csv"
    table.write_text(HEADER + GOOD + f"x2,contact,hotline,1,通用,全国,,热线 12393（工作日）。,001_981962000fe751d3.txt,"
                     f"2025-04-20{CERTAINTY},active,\n", encoding="utf-8")
    result = policy_check(table, FIXTURES / "sources_small.csv")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("conflict.csv:2 [resolution] error: 冲突（x1、x2）要由其中一行的裁决")


def test_half_width_punctuation_in_an_answer_is_an_error(tmp_path):
    table = tmp_path / "ascii.csv"
    table.write_text(HEADER + GOOD + 'x2,contact,local,2,通用,全国,,"请拨打12393,或到大厅(工作日)咨询。",'
                     f"000_4ef41ffcd167f519.txt,2025-04-19{CERTAINTY},active,\n", encoding="utf-8")
    result = policy_check(table, FIXTURES / "sources_small.csv")
    assert result.returncode == 1
    assert ("ascii.csv:3 [answer] error: 答案请用全角中文标点（，；：？！（）），不要用 ( ) , / "
            "answers use full-width Chinese punctuation; found ( ) ,") in result.stdout.splitlines()
