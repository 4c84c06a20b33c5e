"""Real processes that start in a blink: forks of one Python that has imported the engine.

A crash test starts the loop's command again and again (`wb live ...`, killed with SIGKILL
at a random point, started again). A fresh interpreter spends more than a second importing
pandas, duckdb and the engine before its first step, sixteen times a test. A
:class:`WarmStarter` starts one helper process that imports them once, then forks it for
each command: every command is still a process of its own (its own pid, its own store
connection, SIGKILL from the test), running the module as ``python -m`` would, from its
``__main__``, only without the imports.

    with WarmStarter(["engine.cli", "engine.live.runner"], env=env) as starter:
        child = starter.start("engine.cli", ["--data-dir", d, "live", ...], stderr=path,
                              steps=notes)
        child.poll(); child.send_signal(signal.SIGKILL); child.wait()

With ``steps``, the command notes each loop step it finishes in that file (when it began
and ended), so the test sees the steps without opening the store: DuckDB lets one process
at a time open the file, and a test that looked into it to watch the loop would keep the
loop waiting on every look.

The helper itself (``python -m tests.live.warm_start MODULE...``) reads one JSON request
per line on stdin and answers one per line on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import traceback
from datetime import date
from pathlib import Path


class WarmProcess:
    """A command forked by the helper: poll, wait and signal it as a ``subprocess.Popen``."""

    def __init__(self, starter: WarmStarter, pid: int):
        self.starter = starter
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code, or None while it runs."""
        if self.returncode is None:
            self.returncode = self.starter._ask({"op": "poll", "pid": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code once it has ended (TimeoutExpired after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


class WarmStarter:
    """A helper process that has imported ``preload``, forking itself for each command.

    An entry ``module:function`` of ``preload`` also calls the function once imported (a
    cache every start would otherwise fill for itself: :func:`warm_calendar`)."""

    def __init__(self, preload: list[str], *, env: dict[str, str], cwd: Path):
        self.helper = subprocess.Popen(
            [sys.executable, "-m", "tests.live.warm_start", *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd,
        )  # fmt: skip
        self.started: list[WarmProcess] = []
        assert self._read() == {"ready": True}, "the warm-start helper did not start"

    def start(
        self, module: str, args: list[str], *, stderr: Path, steps: Path | None = None
    ) -> WarmProcess:
        """``python -m module *args`` as a fork of the helper, its stderr written to ``stderr``
        (and the loop steps it finishes noted in ``steps``: :func:`steps_noted`)."""
        request = {"op": "start", "module": module, "args": args, "stderr": str(stderr)}
        reply = self._ask({**request, "steps": steps and str(steps)})
        self.started.append(WarmProcess(self, reply["pid"]))
        return self.started[-1]

    def _ask(self, request: dict) -> dict:
        self.helper.stdin.write(json.dumps(request) + "\n")
        self.helper.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        line = self.helper.stdout.readline()
        assert line, "the warm-start helper ended"
        return json.loads(line)

    def __enter__(self) -> WarmStarter:
        return self

    def __exit__(self, *exc) -> None:
        for child in self.started:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()
        self.helper.stdin.close()
        self.helper.wait(timeout=30)


def _serve(preload: list[str]) -> None:
    for name in preload:  # a module, or module:function to call once imported
        module, _, warm = name.partition(":")
        loaded = importlib.import_module(module)
        if warm:
            getattr(loaded, warm)()
    _answer({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "start":
            pid = os.fork()
            if pid == 0:
                _run_child(request)  # never returns
            _answer({"pid": pid})
        else:  # poll: reap the child if it has ended
            pid, status = os.waitpid(request["pid"], os.WNOHANG)
            _answer({"returncode": os.waitstatus_to_exitcode(status) if pid else None})


def _answer(reply: dict) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()  # nothing buffered is left for a fork to write twice


def _run_child(request: dict) -> None:
    """Run ``request``'s module as ``__main__`` in this fork, then end the process."""
    code = 1
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        stdout = os.open(os.devnull, os.O_WRONLY)
        stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        if request["steps"]:
            _note_steps(request["steps"])
        sys.argv = [request["module"], *request["args"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def warm_calendar() -> None:
    """Build the NYSE's holiday rules and its sessions of 2012 and 2013 (the samples' years),
    which every loop would otherwise build as it starts: a second, the same each time."""
    from engine.risk import sessions

    for year in (2012, 2013):
        sessions.session_on(date(year, 1, 3))


def _note_steps(path: str) -> None:
    """Have the loop's runner append a line to ``path`` for each step it finishes."""
    from engine.live import runner

    notes = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    step = runner.step_with_retries

    def noted(*args, **kwargs):
        began = time.monotonic()
        report = step(*args, **kwargs)
        # One write of one short line: whole, even when a SIGKILL follows at once.
        os.write(notes, f"{began} {time.monotonic()}\n".encode())
        return report

    runner.step_with_retries = noted


def steps_noted(path: Path) -> list[tuple[float, float]]:
    """The loop steps the commands started with ``steps=path`` have finished: (began, ended)
    each, in ``time.monotonic()`` (one clock for every process of the machine)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # whole lines: a line being written is not yet
    return [tuple(map(float, line.split())) for line in lines]


if __name__ == "__main__":
    _serve(sys.argv[1:])
