"""RSS 2.0 and Atom from a list of items (feedgen). Pure: no queries, no Flask.

The web views gather the items (registry/web/feeds.py); this module only formats them, so
the output depends on nothing but its input — which is what makes ETags stable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

FORMATS = ("rss", "atom")
MIME_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}
EPOCH = datetime(2018, 1, 1, tzinfo=UTC)  # the 2018 notice: no publication is older


@dataclass(frozen=True)
class FeedItem:
    guid: str  # a tag: URI that never changes, even when the record is edited
    title: str
    link: str  # absolute
    published: datetime  # when it was published (aware)
    summary: str
    updated: datetime | None = None
    category: str | None = None


@dataclass(frozen=True)
class Feed:
    id: str  # tag: URI of the feed
    title: str
    link: str  # absolute URL of the HTML page the feed follows
    self_link: str  # absolute URL of the feed itself
    description: str
    items: Sequence[FeedItem]
    language: str = "zh-CN"

    @property
    def last_modified(self) -> datetime:
        dates = [item.updated or item.published for item in self.items]
        return max(dates, default=EPOCH).replace(microsecond=0)


# Characters XML 1.0 cannot carry (C0 controls but tab/newline, surrogates, U+FFFE/F): a
# search for "\x01" or a name typed with one must not break the feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: str) -> str:
    return _NOT_XML.sub("", value)


def render(feed: Feed, fmt: str) -> bytes:
    """The feed as RSS 2.0 (`rss`) or Atom 1.0 (`atom`) bytes, items newest first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown feed format {fmt!r}")
    feed = Feed(
        id=_xml_safe(feed.id),
        title=_xml_safe(feed.title),
        link=feed.link,
        self_link=feed.self_link,
        description=_xml_safe(feed.description),
        items=[
            FeedItem(
                guid=_xml_safe(item.guid),
                title=_xml_safe(item.title),
                link=item.link,
                published=item.published,
                summary=_xml_safe(item.summary),
                updated=item.updated,
                category=_xml_safe(item.category) if item.category else None,
            )
            for item in feed.items
        ],
        language=feed.language,
    )
    generator = FeedGenerator()
    generator.id(feed.id)
    generator.title(feed.title)
    generator.description(feed.description)
    generator.subtitle(feed.description)
    generator.link(href=feed.link, rel="alternate")
    generator.link(href=feed.self_link, rel="self")
    generator.language(feed.language)
    generator.author({"name": feed.title})
    generator.updated(feed.last_modified)
    generator.lastBuildDate(feed.last_modified)
    # feedgen prepends entries: add oldest first so the newest comes out on top.
    ordered = sorted(feed.items, key=lambda item: (item.published, item.guid))
    for item in ordered:
        entry = generator.add_entry()
        entry.id(item.guid)
        entry.guid(item.guid, permalink=False)
        entry.title(item.title)
        entry.link(href=item.link, rel="alternate")
        entry.published(item.published)
        entry.updated(item.updated or item.published)
        entry.summary(item.summary)
        entry.description(item.summary)
        if item.category:
            entry.category(term=item.category)
    if fmt == "rss":
        return generator.rss_str(pretty=True)
    return generator.atom_str(pretty=True)


def etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]
