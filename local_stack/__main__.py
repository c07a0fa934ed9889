"""`python -m local_stack` (`make local`): serve the local stack until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import warnings

from local_stack.stack import LocalStack


def main() -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("local_stack").setLevel(logging.INFO)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # The handlers go in before the stack starts: its API answers as soon as it is
    # up, so a Ctrl-C can come while the rest is still starting; it then stops the
    # stack as soon as it has started instead of killing the process half-way.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        options = LocalStack.options_from_env()
        stack = LocalStack.start(**options)
    except (ValueError, OSError) as problem:
        print(f"local stack: {problem}", file=sys.stderr)
        return 2
    print(stack.banner(), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("\nstopping the local stack", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
