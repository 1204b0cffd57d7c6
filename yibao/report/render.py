"""The report as one self-contained HTML file: inline CSS, charts as inline SVG and HTML bars, no script,
no external file. Every text that comes from users or the store is masked and HTML-escaped here.

Numbers carry `data-metric` attributes (e.g. `data-metric="day/2026-11-20/conversations"`) so that tests
and scripts can read them without parsing the layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape

from yibao.privacy import mask_personal_numbers
from yibao.report.aggregate import Report

REASON_LABELS = {
    "fallback": "没听懂 / fallback",
    "out_of_scope": "超出范围 / out of scope",
    "no_rows": "表中无答案 / no table rows",
}

STYLE = """
body{font-family:-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",
"WenQuanYi Micro Hei",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2933;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:2px solid #e4e7eb;
padding-bottom:.3rem}.meta{color:#616e7c;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}.card{border:1px solid #e4e7eb;border-radius:8px;
padding:.6rem 1rem;min-width:140px}.card .v{font-size:1.5rem;font-weight:600}.card .l{color:#616e7c;font-size:.85rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.92rem}th,td{border-bottom:1px solid #e4e7eb;
padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#f5f7fa}td.num,th.num{text-align:right;
white-space:nowrap;font-variant-numeric:tabular-nums}.bar{background:#f0f4f8;border-radius:3px;height:.9rem;
min-width:120px}.bar span{display:block;height:100%;background:#3e7bfa;border-radius:3px}
.bar.warn span{background:#e66a4e}.muted{color:#9aa5b1}.tag{display:inline-block;background:#f0f4f8;
border-radius:4px;padding:0 .35rem;margin:0 .2rem .2rem 0;font-size:.85rem}.ex{margin:0;padding-left:1.1rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
svg text{font-size:11px;fill:#52606d}footer{margin-top:3rem;color:#616e7c;font-size:.85rem}
"""
COLOURS = ("#3e7bfa", "#9ab8fb", "#f0b429")


def e(value: object) -> str:
    """Masked and escaped text for HTML."""
    return escape(mask_personal_numbers(str(value)) if value is not None else "", quote=True)


def num(value: int | float, metric: str, text: str | None = None) -> str:
    return f'<td class="num" data-metric="{escape(metric, quote=True)}">{e(text if text is not None else value)}</td>'


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def bar(value: float, maximum: float, warn: bool = False) -> str:
    width = 100 * value / maximum if maximum else 0
    return f'<div class="bar{" warn" if warn else ""}"><span style="width:{width:.1f}%"></span></div>'


def column_chart(labels: list[str], series: list[tuple[str, list[int]]], height: int = 180) -> str:
    """Grouped columns as inline SVG; labels are SVG text, so Chinese shows in any browser."""
    groups = max(len(labels), 1)
    per_group = max(len(series), 1)
    slot = max(18, min(60, 900 // groups))
    width = 40 + slot * groups
    top = max([max(values) if values else 0 for _, values in series] + [1])
    column = max(3, (slot - 6) // per_group)
    parts = [
        f'<svg width="{width}" height="{height + 40}" role="img" viewBox="0 0 {width} {height + 40}">',
        f'<line x1="35" y1="{height}" x2="{width}" y2="{height}" stroke="#cbd2d9"/>',
        f'<text x="30" y="12" text-anchor="end">{top}</text><text x="30" y="{height}" text-anchor="end">0</text>',
    ]
    for index, label in enumerate(labels):
        x0 = 40 + index * slot
        for number, (name, values) in enumerate(series):
            value = values[index] if index < len(values) else 0
            h = round(height * value / top) if top else 0
            parts.append(
                f'<rect x="{x0 + number * column}" y="{height - h}" width="{column - 1}" height="{h}" '
                f'fill="{COLOURS[number % len(COLOURS)]}"><title>{escape(label)} {escape(name)}: {value}'
                f"</title></rect>"
            )
        if groups <= 31 or index % max(1, groups // 31) == 0:
            parts.append(f'<text x="{x0 + slot / 2 - 3}" y="{height + 14}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<span style="background:{COLOURS[n % len(COLOURS)]}"></span>{escape(name)}'
        for n, (name, _) in enumerate(series)
    )
    return f'<div class="chart">{"".join(parts)}</div><div class="legend">{legend}</div>'


def _table(headers: Iterable[str], rows: Iterable[str], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{h}</th>" for i, h in enumerate(headers))
    body = "".join(rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _time(timestamp: float, report: Report) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(timestamp, ZoneInfo(report.timezone)).strftime("%Y-%m-%d %H:%M")


def render_html(report: Report) -> str:
    r = report
    out: list[str] = []
    title = f"医保家庭助手 运营报告 {r.since} – {r.until}"
    out.append(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
    )
    out.append("<h1>医保家庭助手 运营报告 <small class=muted>Operations report</small></h1>")
    out.append(
        f'<p class="meta">时间范围 / range: <b>{e(r.since)}</b> – <b>{e(r.until)}</b> ({e(r.timezone)})'
        f" · 数据来源 / source: {e(r.source)} · 生成于 / generated: {e(r.generated_at.strftime('%Y-%m-%d %H:%M'))}</p>"
    )

    # Summary cards.
    cards = [
        ("会话 / conversations", r.conversations, "conversations"),
        ("用户消息 / user messages", r.user_messages, "user_messages"),
        ("机器人回复 / bot messages", r.bot_messages, "bot_messages"),
        ("兜底 / fallback", f"{r.fallback} ({pct(r.fallback, r.user_messages)})", "fallback"),
        ("超出范围 / out of scope", f"{r.out_of_scope} ({pct(r.out_of_scope, r.user_messages)})", "out_of_scope"),
        ("未解答 / unanswered", r.unanswered, "unanswered"),
        ("有帮助 / helpful", r.helpful, "helpful"),
        ("没帮助 / not helpful", r.unhelpful, "unhelpful"),
    ]
    out.append('<section id="summary"><div class="cards">')
    for label, value, metric in cards:
        raw = {"fallback": r.fallback, "out_of_scope": r.out_of_scope}.get(metric, value)
        out.append(
            f'<div class="card"><div class="v" data-metric="total/{metric}" data-value="{e(raw)}">{e(value)}'
            f'</div><div class="l">{label}</div></div>'
        )
    out.append(
        f'<p class="meta">兜底率 / fallback rate <b data-metric="rate/fallback">{pct(r.fallback, r.user_messages)}'
        f'</b> · 超出范围率 / out-of-scope rate <b data-metric="rate/out_of_scope">'
        f"{pct(r.out_of_scope, r.user_messages)}</b></p></div></section>"
    )

    # Per day.
    out.append('<section id="per-day"><h2>每日会话与消息 / Conversations and messages per day</h2>')
    labels = [day.strftime("%m-%d") for day, *_ in r.per_day]
    out.append(
        column_chart(
            labels,
            [
                ("会话 conversations", [c for _, c, _, _ in r.per_day]),
                ("用户消息 user messages", [u for _, _, u, _ in r.per_day]),
                ("机器人回复 bot messages", [b for _, _, _, b in r.per_day]),
            ],
        )
    )
    rows = [
        f"<tr><td>{e(day)}</td>{num(c, f'day/{day}/conversations')}{num(u, f'day/{day}/user_messages')}"
        f"{num(b, f'day/{day}/bot_messages')}</tr>"
        for day, c, u, b in r.per_day
    ]
    out.append(
        _table(
            ["日期 / day", "会话 / conversations", "用户消息 / user messages", "机器人回复 / bot messages"],
            rows,
            (1, 2, 3),
        )
    )
    out.append("</section>")

    # Per channel.
    out.append('<section id="per-channel"><h2>各渠道 / Per channel</h2>')
    top = max([m for _, _, m in r.per_channel] + [1])
    rows = [
        f"<tr><td>{e(channel)}</td>{num(c, f'channel/{channel}/conversations')}"
        f"{num(m, f'channel/{channel}/user_messages')}<td>{bar(m, top)}</td></tr>"
        for channel, c, m in r.per_channel
    ]
    out.append(
        _table(["渠道 / channel", "会话 / conversations", "用户消息 / user messages", ""], rows, (1, 2))
        if rows
        else '<p class="muted">无数据 / no data</p>'
    )
    out.append("</section>")

    # Handoffs to the agents (yibao/report/handoffs.py).
    h = r.handoffs
    wait = "–" if h.median_wait_minutes is None else f"{h.median_wait_minutes}"
    out.append(
        '<section id="handoffs"><h2>转人工 / Handoffs to agents</h2><p class="meta">'
        f'转人工 / handoffs <b data-metric="handoffs/total">{h.total}</b> · 有客服回复 / answered '
        f'<b data-metric="handoffs/answered">{h.answered}</b> · 无人接待 / unanswered '
        f'<b data-metric="handoffs/unanswered">{h.unanswered}</b> · 客服解决后交还 / resolved by an agent '
        f'<b data-metric="handoffs/resolved">{h.resolved}</b> · 等待中位数 / median wait '
        f'<b data-metric="handoffs/median_wait">{e(wait)}</b> 分钟 / min</p>'
    )
    rows = [
        f"<tr><td>{e(d.day)}</td>{num(d.handoffs, f'handoffs/{d.day}/total')}"
        f"{num(d.answered, f'handoffs/{d.day}/answered')}{num(d.unanswered, f'handoffs/{d.day}/unanswered')}"
        f"{num(d.resolved, f'handoffs/{d.day}/resolved')}"
        f"<td class=num>{e('–' if d.median_wait_minutes is None else d.median_wait_minutes)}</td></tr>"
        for d in h.per_day
        if d.handoffs
    ]
    out.append(
        _table(
            [
                "日期 / day",
                "转人工 / handoffs",
                "有回复 / answered",
                "无人接待 / unanswered",
                "解决 / resolved",
                "等待中位数（分钟）/ median wait (min)",
            ],
            rows,
            (1, 2, 3, 4, 5),
        )
        if rows
        else '<p class="muted">无数据 / no data</p>'
    )
    rows = [
        f"<tr><td>{e(a.agent)}</td>{num(a.answered, f'handoffs/agent/{a.agent}/answered')}"
        f"{num(a.resolved, f'handoffs/agent/{a.agent}/resolved')}"
        f"<td class=num>{e('–' if a.median_wait_minutes is None else a.median_wait_minutes)}</td></tr>"
        for a in h.per_agent
    ]
    if rows:
        out.append(
            _table(
                [
                    "客服 / agent",
                    "接待 / answered",
                    "解决后交还 / resolved",
                    "首次回复等待中位数（分钟）/ median wait (min)",
                ],
                rows,
                (1, 2, 3),
            )
        )
    out.append("</section>")

    # Intents.
    out.append('<section id="intents"><h2>意图分布 / Intent distribution</h2>')
    top = max([count for _, count in r.intents] + [1])
    rows = [
        f"<tr><td>{e(intent)}</td>{num(count, f'intent/{intent}')}<td class=num>{pct(count, r.user_messages)}</td>"
        f"<td>{bar(count, top, intent in ('nlu_fallback', 'out_of_scope'))}</td></tr>"
        for intent, count in r.intents
    ]
    out.append(
        _table(["意图 / intent", "次数 / count", "占比 / share", ""], rows, (1, 2))
        if rows
        else '<p class="muted">无数据 / no data</p>'
    )
    out.append("</section>")

    # Unanswered clusters.
    out.append(
        '<section id="unanswered"><h2>未能回答的问题（相近问题已合并）/ Questions the bot could not answer, '
        "near-duplicates grouped</h2>"
    )
    rows = []
    for number, group in enumerate(r.clusters, start=1):
        examples = "".join(
            f"<li>{e(text)} <span class=muted>×{count}</span></li>" for text, count in group.cluster.examples[:8]
        )
        more = len(group.cluster.examples) - 8
        if more > 0:
            examples += f"<li class=muted>… +{more}</li>"
        reasons = "".join(
            f'<span class="tag">{e(REASON_LABELS.get(reason, reason))} {count}</span>'
            for reason, count in sorted(group.reasons.items())
        )
        rows.append(
            f"<tr><td class=num>{number}</td>{num(group.cluster.count, f'cluster/{number}/count')}"
            f"{num(len(group.cluster.examples), f'cluster/{number}/distinct')}"
            f'<td data-metric="cluster/{number}/label">{e(group.cluster.label)}</td>'
            f'<td><ul class="ex">{examples}</ul></td><td>{reasons}</td>'
            f"<td>{e(group.suggested_intent or '–')}</td></tr>"
        )
    out.append(
        _table(
            [
                "#",
                "次数 / count",
                "不同说法 / distinct",
                "代表问题 / question",
                "例子 / examples",
                "原因 / reason",
                "建议意图 / suggested intent",
            ],
            rows,
            (0, 1, 2),
        )
        if rows
        else '<p class="muted">没有未解答的问题 / none</p>'
    )
    out.append("</section>")

    # 没帮助.
    out.append('<section id="unhelpful"><h2>被标记“没帮助”的回答 / Answers marked not helpful</h2>')
    rows = [
        f'<tr><td data-metric="unhelpful_row/{e(item.row_id)}"><code>{e(item.row_id)}</code></td>'
        f"<td>{e(item.topic or '–')}</td><td>{e(item.account_type or '–')}</td><td>{e(item.region or '–')}</td>"
        f"<td>{e(item.answer) if item.answer is not None else '<span class=muted>（已不在表中 / no longer in the table）</span>'}</td>"
        f"{num(item.unhelpful, f'unhelpful_row/{item.row_id}/unhelpful')}"
        f"{num(item.helpful, f'unhelpful_row/{item.row_id}/helpful')}</tr>"
        for item in r.row_feedback
    ]
    out.append(
        _table(
            ["表格行 / row", "主题 / topic", "账户 / account", "地区 / region", "答案 / answer", "没帮助", "有帮助"],
            rows,
            (5, 6),
        )
        if rows
        else '<p class="muted">没有 / none</p>'
    )
    unhelpful = [item for item in r.feedback if not item.helpful]
    if unhelpful:
        out.append("<h3>每条反馈 / each feedback</h3>")
        rows = []
        for number, item in enumerate(unhelpful, start=1):
            slots = " ".join(f'<span class="tag">{e(k)}={e(v)}</span>' for k, v in sorted(item.slots.items()))
            rows.append(
                f"<tr><td>{e(_time(item.timestamp, r))}</td><td><code>{e(item.conversation)}</code></td>"
                f"<td>{e(item.channel)}</td><td>{e(item.topic or '–')}</td>"
                f'<td data-metric="feedback/{number}/rows">{e(", ".join(item.rows) or "–")}</td>'
                f'<td data-metric="feedback/{number}/question">{e(item.question or "–")}</td>'
                f"<td>{slots}</td></tr>"
            )
        out.append(
            _table(
                [
                    "时间 / time",
                    "会话 / conversation",
                    "渠道 / channel",
                    "主题 / topic",
                    "行 / rows",
                    "问题 / question",
                    "槽位 / slots",
                ],
                rows,
            )
        )
    out.append("</section>")

    # Regions.
    out.append(
        '<section id="regions"><h2>问到但表中没有地区专门规定的地区 / Regions asked about with no '
        "region-specific rows</h2>"
    )
    rows = [
        f'<tr><td data-metric="region_without_rows/{e(region.name)}">{e(region.name)}</td>'
        f"<td>{e(region.province or '–')}</td>{num(region.conversations, f'region/{region.name}/conversations')}"
        f"{num(region.as_insured, f'region/{region.name}/insured')}"
        f"{num(region.as_treatment, f'region/{region.name}/treatment')}</tr>"
        for region in r.regions_without_rows
    ]
    out.append(
        _table(
            ["地区 / region", "省份 / province", "会话 / conversations", "参保地 / insured", "就医地 / treatment"],
            rows,
            (2, 3, 4),
        )
        if rows
        else '<p class="muted">没有 / none</p>'
    )
    covered = [region for region in r.regions if region.has_specific_rows]
    if covered:
        out.append(
            "<p>有地区规定的 / with region-specific rows: "
            + " ".join(
                f'<span class="tag" data-metric="region_with_rows/{e(region.name)}">{e(region.name)} '
                f"{region.conversations}</span>"
                for region in covered
            )
            + "</p>"
        )
    out.append("</section>")

    out.append(
        "<footer><p>说明 / notes: 会话 = 一个发送者 ID（按日计算时为当天发过消息的发送者）；用户消息 = 用户发出的消息；"
        "兜底 = 意图为 nlu_fallback 或触发了兜底动作；未解答 = 兜底、超出范围、或政策表中没有对应行；"
        "按钮载荷（/intent）不计为问题。地区“无专门规定”= 该地区及其省份在政策表中除“全国”外没有有效行。"
        "身份证号、手机号、银行卡号已脱敏。<br>A conversation is one sender id; messages are user messages; "
        "unanswered = fallback, out of scope, or no table rows; ID, mobile and bank card numbers are masked."
        "</p></footer></body></html>"
    )
    return "\n".join(out)
