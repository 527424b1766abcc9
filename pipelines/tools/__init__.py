"""Maintenance scripts that (re)generate shipped resources; not imported at run time."""
