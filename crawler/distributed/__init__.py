"""Distributed crawling: several ``scrapy crawl`` processes, on one machine or
many, share one frontier in Redis (README "Distributed crawls").

``scrapy crawl products -s DISTRIBUTED=1`` runs the spider as one worker;
:class:`~crawler.distributed.addon.DistributedAddon` applies the profile:

- :mod:`.scheduler`: scrapy-redis' scheduler and duplicate filter, with a
  processing list per worker re-queued when the worker is gone;
- :mod:`.frontier`: the Redis side of it, one Lua script per change;
- :mod:`.start`: the first worker seeds through the spider's ``async def start``;
- :mod:`.ratelimit`: one request rate for all the workers, 429s included;
- :mod:`.config`: the settings, parsed in one place.
"""
