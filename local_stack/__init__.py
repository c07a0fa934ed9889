"""The embedded default: template.yaml deployed into an in-process moto, run locally.

`python -m local_stack` (`make local`) serves it until Ctrl-C; tests and the demo use
`LocalStack.start(...)`. See `stack.py` for the API and ARCHITECTURE.md for the design.
"""

from local_stack.stack import LocalResponse, LocalStack

__all__ = ["LocalResponse", "LocalStack"]
