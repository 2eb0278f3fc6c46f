"""Downloader middlewares: retries with backoff and Retry-After."""
