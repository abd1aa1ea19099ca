"""Widgets and table helpers of the dlpick app."""
