"""Deterministic generator of realistic, entirely FICTIONAL registry data.

Used by ``registry init --demo`` (a few hundred firms) and by the benchmark
(100k firms). Everything is drawn from a seeded :class:`random.Random`, so the
same seed always gives the same firms and listings. Standard library only
(the tests check every credit code with ``python-stdnum``).

* :func:`firms` - operators (电信业务经营者) with unique names, valid unique
  unified social credit codes (GB 32100-2015) and unique licence numbers in
  their printed forms (``B2-20090001``, ``粤B2-20100123``, ``A2.B1-20090003``,
  ``京ICP证000001号``).
* :func:`listings` - entries on the bad-conduct (``bad``) and dishonesty
  (``dishonest``) lists for the seeded ground codes B1-B3 and D1-D4, with
  decision numbers (``粤通管罚〔2020〕12号``, ``工信部罚〔2021〕3号``), facts
  (违法事实) and campaign tags (专项行动).
* :func:`import_rows` / :func:`write_csv` - the import format (docs/INTERFACES.md).

The names are composed from common trade-name characters; any resemblance to
a real company is accidental (well-known trade names are excluded).
"""

from __future__ import annotations

import csv
import os
import random
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from operator import mul

__all__ = [
    "CAMPAIGNS",
    "CAMPAIGN_CATALOGUE",
    "CHINESE_HEADERS",
    "CITY_DISTRICTS",
    "GROUND_LISTS",
    "HEADERS",
    "LIST_TITLES",
    "PROVINCES",
    "PROVINCES_BY_CODE",
    "City",
    "FakeFirm",
    "FakeListing",
    "Province",
    "firms",
    "import_rows",
    "listings",
    "write_csv",
]


# --------------------------------------------------------------------------
# Geography: the 31 provinces (GB/T 2260) with prefecture-level cities
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class City:
    name: str  # 深圳 (without 市)
    code: str  # GB/T 2260, e.g. 440300


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # 440000
    name: str  # 广东省
    short: str  # 粤 (one-character abbreviation, used on licences and decision numbers)
    prefix: str  # 广东 (as used at the start of company names)
    weight: float  # relative share of generated firms
    cities: tuple[City, ...]  # most important first; the first is the capital


def _cities(spec: str) -> tuple[City, ...]:
    """``"广州 440100, 深圳 440300"`` → cities."""
    out = []
    for item in spec.split(","):
        name, code = item.split()
        out.append(City(name, code))
    return tuple(out)


