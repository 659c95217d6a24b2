"""Progress lines of long runs (compare/cli/render.py's Finished): on stderr only when it is a terminal, never with
--quiet. `bench` prints one per size and backend (tests/jobs/test_bench.py), `kernels` one per setting."""
import io

import pytest

from compare.cli import render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, quiet, printed", [(Terminal(), False, True), (Terminal(), True, False),
                                                    (io.StringIO(), False, False)],
                         ids=["terminal", "terminal-quiet", "pipe"])
def test_a_line_per_finished_piece_only_on_a_terminal_and_not_quiet(stream, quiet, printed):
    finished = render.Finished(quiet, stream)
    finished("tiny [float32] manual: 0.100 ms/step")
    finished("tiny [float32] torch-cpu: 0.200 ms/step")
    lines = stream.getvalue().splitlines()
    assert len(lines) == (2 if printed else 0)
    assert all(line.lstrip().startswith("[") and "ms/step" in line for line in lines)
