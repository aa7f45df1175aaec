"""Runs one page's code blocks in order, as a reader would: Python blocks in one namespace,
shell lines through bash, in the current folder. Called by test_docs.py in a child process.

    python driver.py steps.json setup.py

A `pip install` line is skipped (the suite has installed modelpack already, from this tree);
a `modelpack serve` line is started, asked for /health, and stopped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request


def shell(line: str, where: str) -> None:
    if line.startswith("pip install"):
        return
    if line.startswith("modelpack serve"):
        serve(line, where)
        return
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{where}: `{line}` exited with {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")


def serve(line: str, where: str) -> None:
    args = shlex.split(line)
    port = int(args[args.index("--port") + 1]) if "--port" in args else 8000
    proc = subprocess.Popen(["bash", "-c", "exec " + line], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{where}: `{line}` exited: {proc.stdout.read()[-1500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{where}: `{line}` did not answer /health in 60 s")
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    steps = json.loads(open(sys.argv[1]).read())
    namespace: dict = {"__name__": "__docs__"}
    setup = open(sys.argv[2]).read()
    exec(compile(setup, "setup", "exec"), namespace)
    for step in steps:
        if step["lang"] == "python":
            print(f"--- {step['where']}", flush=True)
            code = "\n" * (step["line"]) + step["code"]  # tracebacks name the page's own line numbers
            exec(compile(code, step["page"], "exec"), namespace)
        else:
            for number, line in enumerate(step["code"].splitlines()):
                command = re.sub(r"\s+#.*$", "", line).strip()
                if command and not command.startswith("#"):
                    print(f"--- {step['page']}:{step['line'] + number + 1}: {command}", flush=True)
                    shell(command, f"{step['page']}:{step['line'] + number + 1}")
    os.environ.pop("MODELPACK_DOCS", None)


if __name__ == "__main__":
    main()