# (code, full name, short, name prefix, weight, cities). Municipalities have one
# "city" (the municipality itself); their districts are in CITY_DISTRICTS.
# fmt: off
_PROVINCE_DATA: tuple[tuple[str, str, str, str, float, str], ...] = (
    ("110000", "北京市", "京", "北京", 10.0, "北京 110100"),
    ("120000", "天津市", "津", "天津", 2.0, "天津 120100"),
    ("130000", "河北省", "冀", "河北", 3.0,
     "石家庄 130100, 保定 130600, 唐山 130200, 廊坊 131000, 邯郸 130400, 秦皇岛 130300, "
     "沧州 130900, 邢台 130500, 张家口 130700, 承德 130800, 衡水 131100"),
    ("140000", "山西省", "晋", "山西", 1.5,
     "太原 140100, 大同 140200, 运城 140800, 临汾 141000, 长治 140400, 晋中 140700, "
     "晋城 140500, 阳泉 140300, 朔州 140600, 忻州 140900, 吕梁 141100"),
    ("150000", "内蒙古自治区", "蒙", "内蒙古", 1.0,
     "呼和浩特 150100, 包头 150200, 鄂尔多斯 150600, 赤峰 150400, 通辽 150500, "
     "呼伦贝尔 150700, 乌海 150300, 巴彦淖尔 150800, 乌兰察布 150900"),
    ("210000", "辽宁省", "辽", "辽宁", 2.5,
     "沈阳 210100, 大连 210200, 鞍山 210300, 抚顺 210400, 本溪 210500, 丹东 210600, "
     "锦州 210700, 营口 210800, 阜新 210900, 辽阳 211000, 盘锦 211100, 铁岭 211200, "
     "葫芦岛 211400"),
    ("220000", "吉林省", "吉", "吉林", 1.2,
     "长春 220100, 吉林 220200, 四平 220300, 辽源 220400, 通化 220500, 白山 220600, "
     "松原 220700, 白城 220800"),
    ("230000", "黑龙江省", "黑", "黑龙江", 1.5,
     "哈尔滨 230100, 齐齐哈尔 230200, 大庆 230600, 牡丹江 231000, 佳木斯 230800, "
     "鸡西 230300, 鹤岗 230400, 双鸭山 230500, 伊春 230700, 七台河 230900, 黑河 231100, "
     "绥化 231200"),
    ("310000", "上海市", "沪", "上海", 8.0, "上海 310100"),
    ("320000", "江苏省", "苏", "江苏", 7.0,
     "南京 320100, 苏州 320500, 无锡 320200, 常州 320400, 南通 320600, 徐州 320300, "
     "扬州 321000, 镇江 321100, 泰州 321200, 盐城 320900, 淮安 320800, 连云港 320700, "
     "宿迁 321300"),
    ("330000", "浙江省", "浙", "浙江", 7.0,
     "杭州 330100, 宁波 330200, 温州 330300, 金华 330700, 嘉兴 330400, 绍兴 330600, "
     "台州 331000, 湖州 330500, 衢州 330800, 舟山 330900, 丽水 331100"),
    ("340000", "安徽省", "皖", "安徽", 3.0,
     "合肥 340100, 芜湖 340200, 蚌埠 340300, 淮南 340400, 马鞍山 340500, 安庆 340800, "
     "阜阳 341200, 滁州 341100, 六安 341500, 宿州 341300, 黄山 341000, 宣城 341800, "
     "铜陵 340700, 亳州 341600"),
    ("350000", "福建省", "闽", "福建", 4.0,
     "福州 350100, 厦门 350200, 泉州 350500, 漳州 350600, 莆田 350300, 三明 350400, "
     "南平 350700, 龙岩 350800, 宁德 350900"),
    ("360000", "江西省", "赣", "江西", 2.0,
     "南昌 360100, 赣州 360700, 九江 360400, 上饶 361100, 宜春 360900, 吉安 360800, "
     "抚州 361000, 景德镇 360200, 萍乡 360300, 新余 360500, 鹰潭 360600"),
    ("370000", "山东省", "鲁", "山东", 5.0,
     "济南 370100, 青岛 370200, 烟台 370600, 潍坊 370700, 临沂 371300, 淄博 370300, "
     "济宁 370800, 威海 371000, 泰安 370900, 德州 371400, 聊城 371500, 日照 371100, "
     "东营 370500, 枣庄 370400, 滨州 371600, 菏泽 371700"),
    ("410000", "河南省", "豫", "河南", 4.0,
     "郑州 410100, 洛阳 410300, 开封 410200, 新乡 410700, 南阳 411300, 许昌 411000, "
     "安阳 410500, 平顶山 410400, 焦作 410800, 商丘 411400, 信阳 411500, 周口 411600, "
     "驻马店 411700, 濮阳 410900, 漯河 411100"),
    ("420000", "湖北省", "鄂", "湖北", 3.5,
     "武汉 420100, 宜昌 420500, 襄阳 420600, 荆州 421000, 十堰 420300, 黄石 420200, "
     "孝感 420900, 黄冈 421100, 荆门 420800, 咸宁 421200, 鄂州 420700, 随州 421300"),
    ("430000", "湖南省", "湘", "湖南", 3.0,
     "长沙 430100, 株洲 430200, 湘潭 430300, 衡阳 430400, 岳阳 430600, 常德 430700, "
     "郴州 431000, 邵阳 430500, 益阳 430900, 永州 431100, 怀化 431200, 娄底 431300, "
     "张家界 430800"),
    ("440000", "广东省", "粤", "广东", 14.0,
     "深圳 440300, 广州 440100, 东莞 441900, 佛山 440600, 珠海 440400, 惠州 441300, "
     "中山 442000, 汕头 440500, 江门 440700, 湛江 440800, 肇庆 441200, 揭阳 445200, "
     "茂名 440900, 清远 441800, 梅州 441400, 韶关 440200, 潮州 445100"),
    ("450000", "广西壮族自治区", "桂", "广西", 2.0,
     "南宁 450100, 柳州 450200, 桂林 450300, 玉林 450900, 北海 450500, 梧州 450400, "
     "钦州 450700, 贵港 450800, 百色 451000, 防城港 450600, 河池 451200, 贺州 451100"),
    ("460000", "海南省", "琼", "海南", 1.2, "海口 460100, 三亚 460200, 儋州 460400"),
    ("500000", "重庆市", "渝", "重庆", 2.5, "重庆 500100"),
    ("510000", "四川省", "川", "四川", 4.0,
     "成都 510100, 绵阳 510700, 德阳 510600, 宜宾 511500, 南充 511300, 泸州 510500, "
     "乐山 511100, 达州 511700, 自贡 510300, 遂宁 510900, 内江 511000, 眉山 511400, "
     "广安 511600, 攀枝花 510400, 雅安 511800"),
    ("520000", "贵州省", "黔", "贵州", 1.5,
     "贵阳 520100, 遵义 520300, 六盘水 520200, 安顺 520400, 毕节 520500, 铜仁 520600"),
    ("530000", "云南省", "滇", "云南", 1.5,
     "昆明 530100, 曲靖 530300, 玉溪 530400, 昭通 530600, 保山 530500, 丽江 530700, "
     "普洱 530800, 临沧 530900"),
    ("540000", "西藏自治区", "藏", "西藏", 0.2,
     "拉萨 540100, 日喀则 540200, 林芝 540400, 昌都 540300, 山南 540500"),
    ("610000", "陕西省", "陕", "陕西", 2.5,
     "西安 610100, 咸阳 610400, 宝鸡 610300, 渭南 610500, 榆林 610800, 汉中 610700, "
     "延安 610600, 安康 610900, 商洛 611000, 铜川 610200"),
    ("620000", "甘肃省", "甘", "甘肃", 0.8,
     "兰州 620100, 天水 620500, 白银 620400, 酒泉 620900, 张掖 620700, 武威 620600, "
     "庆阳 621000, 平凉 620800, 定西 621100, 嘉峪关 620200, 金昌 620300"),
    ("630000", "青海省", "青", "青海", 0.3, "西宁 630100, 海东 630200, 格尔木 632801"),
    ("640000", "宁夏回族自治区", "宁", "宁夏", 0.4,
     "银川 640100, 石嘴山 640200, 吴忠 640300, 固原 640400, 中卫 640500"),
    ("650000", "新疆维吾尔自治区", "新", "新疆", 1.0,
     "乌鲁木齐 650100, 克拉玛依 650200, 吐鲁番 650400, 哈密 650500, 库尔勒 652801, "
     "喀什 653101, 伊宁 654002, 石河子 659001"),
)
# fmt: on

PROVINCES: tuple[Province, ...] = tuple(
    Province(code, name, short, prefix, weight, _cities(cities))
    for code, name, short, prefix, weight, cities in _PROVINCE_DATA
)
PROVINCES_BY_CODE: dict[str, Province] = {p.code: p for p in PROVINCES}

