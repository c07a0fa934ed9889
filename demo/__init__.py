"""`make demo` (`python -m demo`): a whole campaign on the local stack's simulated clock.

Starts the local stack, creates a campaign of a few thousand generated contacts over the
HTTP API, runs it to the end by advancing the simulated clock, and prints a summary and
the path of a chart of planned versus placed calls per hour.
"""
