"""Scheduled jobs: notebooks published with typed parameters and a schedule, run by papermill."""