# Districts of the largest cities (used in names such as 广州市天河区... and as the
# region part of the credit code).
CITY_DISTRICTS: dict[str, tuple[City, ...]] = {
    "北京": _cities(
        "东城区 110101, 西城区 110102, 朝阳区 110105, 丰台区 110106, 石景山区 110107, "
        "海淀区 110108, 通州区 110112, 昌平区 110114, 大兴区 110115"
    ),
    "天津": _cities(
        "和平区 120101, 河西区 120103, 南开区 120104, 河北区 120105, 西青区 120111, 滨海新区 120116"
    ),
    "上海": _cities(
        "黄浦区 310101, 徐汇区 310104, 长宁区 310105, 静安区 310106, 普陀区 310107, "
        "虹口区 310109, 杨浦区 310110, 闵行区 310112, 宝山区 310113, 嘉定区 310114, "
        "浦东新区 310115, 松江区 310117"
    ),
    "重庆": _cities(
        "万州区 500101, 渝中区 500103, 江北区 500105, 沙坪坝区 500106, 九龙坡区 500107, "
        "南岸区 500108, 渝北区 500112"
    ),
    "广州": _cities(
        "越秀区 440104, 海珠区 440105, 天河区 440106, 白云区 440111, 黄埔区 440112, 番禺区 440113"
    ),
    "深圳": _cities("罗湖区 440303, 福田区 440304, 南山区 440305, 宝安区 440306, 龙岗区 440307"),
    "杭州": _cities("上城区 330102, 拱墅区 330105, 西湖区 330106, 滨江区 330108, 余杭区 330110"),
    "南京": _cities("玄武区 320102, 秦淮区 320104, 鼓楼区 320106, 江宁区 320115"),
    "成都": _cities("锦江区 510104, 青羊区 510105, 武侯区 510107, 成华区 510108"),
    "武汉": _cities("江岸区 420102, 武昌区 420106, 洪山区 420111"),
}

_MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})
_DALIAN = "210200"  # the one city-level authority (大连市通信管理局)

_PROVINCE_CUM = list(accumulate(p.weight for p in PROVINCES))
# Within a province the first cities are the busiest.
_CITY_CUM: dict[str, list[float]] = {
    p.code: list(accumulate(max(1.0, 8.0 - 1.5 * i) for i in range(len(p.cities))))
    for p in PROVINCES
}


# --------------------------------------------------------------------------
# Company name vocabulary
# --------------------------------------------------------------------------

# Characters common in Chinese trade names (字号); most have traditional forms.
_TRADE_CHARS = (
    "云星腾华信通易讯联达创智博瑞恒盛鑫宏德泰天宇鸿海龙凯新锦启明远辰航帆峰"
    "源聚汇卓越万宝金银嘉祥隆安康和兴旺丰润诚优佳合力科众聚昊晟昕晨曦煜烨炜"
    "皓浩涵泓澜沃蓝青翔鹏飞腾跃骏驰迅捷锐灵睿慧思维远志尚品致臻美悦欣乐融"
    "通衡正方圆弘扬鼎立铭宸轩宁静逸朗昱晖耀光亿兆百千信诺蓝海普利拓展奥"
    "特力威赛迪凌云霆雷电磁波频网联络络数码链端芯核量子极光星火火炬阳"
    "东南西北上中新汇丰禾嘉苗森林松竹梅兰菊桂杉柏岩石山川江河湖溪泉"
    "鹰鸿雁燕鲲鹏麒麟凤凰龙虎豹狮象"
)
_TRADE_CHARS = "".join(dict.fromkeys(c for c in _TRADE_CHARS if c not in "中国东南西北上"))

# Two-character trade words that read naturally.
_TRADE_WORDS_TEXT = (
    "云帆 星辰 腾飞 华信 讯通 联创 智达 博瑞 恒盛 鑫宏 德泰 天宇 鸿海 凯新 锦程 启明 远航 "
    "辰星 汇通 卓越 万维 宝联 金桥 嘉禾 祥瑞 隆兴 安信 康达 和泰 兴业 旺达 丰源 润泽 诚信 "
    "优联 佳讯 合力 众联 昊天 晟达 昕悦 晨光 煜辉 皓月 浩瀚 泓锦 澜海 沃土 蓝海 青云 翔宇 "
    "鹏程 飞鸿 跃进 骏马 驰远 迅达 捷通 锐思 灵动 睿智 慧通 思远 维新 志诚 尚品 品诚 致远 "
    "臻品 美联 悦达 乐享 融通 衡达 正信 方圆 弘信 扬帆 鼎盛 立信 铭泰 宸宇 轩辕 宁远 静安 "
    "逸飞 朗润 昱华 晖映 耀华 光耀 亿联 兆丰 百联 千禧 信诺 普惠 利通 拓普 展鹏 奥维 特讯 "
    "力通 威联 赛博 迪信 凌霄 霆锐 雷霆 电讯 磁石 波特 频讯 网联 络通 数联 码上 链接 端点 "
    "芯联 核心 量联 极客 光速 星火 火炬 阳光 汇丰 禾苗 森科 林海 松柏 竹韵 梅岭 兰亭 桂华 "
    "杉达 柏林 岩华 石桥 山河 川流 江海 河图 湖畔 溪流 泉源 鹰眼 鸿雁 燕归 鲲鹏 麒麟 凤凰 "
    "龙腾 虎跃 豹速 狮王 象限 天翔 新元 智汇 创新 博达 瑞丰 恒通 盛世 鑫达 宏图 德信 泰和 "
    "易达 易联 讯捷 联信 达通 创达 智联 博远 瑞通 恒信 盛达 鑫源 宏达 德润 泰丰 云联 星联"
)
_TRADE_WORDS = tuple(_TRADE_WORDS_TEXT.split())

