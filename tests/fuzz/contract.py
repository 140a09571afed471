"""The contract every fuzz case checks, in one place.

For any input, a polysense function either returns a result that is finite wherever its input was,
or raises a polysense error (a ``ValueError`` subclass) whose message names the argument or file at
fault. Never another exception type, never a hang (:func:`time_limit`), never NaN or Inf made from
finite input. :func:`check_one_at_a_time` holds a function to the strict form: valid arguments give
a result (a function that refuses everything fails), and one hostile argument among valid ones is
refused by its own name or accepted.
"""

from __future__ import annotations

import faulthandler
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from polysense.errors import PolysenseError

# Seconds one case may take. Generous for a loaded 2-core CI machine; a hang takes minutes.
CASE_SECONDS = 20.0


class CaseTimeout(BaseException):
    """Raised by :func:`time_limit`; a BaseException so no ``except Exception`` in the code under test hides it."""


@contextmanager
def time_limit(seconds: float = CASE_SECONDS):
    """Interrupt a case still running after ``seconds`` (SIGALRM, main thread): a hang fails the
    case; the time a finished case took is not asserted (tests never assert wall time)."""
    def _raise(signum, frame):
        raise CaseTimeout(f"case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    # SIGALRM cannot interrupt a hang inside C code (soxr, an allocator); this backstop ends the
    # process with every thread's traceback, so CI fails visibly instead of waiting for ever.
    faulthandler.dump_traceback_later(3 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def all_finite(result: Any) -> bool:
    """True when every floating tensor (or float) in ``result`` (tuples, lists, dicts, dataclasses) is finite."""
    if isinstance(result, torch.Tensor):
        if result.is_complex():
            result = torch.view_as_real(result)
        return not result.is_floating_point() or result.numel() == 0 or bool(torch.isfinite(result).all())
    if isinstance(result, float):
        return result == result and abs(result) != float("inf")
    if isinstance(result, dict):
        return all(all_finite(v) for v in result.values())
    if isinstance(result, (list, tuple)):
        return all(all_finite(v) for v in result)
    return True


def check_call(call: Callable[[], Any], names: Iterable[str], *, finite_expected: bool = True,
               seconds: float = CASE_SECONDS) -> Any:
    """Run ``call`` under the contract; ``names`` are the words an error must mention (at least one:
    the arguments or the file). Returns the result, or the polysense error raised."""
    names = [str(n) for n in names]
    try:
        with time_limit(seconds):
            result = call()
    except PolysenseError as exc:
        assert isinstance(exc, ValueError), f"{type(exc).__name__} is not a ValueError subclass: {exc}"
        message = str(exc)
        assert any(n in message for n in names), f"the message names none of {names}: {message!r}"
        return exc
    except CaseTimeout:
        raise AssertionError(f"case did not finish within {seconds} s (a hang)") from None
    except Exception as exc:  # noqa: BLE001 - the contract: no other exception type may escape
        raise AssertionError(f"raised {type(exc).__name__} instead of a polysense error: {exc}") from exc
    if finite_expected:
        assert all_finite(result), "finite input gave a NaN or Inf result"
    return result


def check_one_at_a_time(fn: Callable[..., Any], args: Sequence[Any], good: Mapping[str, Any],
                        hostile: Iterable[Any], *, also: Mapping[str, Iterable[str]] | None = None) -> None:
    """``fn(*args, **good)`` must give a finite result; then each keyword in turn takes each
    ``hostile`` value (the others stay good): the call gives a finite result or a polysense error
    whose message names that keyword (or one of ``also[keyword]``, words a user knows it by)."""
    baseline = check_call(lambda: fn(*args, **good), list(good) or ["none"])
    assert not isinstance(baseline, Exception), f"valid arguments {dict(good)} were refused: {baseline}"
    hostile = list(hostile)
    for key in good:
        for value in hostile:
            names = [key, *(also or {}).get(key, ())]
            try:
                check_call(lambda: fn(*args, **{**good, key: value}), names)
            except AssertionError as error:
                raise AssertionError(f"{key}={value!r}: {error}") from None
