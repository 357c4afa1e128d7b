"""The forecasting task behind ``chronoscale train/evaluate/forecast``: regular per-entity series
from an interaction log, causal input windows, a temporal hold-out, the multi-scale forecaster
and its baselines.

Series: one per user (or per item, ``series_by="item"``): the sum of ``value`` (or the number of
events, ``what="count"``) in each ``period`` (``"1h"``, ``"7d"``...). A forecast made at origin
``o`` (a period boundary) sees the ``history`` periods ``o - history .. o - 1`` and predicts the
``horizon`` periods ``o .. o + horizon - 1``.

Hold-out (no leakage): the last ``horizon`` periods are the test targets (origin
``P - horizon``), the ``horizon`` periods before them the validation targets; training windows
are every ``stride`` periods with targets ending at or before the validation origin. The input
scaling (mean/std of the transformed series) comes from the training periods only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..data import Interactions, period_seconds, user_series
from ..ops._common import check_int
from .config import describe

TRANSFORMS = ("log1p", "none")
#: most input values one ``SeriesTask.windows`` call builds (1 GiB of float32)
MAX_WINDOW_VALUES = 2**28


@dataclass
class SeriesTask:
    """How series, windows and features are built (saved with a trained forecaster)."""

    series_by: str = "user"
    period: str = "1d"
    what: str = "value"
    extra: str | None = None
    history: int = 28
    horizon: int = 7
    stride: int = 1
    transform: str = "log1p"
    calendar: bool = True
    max_train_windows: int | None = None
    seed: int = 0
    mean: float = 0.0
    std: float = 1.0
    start: int | None = None
    extra_meta: dict = field(default_factory=dict)

    def check(self) -> SeriesTask:
        if self.series_by not in ("user", "item"):
            raise ValueError(f"series_by must be 'user' or 'item', got {self.series_by!r}")
        if self.what not in ("value", "count"):
            raise ValueError(f"what must be 'value' or 'count', got {self.what!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        for name in ("history", "horizon", "stride", "max_train_windows"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), f"forecast.{name}")  # (never truncated)
        try:
            period_seconds(self.period)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{describe('forecast.period')}: {exc}") from None
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SeriesTask:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown forecast settings {unknown}; known: {sorted(known)}")
        return cls(**d).check()

    # -- series ----------------------------------------------------------------------------------
    def series(self, x: Interactions):
        """``(series [N, P] float64, period_starts [P] int64, entity_ids [N])``."""
        if self.series_by == "item":
            from dataclasses import replace

            x = replace(x, user=x.item, user_ids=x.item_ids)
        s, starts = user_series(x, self.period, what=self.what, extra=self.extra,
                                start=self.start)
        return s, starts, x.user_ids

    def forward_transform(self, v):
        v = np.asarray(v, np.float64)
        return np.log1p(np.maximum(v, 0.0)) if self.transform == "log1p" else v

    def inverse_transform(self, v):
        v = np.asarray(v, np.float64)
        return np.expm1(v) if self.transform == "log1p" else v

    def scale(self, v):
        return (self.forward_transform(v) - self.mean) / self.std

    def unscale(self, z):
        return self.inverse_transform(np.asarray(z, np.float64) * self.std + self.mean)

    def fit_scaling(self, series, end: int) -> None:
        """Mean / std of the transformed series over periods ``< end`` (training data only)."""
        t = self.forward_transform(series[:, :end])
        self.mean = float(t.mean())
        self.std = float(t.std()) or 1.0

    # -- windows ---------------------------------------------------------------------------------
    def calendar_features(self, starts):
        """``[P, C]`` calendar features of period starts (hour / weekday on the unit circle, as
        far as the period resolves them)."""
        p = period_seconds(self.period)
        cols = []
        if self.calendar and p < 86400:
            h = (starts % 86400) / 86400.0
            cols += [np.sin(2 * np.pi * h), np.cos(2 * np.pi * h)]
        if self.calendar and p < 7 * 86400:
            d = ((starts // 86400 + 3) % 7) / 7.0  # 1970-01-01 was a Thursday: Monday = 0
            cols += [np.sin(2 * np.pi * d), np.cos(2 * np.pi * d)]
        return np.stack(cols, axis=1) if cols else np.zeros((len(starts), 0))

    def windows(self, series, starts, origins, rows=None, keep=None, training=False):
        """Inputs for forecasts at ``origins`` (period indices, each ``>= history``) for every
        series (or ``rows``): ``X [B, L, 1 + C]`` float32, timestamps ``[B, L]`` int64 (period
        starts), and ``y [B, H]`` (scaled targets; NaN where the target lies past the data).
        Row order: origin-major; ``keep`` (sorted indices into that order) builds only those
        windows. Also returns ``(series_row [B], origin [B])``.

        Raises:
            ValueError: an origin outside ``[history, P]``; more than ``MAX_WINDOW_VALUES``
                input values (checked before the windows are built; the message names the
                settings that shrink them, the training ones with ``training``).
        """
        L, H = int(self.history), int(self.horizon)
        origins = np.asarray(origins, np.int64)
        rows = np.arange(series.shape[0]) if rows is None else np.asarray(rows, np.int64)
        if origins.size and (origins.min() < L or origins.max() > series.shape[1]):
            raise ValueError(f"origins must lie in [{L}, {series.shape[1]}] (history={L} "
                             f"periods of {series.shape[1]}); lower history or add data")
        cal_all = self.calendar_features(starts).astype(np.float32)
        n = len(rows) * len(origins) if keep is None else len(keep)
        values = n * L * (1 + cal_all.shape[1])
        if values > MAX_WINDOW_VALUES:
            shrink = (f"set {describe('forecast.max_train_windows')} (e.g. 200000), a larger "
                      f"{describe('forecast.stride')}" if training else
                      "forecast fewer series at once")
            raise ValueError(
                f"{n:,} windows of {L} periods x {1 + cal_all.shape[1]} inputs are {values:,} "
                f"values, above MAX_WINDOW_VALUES = {MAX_WINDOW_VALUES:,}: {shrink}, a shorter "
                f"{describe('forecast.history')} or a longer {describe('forecast.period')}")
        if keep is None:
            r, o = np.tile(rows, len(origins)), np.repeat(origins, len(rows))
        else:
            r, o = rows[keep % len(rows)], origins[keep // len(rows)]
        steps = o[:, None] - L + np.arange(L)[None, :]
        X = np.empty((len(r), L, 1 + cal_all.shape[1]), np.float32)  # built in place
        X[..., 0] = self.scale(series[r[:, None], steps])
        X[..., 1:] = cal_all[steps]
        ts = starts[steps].astype(np.int64)
        tgt = o[:, None] + np.arange(H)[None, :]
        ok = tgt < series.shape[1]
        y = np.full((len(r), H), np.nan)
        y[ok] = self.scale(series[np.broadcast_to(r[:, None], tgt.shape)[ok], tgt[ok]])
        return X, ts, y, r, o

    def origins(self, P: int) -> dict:
        """Origins of the hold-out: ``{"train": [...], "valid": o_v, "test": o_t}``."""
        L, H = int(self.history), int(self.horizon)
        test = P - H
        valid = test - H
        train = np.arange(L, valid - H + 1, int(self.stride))
        if len(train) == 0:
            need = L + 3 * H
            raise ValueError(
                f"the data has {P} periods of {self.period}; history={L} and horizon={H} need "
                f"at least {need} (history + 3 horizons: train, valid, test)")
        return {"train": train, "valid": valid, "test": test}

    def train_windows(self, series, starts, origins):
        """The training windows at ``origins`` for every series; with ``max_train_windows``
        a seeded sample of that many, drawn before any window is built."""
        n, keep = len(origins) * series.shape[0], None
        if self.max_train_windows is not None and n > int(self.max_train_windows):
            keep = np.sort(np.random.default_rng(self.seed).choice(
                n, int(self.max_train_windows), replace=False))
        return self.windows(series, starts, origins, keep=keep, training=True)