# Trade names of well-known real companies are never produced.
# fmt: off
_BLOCKED_TRADE = (
    "腾讯", "华为", "中兴", "阿里", "百度", "网易", "新浪", "搜狐", "小米", "联想", "京东", "美团",
    "字节", "世纪互联", "万网", "蓝汛", "网宿", "帝联", "鹏博士", "长城", "电信", "联通", "移动",
    "铁通", "广电", "华数", "歌华", "天威", "奇虎", "迅雷", "金山", "盛大", "携程", "顺丰", "苏宁",
    "国美", "浪潮", "紫光", "神州", "东软", "用友", "金蝶", "讯飞", "汇丰", "光大", "招商", "平安",
    "天翼", "华夏", "世纪", "三大", "万达", "恒大", "宝钢", "方正", "同方", "大唐", "烽火", "亚信",
    "蓝海讯通", "优刻得", "七牛", "鸿海", "金桥", "鲲鹏", "兆丰", "飞鸿", "百联",
)
# fmt: on
_BLOCKED_RE = re.compile("|".join(_BLOCKED_TRADE))
_TRADE_WORDS = tuple(w for w in _TRADE_WORDS if not _BLOCKED_RE.search(w))

# Industry words (行业表述) by enterprise kind.
# fmt: off
_INDUSTRY: dict[str, tuple[str, ...]] = {
    "value_added": (
        "网络科技", "信息技术", "通信技术", "计算机系统", "电子商务", "数据服务", "互联网信息服务",
        "网络技术服务", "软件开发", "文化传媒", "信息科技", "数字科技", "云计算技术", "大数据科技",
        "网络信息服务", "通信服务", "电子科技", "信息咨询服务", "科技发展", "网络传媒", "数据科技",
        "智能科技", "通讯技术", "互联网科技", "网络技术", "信息服务", "数码科技", "软件技术",
    ),
    "basic": ("通信", "通信网络", "宽带网络", "光纤网络", "卫星通信", "通信发展"),
    "resale": ("移动通信", "通信服务", "通讯", "移动科技", "通信科技"),
    "other": ("通讯设备", "通信工程", "信息网络", "电子", "通信设备", "通信工程技术"),
}
# fmt: on
_BRACKET_INDUSTRY = ("科技", "信息技术", "网络科技", "通信技术", "数据科技", "网络技术")
_SOLE_TRADER_SUFFIX = ("通讯店", "电脑经营部", "通讯器材店", "网络工作室", "手机店", "网络服务部")

_KIND_CUM = list(accumulate((0.92, 0.02, 0.03, 0.03)))
_KINDS = ("value_added", "basic", "resale", "other")

# --------------------------------------------------------------------------
# Grounds, facts, campaigns
# --------------------------------------------------------------------------

GROUND_LISTS: dict[str, str] = {
    "B1": "bad",
    "B2": "bad",
    "B3": "bad",
    "D1": "dishonest",
    "D2": "dishonest",
    "D3": "dishonest",
    "D4": "dishonest",
}
LIST_TITLES: dict[str, str] = {"bad": "不良名单", "dishonest": "失信名单"}

# Primary ground of a firm's (first) listing.
_GROUNDS = ("B1", "B2", "B3", "D1", "D2", "D3", "D4")
_GROUND_CUM = list(accumulate((0.86, 0.03, 0.065, 0.02, 0.015, 0.007, 0.003)))

CAMPAIGNS: tuple[str, ...] = (
    "商务楼宇宽带垄断专项整治",
    "防范治理电信网络诈骗专项行动",
    "骚扰电话综合治理专项行动",
    "互联网接入服务市场清理规范专项行动",
    "APP侵害用户权益专项整治",
    "电信市场秩序专项整治",
)

# The catalogue rows of those campaigns, in the same order: (slug, first day, last day or
# None while it runs, legal basis or notice number). Fictional periods; the broadband
# campaign's notice is the 2020 one that orders penalised firms onto the lists.
CAMPAIGN_CATALOGUE: tuple[tuple[str, date, date | None, str], ...] = (
    ("broadband-buildings", date(2020, 5, 1), date(2022, 12, 31), "工信厅通信函〔2020〕162号"),
    ("anti-fraud", date(2018, 11, 1), None, "《中华人民共和国反电信网络诈骗法》"),
    ("nuisance-calls", date(2018, 7, 1), date(2021, 12, 31), "《电信业务经营许可管理办法》"),
    ("internet-access", date(2018, 1, 1), date(2019, 3, 31), "《电信业务经营许可管理办法》"),
    ("app-user-rights", date(2019, 11, 1), None, "《电信和互联网用户个人信息保护规定》"),
    ("market-order", date(2018, 1, 1), None, "《中华人民共和国电信条例》"),
)

