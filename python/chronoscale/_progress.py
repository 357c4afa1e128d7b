"""Progress bars of the long calls (evaluation, batch scoring): one policy everywhere."""

from __future__ import annotations

from .ops._common import as_bool


def check(progress):
    """``progress`` as None, True or False (TypeError naming it otherwise)."""
    return None if progress is None else as_bool(progress, "progress")


class _NoBar:
    """What ``bar`` gives when none is shown: a context manager whose ``update`` does nothing
    (no tqdm object: a call that shows no bar pays nothing for one)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


def bar(total: int, progress, desc: str, unit: str, batch: int | None = None):
    """A tqdm bar over ``total`` ``unit``s (a context manager, ``update(n)``): ``progress`` True
    shows it at once, None once the work has run 2 s (short calls stay silent), False never.
    It is removed when done (``leave=False``). ``batch``: the work goes in batches of this many
    units; a single batch has nothing to follow, so None shows no bar then."""
    if progress is False or (progress is None and batch is not None and total <= batch):
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, delay=0.0 if progress else 2.0)
