"""Running a step of a command in a forked child, so that the memory it takes ends with it.

A command that reads a large file and then rebuilds the search index would otherwise start
the rebuild on the heap the file left (CPython seldom hands freed memory back), and the
rebuild's own forked builder would share those pages and count them again. The child is
forked before the step, from the app's small heap, and its result comes back pickled over a
pipe. It dies with its parent (Linux's parent-death signal): killing the command stops the
step, as it would in one process.

`stream` puts the second core to work the same way: a forked child makes the items of a
generator that needs nothing but what it inherited (parsing a file), and sends them over a
pipe while this process works on the ones before. `run(..., serve=...)` puts this process
to work for the child while it waits (registry.dbpipe: the child's statements run here).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_PR_SET_PDEATHSIG = 1


def available() -> bool:
    """Linux, no other thread in this process (a forked child gets the forking thread only,
    and a lock another thread held would stay held in it), and output streams that are
    files (the child writes its messages to the same ones)."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    try:
        sys.stdout.fileno()
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's streams in memory
        return False
    return True


def run(step: Callable[..., Any], *args: Any, serve: Callable[[Any], Any] | None = None) -> Any:
    """`step(*args)` in a forked child; what it returned. A child that failed (an
    exception, or SystemExit with another code than 0) has said why on its own stderr:
    this process then exits with its code. `serve`: this process works for the child
    meanwhile (registry.dbpipe runs its statements): the step is called with a two-way
    channel first, `serve(channel)` here, and what serve returns is the step's result,
    handed over in serve's own way."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=serve is not None)
    process = context.Process(target=_child, args=(os.getpid(), send, step, args, serve))
    process.start()  # flushes this process's output first: nothing is written twice
    send.close()
    try:
        result = serve(receive) if serve is not None else receive.recv()
    except EOFError:  # ended without a result: its exit code says how
        result = None
    except BaseException:  # e.g. interrupted: the step stops too, as in one process
        process.terminate()
        raise
    finally:
        receive.close()
        process.join()
    if process.exitcode != 0:
        raise SystemExit(process.exitcode if process.exitcode and process.exitcode > 0 else 1)
    return result


def _child(
    parent: int, send: Any, step: Callable[..., Any], args: tuple[Any, ...], serve: Any
) -> None:
    die_with(parent)
    if serve is not None:
        step(send, *args)
    else:
        send.send(step(*args))
    send.close()


def die_with(parent: int) -> None:
    """SIGKILL for this (forked) process when its parent dies."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)


def stream(produce: Callable[..., Iterable[Any]], *args: Any) -> Iterator[Any]:
    """The items of `produce(*args)`, made in a child forked now, while this process works
    on the ones before (the pipe holds a few: the child waits when it is full). The child
    must not use what it shares with this process (its database connections): it only
    computes. Its exception is raised here. Closing the iterator, or an exception here,
    stops the child."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_producer, args=(os.getpid(), send, produce, args))
    process.start()
    send.close()
    return _received(process, receive)


def _received(process: Any, receive: Any) -> Iterator[Any]:
    kind = ""
    try:
        while True:
            try:
                kind, value = receive.recv()
            except EOFError:  # killed, or failed to send its exception
                raise RuntimeError("the forked producer ended early") from None
            if kind == "end":
                break
            if kind == "error":
                raise value
            yield value
    finally:
        receive.close()
        if process.is_alive() and kind != "end":
            process.terminate()
        process.join()


def _producer(
    parent: int, send: Any, produce: Callable[..., Iterable[Any]], args: tuple[Any, ...]
) -> None:
    die_with(parent)
    try:
        for item in produce(*args):
            send.send(("item", item))
    except Exception as exc:  # raised in the parent instead
        try:
            send.send(("error", exc))
        except Exception:  # not picklable: its text
            send.send(("error", RuntimeError(repr(exc))))
    else:
        send.send(("end", None))
    send.close()
