"""Sweep reports: collect finished runs, tabulate, test significance, plot, and render a dashboard."""
