"""How `python -m compare` starts and ends its processes: `import compare` loads nothing (so the workers' server
starts before this process imports NumPy and torch); `--list`, every command's `--help` and a command line refused
before a run load no torch (1 s, which only a run needs), and a check's parsing no torch._dynamo (about 1 s, which
only a process that builds an optimizer needs); the process ends without the interpreter's teardown but with the
atexit handlers run (a coverage tool's, a plugin's) and its output flushed; so does the forkserver its workers come
from; a server that a refused command line started ends with it, even while it still imports, and Ctrl-C ends
one that still imports without a traceback; the processes a server forked end with it."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from compare.__main__ import SUBCOMMANDS


def test_import_compare_loads_neither_numpy_nor_manual():
    code = "import sys, compare; print(sorted(m for m in ('numpy', 'manual', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
    done = subprocess.run([sys.executable, "-c", "import compare, manual; print(compare.__version__ == manual.__version__)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


LIGHT_COMMANDS = """
import contextlib, io, json, sys
from compare.__main__ import main
codes = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        codes.append(main(argv))
print(json.dumps([codes, sorted(name for name in ("torch", "compare.checks.main_job", "compare.workers.pool")
                                if name in sys.modules)]))
"""
# command line -> its exit status: the lists, every command's help, and refusals made before any run starts
LIGHT = {("--list",): 0, ("--help",): 0, **{(command, "--help"): 0 for command in SUBCOMMANDS},
         ("--only", "no-such-case"): 2, ("chek",): 2, ("explain", "no-such-case"): 2, ("kernels", "--cases", "nope"): 2,
         ("ddp", "--world-size", "1"): 2, ("bench", "--sizes", "huge"): 2, ("cv", "--folds", "1"): 2, ("plots",): 2}


def test_lists_help_and_refusals_start_without_torch():
    """They need only the catalogues and the commands' options: torch and what checks a run are imported when a
    run starts (0.2 s against 1.2 s)."""
    done = subprocess.run([sys.executable, "-c", LIGHT_COMMANDS, json.dumps(list(LIGHT))], capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == [list(LIGHT.values()), []], done.stdout + done.stderr


REFUSED_WHILE_THE_SERVER_IMPORTS = """
from compare.workers import server
server.PRELOADS["check"] = [server.EXIT, "slow_import"]  # a server that imports for minutes, not for 2 s
from compare.__main__ import end_process, main
end_process(main(["--only", "no-such-case"]))
"""


def test_a_refused_command_line_ends_the_server_it_started_while_the_server_still_imports(tmp_path):
    """compare/workers/server_exit.py: the server ends with the command, and so does its hold on the command's
    stdout and stderr (which a reader of the output waited for: 2 s of torch's imports in the real server)."""
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(300)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", REFUSED_WHILE_THE_SERVER_IMPORTS], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        _, err = process.communicate(timeout=60)  # the output's end: the command's and its server's
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # what is left of the command and its server, if the test failed
        except ProcessLookupError:
            pass
    assert process.returncode == 2 and "matches no case" in err, err


def test_the_check_runs_the_atexit_handlers_and_flushes_its_output(tmp_path):
    """Module runs alone, in this process (-j 1): nothing builds an optimizer, so torch._dynamo stays unloaded."""
    marker = tmp_path / "atexit-ran"
    (tmp_path / "atexit_plugin.py").write_text(textwrap.dedent(f"""
        import atexit, sys
        atexit.register(lambda: open({str(marker)!r}, "w").write(f"ran, dynamo {{'torch._dynamo' in sys.modules}}"))
        atexit.register(lambda: sys.stdout.write("written at exit\\n"))  # buffered: flushed after the handlers
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "compare", "--only", "relu-at-zero", "--plugin", "atexit_plugin",
                           "-j", "1"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran, dynamo False"
    assert done.stdout.endswith("written at exit\n") and "2 of 2 case runs passed" in done.stdout


def test_the_forkserver_runs_the_atexit_handlers_and_skips_the_teardown():
    """compare/workers/server_exit.py, which every forkserver imports first: the handlers registered after it run,
    the teardown of the modules (here an object's __del__) does not; without it, both."""
    code = textwrap.dedent("""
        import atexit, sys
        if sys.argv[1] == "server":
            import compare.workers.server_exit
        atexit.register(lambda: print("atexit ran", flush=True))
        class Teardown:
            def __del__(self):
                print("teardown ran", flush=True)
        kept = Teardown()
    """)
    printed = {how: subprocess.run([sys.executable, "-c", code, how], capture_output=True, text=True, check=True).stdout
               for how in ("server", "plain")}
    assert printed == {"server": "atexit ran\n", "plain": "atexit ran\nteardown ran\n"}


def test_ctrl_c_ends_a_server_quietly_and_a_process_forked_from_it_as_python_would():
    """compare/workers/server_exit.py: on the SIGINT that Ctrl-C sends the whole process group, a server (still
    importing: later it ignores SIGINT) leaves at once with no traceback; a process it forked raises
    KeyboardInterrupt, as under Python's own handler."""
    code = textwrap.dedent("""
        import os, signal, time
        import compare.workers.server_exit
        child = os.fork()
        if child == 0:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(60)
            except KeyboardInterrupt:
                os._exit(7)
            os._exit(0)
        print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]), flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)
        print("not ended", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (128 + signal.SIGINT, "7\n", ""), done


def test_a_process_the_server_forked_ends_when_the_server_is_killed_and_its_own_children_do_not():
    """compare/workers/server_exit.py: a command killed by SIGKILL, SIGTERM or SIGHUP takes its server with it, and
    the server's end now ends the processes it forked (they ran on, orphaned, at 100% of a core). A process one of
    them forks in turn is left to its own parent: here it outlives the forked process's exit."""
    code = textwrap.dedent("""
        import os, sys, time
        import compare.workers.server_exit
        worker = os.fork()
        if worker == 0:
            grandchild = os.fork()
            if grandchild == 0:
                time.sleep(0.5)
                print("grandchild", os.getpid(), flush=True)
                time.sleep(60)
                os._exit(0)
            print("worker", os.getpid(), flush=True)
            time.sleep(60)
            os._exit(0)
        time.sleep(60)
    """)
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = dict(server.stdout.readline().split() for _ in range(2))
    try:
        server.kill()
        server.wait()
        worker, grandchild = int(pids["worker"]), int(pids["grandchild"])
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), "the forked process outlived its server"
        assert alive(grandchild), "the forked process's own child was ended with the server"
    finally:
        for pid in map(int, pids.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Running or asleep: not gone, not a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