# B3 violations: (facts, campaign or None). {year} is filled in.
_B3_FACTS: tuple[tuple[str, str | None], ...] = (
    ("在商务楼宇内与物业公司签订排他性协议，限制用户选择", CAMPAIGNS[0]),
    ("与物业公司合谋阻碍其他电信业务经营者进入商务楼宇", CAMPAIGNS[0]),
    ("在商务楼宇内向用户收取不合理的接入费用，限制用户自主选择电信业务经营者", CAMPAIGNS[0]),
    ("未落实用户真实身份信息登记要求", CAMPAIGNS[1]),
    ("违规转租转售码号资源，为电信网络诈骗提供便利", CAMPAIGNS[1]),
    ("未按规定落实物联网卡实名登记和功能限制要求", CAMPAIGNS[1]),
    ("利用呼叫中心业务违规开展营销外呼，造成大量用户投诉", CAMPAIGNS[2]),
    ("未按规定落实骚扰电话防范治理责任，码号资源被用于拨打骚扰电话", CAMPAIGNS[2]),
    ("擅自经营互联网数据中心业务", CAMPAIGNS[3]),
    ("擅自建立或租用专线（含虚拟专用网络VPN）开展跨境经营活动", CAMPAIGNS[3]),
    ("向无经营许可的企业提供互联网接入服务", CAMPAIGNS[3]),
    ("未按规定报备IP地址信息", CAMPAIGNS[3]),
    ("其运营的移动应用程序违规收集、使用用户个人信息", CAMPAIGNS[4]),
    ("其运营的移动应用程序强制、频繁、过度索取权限，经责令整改逾期未整改", CAMPAIGNS[4]),
    ("超出经营许可证载明的业务种类和覆盖范围经营电信业务", CAMPAIGNS[5]),
    ("违规发展代理商，代理商以虚假宣传方式销售电信业务", CAMPAIGNS[5]),
    ("报送的{year}年度年报信息存在虚假内容", None),
    ("拒绝、阻碍电信管理机构依法实施的监督检查", None),
    ("未按规定落实网络与信息安全管理要求，发生用户个人信息泄露事件", None),
    ("擅自经营移动通信转售业务", None),
    ("未经批准擅自使用电信网码号资源", None),
    ("未按规定公布服务收费标准，向用户收取未经明示的费用", None),
)
_UNLICENSED_FACTS = (
    "未取得电信业务经营许可证擅自经营互联网数据中心业务",
    "未取得电信业务经营许可证擅自经营互联网接入服务业务",
    "未取得电信业务经营许可证擅自经营信息服务业务",
    "未取得电信业务经营许可证擅自经营呼叫中心业务",
)
_B2_CHANGES = (
    "公司名称",
    "注册地址",
    "法定代表人",
    "注册资本",
    "股东及股权结构",
    "经营场所",
)
_MEASURES = (
    "责令改正，给予警告",
    "责令改正，处{fine}元罚款",
    "责令改正，给予警告，并处{fine}元罚款",
    "责令改正，没收违法所得{gain}元，并处{fine}元罚款",
    "责令改正，处{fine}元罚款，并暂停其新增用户",
)
_D1_CAUSES = (
    "为电信网络诈骗活动提供通信支持，情节严重",
    "擅自经营超出许可范围的电信业务，情节严重",
    "擅自转租转售码号资源，经责令整改拒不改正",
    "违反网络与信息安全管理规定，情节严重",
    "连续两年未按规定报送年报信息且经责令改正仍不改正",
)
_D4_SOURCES = (
    "被人民法院列为失信被执行人",
    "被市场监督管理部门列入严重违法失信名单",
    "被税务部门公布为重大税收违法失信主体",
    "被有关部门认定为严重失信主体，列入联合惩戒对象名单",
)
_CERT = {
    "basic": "《基础电信业务经营许可证》",
    "value_added": "《增值电信业务经营许可证》",
    "resale": "《增值电信业务经营许可证》",
    "other": "《增值电信业务经营许可证》",
}

# --------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeFirm:
    name: str
    uscc: str
    province_code: str  # GB/T 2260 province code, e.g. 440000
    city: str  # 深圳 (prefecture-level city, without 市)
    kind: str  # basic | value_added | resale | other
    licence_no: str | None


@dataclass(frozen=True, slots=True)
class FakeListing:
    firm: FakeFirm
    list_code: str  # bad | dishonest
    ground_code: str  # B1..B3, D1..D4
    decided_on: date
    authority_code: str  # MIIT, a province code (XX0000) or 210200 (Dalian)
    decision_no: str | None
    facts: str
    campaign: str | None
    # D4 (联合惩戒) lasts as long as the source decision: its end date (原决定截止日期).
    source_expires_on: date | None = None


# --------------------------------------------------------------------------
# Firms
# --------------------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015 (no I, O, S, V, Z)
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_VALUE = {c: int(c) if c.isdigit() else ord(c) - 55 for c in _USCC_ALPHABET}  # GB 11714
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_check(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(map(mul, map(_ORG_VALUE.__getitem__, body), _ORG_WEIGHTS))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _uscc_check(base: str) -> str:
    """GB 32100 check character of the first 17 characters.

    Same result as ``stdnum.cn.uscc.calc_check_digit`` (the tests compare them),
    without its input clean-up, which would dominate the 100k-firm benchmark.
    """
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, base), _USCC_WEIGHTS))
    return _USCC_ALPHABET[-total % 31]


def _make_uscc(rng: random.Random, region: str, entity_type: str, modern: bool) -> str:
    if modern:  # registered after 2015: organisation code "MA" + 6 characters
        body = "MA" + "".join(rng.choices(_USCC_ALPHABET, k=6))
    else:  # legacy 8-digit organisation code
        body = f"{rng.randrange(10_000_000, 100_000_000)}"
    base = f"9{entity_type}{region}{body}{_org_check(body)}"
    return base + _uscc_check(base)


def _trade_name(rng: random.Random, extra: int) -> str:
    """A 2-4 character trade name (字号); ``extra`` > 0 (after collisions) gives 3-4."""
    while True:
        r = rng.random()
        if extra:
            base = rng.choice(_TRADE_WORDS) if r < 0.5 else "".join(rng.choices(_TRADE_CHARS, k=2))
            trade = base + "".join(rng.choices(_TRADE_CHARS, k=min(extra, 2)))
        elif r < 0.45:
            trade = rng.choice(_TRADE_WORDS)
        elif r < 0.85:
            trade = "".join(rng.choices(_TRADE_CHARS, k=2))
        elif r < 0.95:
            trade = rng.choice(_TRADE_WORDS) + rng.choice(_TRADE_CHARS)
        else:
            trade = rng.choice(_TRADE_WORDS) + rng.choice(_TRADE_WORDS)
        if len(set(trade)) == len(trade) and not _BLOCKED_RE.search(trade):
            return trade


def _pick_city(rng: random.Random, prov: Province) -> City:
    cum = _CITY_CUM[prov.code]
    return prov.cities[bisect_left(cum, rng.random() * cum[-1])]


