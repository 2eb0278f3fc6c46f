"""Settings of the crawler under Scrapyd: :mod:`crawler.settings`, plus what
production needs.

The egg that ``scrapyd-deploy`` uploads names this module as its settings
(``setup.py``'s ``scrapy`` entry point), so every job Scrapyd starts uses it;
``scrapy crawl`` in a checkout keeps :mod:`crawler.settings`.

Per job, Scrapyd adds (as ``-s`` settings, deploy/scrapyd.conf):

- ``LOG_FILE``: ``logs/<project>/<spider>/<jobid>.log`` in Scrapyd's folder;
- ``JOBDIR``: ``jobs/<project>/<spider>/<jobid>/``, so that a cancelled job
  scheduled again with the same ``jobid`` resumes;
- the ``setting=NAME=VALUE`` pairs of ``schedule.json``. Those are visible in
  ``listjobs.json``, in Scrapyd's log and in its queue database: credentials
  (``MONGO_URI``) come from Scrapyd's environment instead.

and passes the job id as the spider argument ``_job``: the run's folder is
``<OUTPUT_DIR>/<spider>/<jobid>/`` (:class:`crawler.spiders.base.MarketplaceSpider`).
"""

from __future__ import annotations

from crawler import settings as _base
from crawler.settings import *  # noqa: F403

# Scrapyd's log file is the job's record: INFO, whatever LOG_LEVEL says in the
# host's environment (``setting=LOG_LEVEL=DEBUG`` still overrides it per job)
LOG_LEVEL = "INFO"
# a resumed job (same jobid) writes on in the same log file
LOG_FILE_APPEND = True

# Off, as in crawler.settings, and stated again here: a telnet console or a
# remote-control listener on a Scrapyd host is a remote shell into every job.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
EXTENSIONS = {
    **_base.EXTENSIONS,
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
}
