"""Progress lines on stderr for long runs: silent for the first few seconds, then at most one line per interval."""
import sys
import time


class Progress:
    def __init__(self, interval: float = 2.0, stream=None):
        self.interval, self.stream = interval, stream or sys.stderr
        self.start = self.last = time.perf_counter()

    def update(self, message: str) -> None:
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            print(f"  [{now - self.start:6.1f} s] {message}", file=self.stream, flush=True)
