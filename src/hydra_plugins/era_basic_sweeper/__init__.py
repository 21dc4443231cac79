"""Hydra's basic sweeper, refusing grids whose points would share a job folder (``era_exp.sweep.naming``)."""
