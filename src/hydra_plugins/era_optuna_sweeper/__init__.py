"""Hydra's Optuna sweeper with a resumable study in the sweep folder (see ``era_exp.sweep.search``)."""
