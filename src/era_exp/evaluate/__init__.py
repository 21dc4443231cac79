"""Retrieval metrics with ranx, and their aggregation per task, domain and overall."""