def _company_name(
    rng: random.Random, prov: Province, city: City, kind: str, extra: int
) -> tuple[str, str, City, City]:
    """Return (name, entity type char, region for the credit code, city)."""
    trade = _trade_name(rng, extra)
    industry = rng.choice(_INDUSTRY[kind])
    districts = CITY_DISTRICTS.get(city.name)
    region = rng.choice(districts) if districts and rng.random() < 0.7 else city
    r = rng.random()
    if r < 0.015:  # sole trader (个体工商户): entity type 2
        district = rng.choice(districts).name if districts else ""
        suffix = rng.choice(_SOLE_TRADER_SUFFIX)
        return f"{city.name}市{district}{trade}{suffix}", "2", region, city
    f = rng.random()
    if f < 0.83:
        form = "有限公司"
    elif f < 0.91:
        form = "有限责任公司"
    elif f < 0.97:
        form = "股份有限公司"
    else:  # branch of a company registered elsewhere
        other = rng.choice(PROVINCES)
        parent = rng.choice(other.cities)
        if parent.name == city.name:
            parent = PROVINCES_BY_CODE["110000"].cities[0]
        if parent.name == city.name:
            parent = PROVINCES_BY_CODE["310000"].cities[0]
        return f"{parent.name}{trade}{industry}有限公司{city.name}分公司", "1", region, city
    if r < 0.48:
        name = f"{city.name}市{trade}{industry}{form}"
    elif r < 0.63:
        name = f"{city.name}{trade}{industry}{form}"
    elif r < 0.72 and districts:
        district = rng.choice(districts)
        region = district
        name = f"{city.name}市{district.name}{trade}{industry}{form}"
    elif r < 0.85:
        bracket = rng.choice(_BRACKET_INDUSTRY) if kind == "value_added" else industry
        name = f"{trade}（{city.name}）{bracket}{form}"
    else:  # province-level name, registered in the capital
        city = prov.cities[0]
        districts = CITY_DISTRICTS.get(city.name)
        region = rng.choice(districts) if districts and rng.random() < 0.7 else city
        name = f"{prov.prefix}{trade}{industry}{form}"
    return name, "1", region, city


def _licence(
    rng: random.Random, prov: Province, kind: str, founded: int, used: set[str]
) -> str | None:
    """A unique licence number in one of the printed forms."""
    lo = max(founded, 2004)
    hi = min(founded + 6, 2024)
    r = rng.random()
    if kind == "basic":
        cats, ministry, icp = ("A1", "A2", "A1.A2", "A2.B1"), True, False
    elif kind == "resale":
        cats, ministry, icp = ("A2.B1", "B1.B2", "A2.B2"), True, False
        lo = max(lo, 2013)
        hi = max(hi, lo)
    elif kind == "other":
        cats, ministry, icp = ("B1", "B2"), False, False
    else:
        ministry = r < 0.07
        icp = not ministry and r > 0.78
        cats = ("B1", "B2", "B1.B2", "B2", "B2") if ministry else ("B2", "B2", "B2", "B1", "B1.B2")
    span = 2000
    while True:
        year = rng.randint(lo, hi)
        if icp:
            number = f"{prov.short}ICP证{year % 100:02d}{rng.randint(1, span * 2):04d}号"
        else:
            prefix = "" if ministry else prov.short
            number = f"{prefix}{rng.choice(cats)}-{year}{rng.randint(1, span):04d}"
        if number not in used:
            used.add(number)
            return number
        span = min(span + 500, 4999)
        hi = min(hi + 1, 2024)


def firms(n: int, seed: int = 42) -> list[FakeFirm]:
    """``n`` fictional operators, deterministic for a given ``seed``.

    Names, credit codes and licence numbers are unique within the result.
    """
    rng = random.Random(seed)
    names: set[str] = set()
    codes: set[str] = set()
    licences: set[str] = set()
    out: list[FakeFirm] = []
    provinces = PROVINCES
    for _ in range(n):
        prov = provinces[bisect_left(_PROVINCE_CUM, rng.random() * _PROVINCE_CUM[-1])]
        city = _pick_city(rng, prov)
        kind = _KINDS[bisect_left(_KIND_CUM, rng.random() * _KIND_CUM[-1])]
        extra = 0
        while True:
            name, entity_type, region, home = _company_name(rng, prov, city, kind, extra // 4)
            if name not in names:
                break
            extra += 1
        names.add(name)
        modern = rng.random() < 0.55
        while True:
            code = _make_uscc(rng, region.code, entity_type, modern)
            if code not in codes:
                break
        codes.add(code)
        founded = rng.randint(2016, 2023) if modern else rng.randint(1998, 2015)
        licence = None
        if entity_type == "1" and rng.random() >= 0.02:
            licence = _licence(rng, prov, kind, founded, licences)
        out.append(FakeFirm(name, code, prov.code, home.name, kind, licence))
    return out


# --------------------------------------------------------------------------
# Listings
# --------------------------------------------------------------------------


def _is_ministry_licence(licence: str | None) -> bool:
    return licence is not None and licence[0] in "AB"


def _authority(rng: random.Random, firm: FakeFirm) -> str:
    """The listing authority: the firm's bureau, or the ministry for its licensees."""
    if _is_ministry_licence(firm.licence_no):
        return "MIIT" if rng.random() < 0.85 else firm.province_code
    if rng.random() < 0.01:
        return "MIIT"
    if firm.city == "大连":
        return _DALIAN
    return firm.province_code


def _decision_prefix(authority: str) -> str:
    if authority == "MIIT":
        return "工信部罚"
    if authority == _DALIAN:
        return "大连通管罚"
    return PROVINCES_BY_CODE[authority].short + "通管罚"


def _random_day(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, max(0, (hi - lo).days)))


