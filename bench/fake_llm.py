"""An OpenAI-compatible model that answers every chat after a fixed latency, for the benchmark's
"overhead is additive" configuration: the tests' `FakeOpenAI` server in a process of its own.

    python bench/fake_llm.py --latency-ms 50     # prints "LISTENING <base_url>", serves until
                                                 # stdin closes or it is terminated
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.providers.fakes import FakeOpenAI, RecordedRequest, Reply  # noqa: E402

ANSWER = (
    "Our handbooks cover that: orders for groups are best placed a day ahead, every pizza can "
    "be made on a gluten-free base, and deliveries arrive within forty minutes."
)


class BenchOpenAI(FakeOpenAI):
    """Keeps no record of requests: a benchmark sends tens of thousands."""

    def record(self, request: RecordedRequest) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    fake = BenchOpenAI()
    # Every request gets the default reply; nothing is queued. The first event of a stream is
    # sent after the same delay, so time to first byte includes the model's latency too.
    fake.default_reply = Reply.answer(ANSWER, delay=args.latency_ms / 1000, usage=(900, 40))
    fake.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"LISTENING {fake.base_url}", flush=True)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
