"""Screens of the dlpick app: the price table and its dialogs."""