def _b1_batches(rng: random.Random, start: date, end: date) -> tuple[list[date], list[float]]:
    """Batch decision dates for missing annual reports (mostly mid-year, one huge 2019 batch)."""
    dates: list[date] = []
    weights: list[float] = []
    for year in range(start.year, end.year + 1):
        for month, weight in ((7, 150.0 if year == 2019 else 5.0), (11, 1.5)):
            day = date(year, month, rng.randint(5, 28))
            if start <= day <= end:
                dates.append(day)
                weights.append(weight)
    if not dates:
        dates.append(_random_day(rng, start, end))
        weights.append(1.0)
    return dates, list(accumulate(weights))


_FINES = ("5000", "1万", "1万", "2万", "3万", "3万", "5万", "8万", "10万")


def _measure(rng: random.Random) -> str:
    return rng.choice(_MEASURES).format(fine=rng.choice(_FINES), gain=rng.randint(3, 400) * 100)


class _Draft:
    """A listing under construction (decision numbers are assigned afterwards)."""

    __slots__ = ("authority", "campaign", "decided_on", "facts", "firm", "ground", "penalty_on")

    def __init__(
        self,
        firm: FakeFirm,
        ground: str,
        decided_on: date,
        authority: str,
        facts: str,
        campaign: str | None,
        penalty_on: date | None,
    ) -> None:
        self.firm = firm
        self.ground = ground
        self.decided_on = decided_on
        self.authority = authority
        self.facts = facts
        self.campaign = campaign
        # Date of the penalty decision behind it; None: no decision number (B1, D4).
        self.penalty_on = penalty_on


def _licence_year(licence: str | None) -> int | None:
    """Year of issue printed in a licence number (``粤B2-20100123`` → 2010)."""
    if licence is None:
        return None
    if "ICP证" in licence:
        at = licence.index("ICP证") + 4
        return 2000 + int(licence[at : at + 2])
    at = licence.index("-") + 1
    return int(licence[at : at + 4])


def _draft(rng: random.Random, firm: FakeFirm, ground: str, day: date, start: date) -> _Draft:
    """One listing decided on ``day`` (for B1: the batch date)."""
    authority = _authority(rng, firm)
    campaign: str | None = None
    penalty_on: date | None = day
    if ground == "B1":
        facts = (
            f"未按规定报送{day.year - 1}年度年报信息，且在电信管理机构要求的期限内仍未履行年报义务"
        )
        penalty_on = None
    elif ground == "B2":
        changed = rng.choice(_B2_CHANGES)
        facts = f"{changed}发生变更后，未按规定办理经营许可证变更手续；{_measure(rng)}"
    elif ground == "B3":
        if firm.licence_no is None:
            facts = rng.choice(_UNLICENSED_FACTS)
            campaign = CAMPAIGNS[3] if rng.random() < 0.5 else None
        else:
            facts, tag = rng.choice(_B3_FACTS)
            facts = facts.format(year=day.year - 1)
            campaign = tag if tag and rng.random() < 0.8 else None
        facts = f"{facts}；{_measure(rng)}"
    elif ground == "D1":
        cert = _CERT[firm.kind]
        facts = f"{rng.choice(_D1_CAUSES)}，被依法吊销{cert}（编号：{firm.licence_no}）"
        if rng.random() < 0.3:
            campaign = CAMPAIGNS[1]
    elif ground == "D2":
        penalty_on = max(day - timedelta(days=rng.randint(120, 540)), start - timedelta(days=365))
        facts = "逾期不履行行政处罚决定{decision}，经催告后仍未履行"
    elif ground == "D3":
        cert = _CERT[firm.kind]
        facts = f"以提供虚假材料等欺骗手段取得{cert}，被依法撤销许可"
    else:  # D4
        facts = f"{rng.choice(_D4_SOURCES)}，按规定实施联合惩戒"
        penalty_on = None
    return _Draft(firm, ground, day, authority, facts, campaign, penalty_on)


def listings(
    firms: Sequence[FakeFirm],
    seed: int = 42,
    start: date = date(2018, 1, 1),
    end: date = date(2026, 10, 31),
) -> list[FakeListing]:
    """Listings for ``firms``: one each, two for a few percent of them.

    About 86 % are B1 (missing annual report, batch dates, no decision number);
    the rest are penalty-based (B2, B3, D1-D3, with decision numbers) or D4.
    A second listing follows from the first: a B3 penalty not carried out (D2,
    with the same decision number), a licence later revoked (D1), or a penalty
    on top of a missing report. All decision dates lie within [start, end].
    """
    if end < start:
        raise ValueError("end before start")
    rng = random.Random(seed * 1_000_003 + 17)
    batch_dates, batch_cum = _b1_batches(rng, start, end)
    drafts: list[_Draft] = []
    shared: dict[int, int] = {}  # index of a D2 draft -> index of its B3 penalty draft
    for firm in firms:
        ground, day = _first_ground(rng, firm, start, end, batch_dates, batch_cum)
        first = _draft(rng, firm, ground, day, start)
        drafts.append(first)
        if rng.random() >= 0.03:
            continue
        second = _second_draft(rng, firm, first, start, end)
        if second is None:
            continue
        if second.ground == "D2":
            shared[len(drafts)] = len(drafts) - 1
        drafts.append(second)
    numbers = _decision_numbers(rng, drafts)
    for i, j in shared.items():
        numbers[i] = numbers[j]
    return [_finished(d, numbers.get(i), end) for i, d in enumerate(drafts)]


