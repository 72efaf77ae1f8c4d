"""The console script's first step: a Ctrl-C while the (slow) imports run still exits
quietly with 130, not with a traceback."""

import sys


def main() -> None:
    try:
        from divergence.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    run()
