"""Use cases: each one combines domain rules with the stores; handlers call these."""
