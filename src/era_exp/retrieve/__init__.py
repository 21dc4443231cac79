"""Exact top-k search over a task's corpus, and TREC run files."""
