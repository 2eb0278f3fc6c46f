"""Extraction: a response body in, items out, as plain functions testable
without a crawl. :mod:`.api` reads the marketplace API's JSON; :mod:`.dashboard`
the dashboard's HTML tables."""
