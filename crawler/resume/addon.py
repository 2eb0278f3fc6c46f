"""ResumeAddon: when a JOBDIR job resumes, the feeds it continues do not write
again an item their files hold; otherwise it changes nothing.

Listed in ``ADDONS`` (``crawler/settings.py``). Add-ons run before the
extensions are built: the feed exporter reads ``FEEDS`` then, and
:class:`~crawler.resume.extension.ResumeJournal` the journal. So the job is
known here from the journal's first record
(:func:`~crawler.resume.journal.read_run`): it resumes when it has a run, of
this spider's (as the extension decides). Each feed the job continues
(:func:`~crawler.resume.outputs.continued`: local JSON Lines feeds appended
to) whose one item class has a ``key_field``
(:func:`~crawler.resume.outputs.key_field`) gets, at its own priority,

- ``item_filter``: :class:`~crawler.resume.feeds.KnownKeysFilter`, which asks
  the feed's own ``item_filter``, if it has one, first;
- :data:`~crawler.resume.feeds.OPTION`: the
  :class:`~crawler.resume.feeds.ContinuedFeed` the filter reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Self

from scrapy.exceptions import NotConfigured
from scrapy.utils.conf import feed_complete_default_values_from_settings

from crawler.resume.feeds import OPTION, ContinuedFeed
from crawler.resume.journal import JOURNAL, read_run
from crawler.resume.outputs import continued, key_field

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

FILTER = "crawler.resume.feeds.KnownKeysFilter"


class ResumeAddon:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        jobdir = settings.get("JOBDIR")
        spider = self.crawler.spider
        if not jobdir or spider is None:
            raise NotConfigured  # silent: no job
        if not read_run(Path(jobdir) / JOURNAL).resumed_by(spider.name):
            raise NotConfigured  # a new job; or another spider's, which stops at once
        feeds: BaseSettings = settings["FEEDS"]
        for uri, given in list(feeds.items()):
            options = feed_complete_default_values_from_settings(given, settings, str(uri))
            if continued(options) and key_field(options):
                priority = feeds.getpriority(uri)
                assert priority is not None  # a feed of FEEDS
                feed = ContinuedFeed(self.crawler, str(uri), given)
                feeds.set(uri, {**given, "item_filter": FILTER, OPTION: feed}, priority)