def _first_ground(
    rng: random.Random,
    firm: FakeFirm,
    start: date,
    end: date,
    batch_dates: list[date],
    batch_cum: list[float],
) -> tuple[str, date]:
    """The ground and decision date of a firm's first listing."""
    ground = _GROUNDS[bisect_left(_GROUND_CUM, rng.random() * _GROUND_CUM[-1])]
    licensed = _licence_year(firm.licence_no)
    if licensed is None:  # unlicensed: penalised for operating without a licence
        if ground in ("B1", "B2", "D1", "D3"):
            ground = "B3" if rng.random() < 0.8 else "D4"
        earliest = start
    else:  # nothing before the licence was issued
        earliest = max(start, date(licensed, 7, 1))
        if ground == "B1":
            # first batch for a report year the firm was licensed in
            k = bisect_right([d.year for d in batch_dates], licensed)
            if k < len(batch_dates):
                lo = batch_cum[k - 1] if k else 0.0
                x = lo + rng.random() * (batch_cum[-1] - lo)
                return ground, batch_dates[min(bisect_right(batch_cum, x), len(batch_dates) - 1)]
            ground = "B3"
    day = _random_day(rng, earliest, end) if earliest <= end else _random_day(rng, start, end)
    return ground, day


def _second_draft(
    rng: random.Random, firm: FakeFirm, first: _Draft, start: date, end: date
) -> _Draft | None:
    """A second listing, later than the first, or None when the first leads to none: a B3
    penalty not carried out (D2, sharing its decision), a licence later revoked (D1), or a
    penalty on top of a missing report."""
    later_lo = first.decided_on + timedelta(days=rng.randint(90, 420))
    if later_lo > end:
        return None
    later = _random_day(rng, later_lo, min(end, later_lo + timedelta(days=365)))
    if first.ground == "B3":
        if rng.random() < 0.7:
            return _Draft(
                firm,
                "D2",
                later,
                first.authority,
                "逾期不履行行政处罚决定{decision}，经催告后仍未履行",
                None,
                None,
            )
        if firm.licence_no is not None:
            return _draft(rng, firm, "D1", later, start)
        return None
    if first.ground == "B1" and firm.licence_no is not None:
        return _draft(rng, firm, rng.choice(("B2", "B3", "B3")), later, start)
    return None


def _decision_numbers(rng: random.Random, drafts: list[_Draft]) -> dict[int, str]:
    """Decision numbers in chronological order of the penalties, per authority and year."""
    counters: dict[tuple[str, int], int] = {}
    numbers: dict[int, str] = {}
    order = sorted((d.penalty_on, i) for i, d in enumerate(drafts) if d.penalty_on is not None)
    for penalty_on, i in order:
        prefix = _decision_prefix(drafts[i].authority)
        key = (prefix, penalty_on.year)
        serial = counters.get(key, rng.randint(0, 4)) + rng.randint(1, 3)
        counters[key] = serial
        numbers[i] = f"{prefix}〔{penalty_on.year}〕{serial}号"
    return numbers


def _finished(d: _Draft, number: str | None, end: date) -> FakeListing:
    """The listing of a draft once its decision number is known."""
    facts = (
        d.facts.format(decision=f"（{number}）" if number else "") if d.ground == "D2" else d.facts
    )
    return FakeListing(
        d.firm,
        GROUND_LISTS[d.ground],
        d.ground,
        d.decided_on,
        d.authority,
        number,
        facts,
        d.campaign,
        _source_end(d.decided_on, end) if d.ground == "D4" else None,
    )


def _source_end(decided_on: date, end: date) -> date:
    """End of a D4 source decision: three years after it, or as many more whole years as
    it takes to still run a year after ``end`` (so a generated file imports as in force)."""
    years = 3
    while True:
        try:
            day = decided_on.replace(year=decided_on.year + years)
        except ValueError:  # 29 February
            day = date(decided_on.year + years, 3, 1)
        if day > end + timedelta(days=365):
            return day
        years += 1


# --------------------------------------------------------------------------
# Import format (docs/INTERFACES.md)
# --------------------------------------------------------------------------

HEADERS: tuple[str, ...] = (
    "name",
    "uscc",
    "licence_no",
    "list",
    "ground",
    "decided_on",
    "authority",
    "decision_no",
    "facts",
    "province",
    "source_expires_on",
)
CHINESE_HEADERS: dict[str, str] = {
    "name": "经营者名称",
    "uscc": "统一社会信用代码",
    "licence_no": "许可证编号",
    "list": "名单类型",
    "ground": "列入事由",
    "decided_on": "处理日期",
    "authority": "列入单位",
    "decision_no": "处罚决定书文号",
    "facts": "违法事实",
    "province": "省份",
    "source_expires_on": "原决定截止日期",
}


def import_rows(listings: Iterable[FakeListing]) -> Iterator[dict[str, str]]:
    """Rows of the import format with the English headers (empty string for none)."""
    for item in listings:
        firm = item.firm
        yield {
            "name": firm.name,
            "uscc": firm.uscc,
            "licence_no": firm.licence_no or "",
            "list": item.list_code,
            "ground": item.ground_code,
            "decided_on": item.decided_on.isoformat(),
            "authority": item.authority_code,
            "decision_no": item.decision_no or "",
            "facts": item.facts,
            "province": PROVINCES_BY_CODE[firm.province_code].name,
            "source_expires_on": item.source_expires_on.isoformat()
            if item.source_expires_on
            else "",
        }


def write_csv(
    path: str | os.PathLike[str],
    listings: Iterable[FakeListing],
    chinese_headers: bool = False,
    bom: bool = True,
) -> int:
    """Write ``listings`` as an import CSV; return the number of data rows.

    With ``chinese_headers`` the header row is in Chinese and the list column
    says 不良名单/失信名单, as a clerk's spreadsheet would.
    """
    count = 0
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        if chinese_headers:
            writer.writerow([CHINESE_HEADERS[h] for h in HEADERS])
        else:
            writer.writerow(HEADERS)
        for row in import_rows(listings):
            if chinese_headers:
                row["list"] = LIST_TITLES[row["list"]]
            writer.writerow(row.values())
            count += 1
    return count
