"""Insights across incidents: periods, statistics, their chart and their text forms.

Everything in this package is pure (no database, no Slack); bot.services.stats reads
the rows and hands them to `compute_stats`.
"""
