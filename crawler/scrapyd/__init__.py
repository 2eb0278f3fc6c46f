"""Running the crawler on Scrapyd: the settings of Scrapyd jobs
(:mod:`.settings`) and the daily runner that schedules them (:mod:`.daily`)."""
