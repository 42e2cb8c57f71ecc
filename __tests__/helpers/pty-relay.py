"""Runs a command in a pseudo-terminal and relays it: the pty's output to our stdout, our stdin to
the pty (as typed keys). Exits with the command's exit code. Tests use it to drive prompts that
only behave like the real thing on a TTY (hidden password input, raw mode).

Usage: python3 pty-relay.py <command> [args...]
"""
import os
import pty
import select
import sys

pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

stdin = sys.stdin.fileno()
stdin_open = True
out = sys.stdout.buffer
while True:
    watched = [master] + ([stdin] if stdin_open else [])
    ready, _, _ = select.select(watched, [], [])
    if master in ready:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            break
        out.write(data)
        out.flush()
    if stdin_open and stdin in ready:
        data = os.read(stdin, 4096)
        if data:
            os.write(master, data)
        else:
            stdin_open = False

_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
