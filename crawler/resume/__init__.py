"""JOBDIR jobs that resume exactly after Ctrl-C, SIGTERM or SIGKILL.

Scrapy's JOBDIR keeps the scheduler's queue and the seen fingerprints, but the
queue's state is written only at a clean stop and requests in flight are in
neither (scrapy#2399): a killed job loses them for good (they are "seen"), and
a resumed run appends to the batch files it already wrote, after a torn last
line. With ``JOBDIR`` set, :class:`~crawler.resume.extension.ResumeJournal`
keeps ``<JOBDIR>/resume.journal``, an append-only log written with one
unbuffered ``write`` per record (each length-prefixed and checksummed; a record
cut by a kill is dropped):

- ``S``: a request was scheduled (its fingerprint and the request), written
  before the scheduler and its duplicate filter see it;
- ``D``: requests are done: their callbacks ran, what they yielded is
  scheduled (so in the journal), and their items are stored: every
  ``RESUME_CHECKPOINT_SECONDS`` the feed files are flushed and, with MongoDB
  on, the requests wait until the items scraped before them are settled by
  the storage (:class:`crawler.settlement.Settlement`, which listens to the
  storage's signals).

A job whose journal exists resumes:

- with the journal's run id, so its files stay in one run folder;
- Scrapy's queue (``requests.queue``) is discarded and every request scheduled
  and not done is scheduled again (``dont_filter``): queued, in flight, or a
  retry waiting at the stop. A request of the job done or scheduled again is
  not scheduled a second time when the spider yields it again (``start()``
  runs again; a listing page done again yields its products again);
- each feed loses a line cut short by the kill; an item whose key the feed
  holds already is not written again (``resume/feed_skipped/<feed>``); new
  batch files are numbered after the existing ones. Only local JSON Lines
  feeds that are appended to are continued: one given with ``-O`` or in
  another format holds this run's items only (a WARNING says so);
- the failures and rejects files keep the records of requests that are done;
  the others are made again, or recovered, by this run. The failures kept are
  counted in this run's stats, so the exit status reflects the whole job.

Settings: ``JOBDIR`` (Scrapy's; off without it), ``RESUME_CHECKPOINT_SECONDS``
(2). Stats: ``resume/requeued``, ``resume/known_skipped``, ``resume/done``,
``resume/feed_skipped/<feed>``, ``resume/failures_carried``,
``resume/unserializable``.

- :mod:`.journal`: the journal file's format, and what it says (``JobState``);
- :mod:`.outputs`: the run's files repaired (torn lines, the failures and
  rejects kept, a feed's files and batch numbers);
- :mod:`.extension`: :class:`~crawler.resume.extension.ResumeJournal`, the
  extension (listed in ``EXTENSIONS``);
- :mod:`.feeds`: :class:`~crawler.resume.feeds.KnownKeysFilter`, the
  ``item_filter`` of a feed the job continues;
- :mod:`.addon`: :class:`~crawler.resume.addon.ResumeAddon` (listed in
  ``ADDONS``), which gives that filter to those feeds.
"""
