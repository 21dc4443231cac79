"""Thin command-line entry points: era-run, era-encode, era-report.

Every command keeps library chatter (weight-loading bars, Lightning's tips) off the console, so
that setting is made here, before any command imports those libraries.
"""

from era_exp.logs import quiet_libraries

quiet_libraries()
