"""Words that make up a Chinese company name besides its trade name (data, not code).

A registered name reads 行政区划 + 字号 + 行业 + 组织形式 (region, trade name, industry,
legal form), e.g. 深圳市 华信 网络科技 有限公司; a branch adds its own place and 分公司.
The trade name is what tells two firms apart; the other parts qualify it.
"""

from __future__ import annotations

from functools import cache

from registry import fakedata

# Legal forms, longest first, each with the family it belongs to: 有限公司 is the short form
# of 有限责任公司 (the same form), 股份有限公司 is a different one.
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("集团股份有限公司", "joint_stock"),
    ("股份有限公司", "joint_stock"),
    ("集团有限责任公司", "limited"),
    ("集团有限公司", "limited"),
    ("有限责任公司", "limited"),
    ("有限公司", "limited"),
    ("股份公司", "joint_stock"),
    ("集团公司", "company"),
    ("(普通合伙)", "partnership"),
    ("(有限合伙)", "partnership"),
    ("个人独资企业", "sole_proprietorship"),
    ("合伙企业", "partnership"),
    ("公司", "company"),
)

# Branch markers at the end of a name (after the parent's name and the branch's place).
BRANCH_MARKERS: tuple[str, ...] = ("分公司", "营业部", "办事处", "分部")

# Industry words (行业表述) that end a core name; generic, so they weigh less than the
# trade name. Longest first when cutting.
_INDUSTRY_TEXT = (
    "网络 科技 信息 技术 通信 通讯 电子 商务 数据 服务 软件 开发 文化 传媒 数字 "
    "计算机 系统 互联网 云计算 大数据 智能 咨询 发展 数码 电信 宽带 光纤 卫星 "
    "移动 设备 工程 器材 实业 贸易 投资 管理 控股 集团 电讯 物联网 传播 广告 "
    "经营部 工作室 服务部 手机店 通讯店 器材店 电脑 云 网 讯"
)
INDUSTRY_WORDS: tuple[str, ...] = tuple(
    sorted(set(_INDUSTRY_TEXT.split()), key=lambda w: (-len(w), w))  # noqa: SIM905
)

REGION_SUFFIXES: tuple[str, ...] = (
    "特别行政区",
    "自治区",
    "自治州",
    "新区",
    "省",
    "市",
    "区",
    "县",
)

# Qualifiers in brackets that are not places but say nothing about which firm it is.
COUNTRY_WORDS: tuple[str, ...] = ("中国", "中华人民共和国")


@cache
def region_names() -> dict[str, tuple[str, str | None]]:
    """Place name (without 省/市, districts with their 区) → (province code, city or None)."""
    names: dict[str, tuple[str, str | None]] = {}
    for province in fakedata.PROVINCES:
        names[province.prefix] = (province.code, None)
        for city in province.cities:
            names.setdefault(city.name, (province.code, city.name))
            for district in fakedata.CITY_DISTRICTS.get(city.name, ()):  # 朝阳 alone: a word
                names.setdefault(district.name, (province.code, city.name))
    return names


@cache
def longest_region() -> int:
    return max(len(name) for name in region_names())
