"""Experiment loggers for a job: Lightning loggers for the stages, and the run's metrics at the end."""
