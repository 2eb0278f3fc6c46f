"""The spiders: brands, products, comments (and, later, the dashboard)."""
