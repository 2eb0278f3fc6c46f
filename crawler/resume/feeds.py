"""KnownKeysFilter: the item filter of a feed that a resumed JOBDIR job
continues, so that an item the feed's files hold already is not written again.

:class:`~crawler.resume.addon.ResumeAddon` makes it the feed's ``item_filter``
(Scrapy's feed option) and gives it, in the feed's :data:`OPTION` option, a
:class:`ContinuedFeed`: what an item filter, built by the feed exporter with
the feed's options alone, cannot know otherwise. The filter then

- asks the feed's own filter first (the ``item_filter`` given, else Scrapy's
  :class:`~scrapy.extensions.feedexport.ItemFilter`), built as the feed
  exporter would have built it;
- refuses an item whose key (the ``key_field`` of the feed's one item class)
  the feed's files hold, counted in ``resume/feed_skipped/<feed>``.

The keys are read from the feed's files when the feed is offered its first
item: the files are this job's earlier runs' then (the run folder is known,
the torn lines are cut: :class:`~crawler.resume.extension.ResumeJournal` does
both when it is built, before the crawl starts) and this run has written none
of its own yet. Only complete lines count, whichever runs first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.extensions.feedexport import ItemFilter
from scrapy.utils.conf import feed_complete_default_values_from_settings
from scrapy.utils.misc import load_object

from crawler.resume.outputs import held_keys, key_field, run_feed_files

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: the feed option that holds the :class:`ContinuedFeed`
OPTION = "resume_feed"


@dataclass(frozen=True)
class ContinuedFeed:
    """A feed the resumed job continues: its URI template and its options as
    given (its own ``item_filter``), and the crawler (its spider names the run
    folder; its stats count the items skipped)."""

    crawler: Crawler
    uri: str
    options: dict[str, Any]


class KnownKeysFilter:
    def __init__(self, feed_options: dict[str, Any]) -> None:
        feed: ContinuedFeed = feed_options[OPTION]
        self.crawler = feed.crawler
        self.uri = feed.uri
        self.options = feed_complete_default_values_from_settings(
            feed.options, feed.crawler.settings, feed.uri
        )
        self.inner: ItemFilter = load_object(feed.options.get("item_filter", ItemFilter))(
            feed.options
        )
        field = key_field(self.options)
        assert field is not None  # the add-on continues only feeds with one
        self.key_field = field
        self.stat = f"resume/feed_skipped/{Path(feed.uri).stem.split('-')[0]}"
        #: the keys the feed's files hold, read at the first item
        self.keys: set[Any] | None = None

    def accepts(self, item: Any) -> bool:
        if not self.inner.accepts(item):
            return False
        if self.keys is None:
            spider = self.crawler.spider
            assert spider is not None  # items come from a spider
            self.keys = held_keys(run_feed_files(self.uri, self.options, spider)[0], self.key_field)
        if getattr(item, self.key_field, None) in self.keys:
            self.crawler.stats.inc_value(self.stat)
            return False
        return True
