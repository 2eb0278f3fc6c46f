"""Download handlers of the API spiders."""
