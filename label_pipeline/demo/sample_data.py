"""A realistic sample run: a few symbols of 1-minute bars with the defects real feeds have.

Used by the demo, the tests and the benchmarks. Bars follow a random walk with per-minute
volatility near 1 bp, intrabar ranges, and spreads of a few bps; gaps (missing minutes), NaN
closes and NaN spreads are sprinkled in, as exchanges and recorders drop them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from label_pipeline.inputs import FEATURE_RELPATH, REPLAY_RELPATH
from label_pipeline.kernel.units import MINUTE_MS

DEFAULT_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Messiness:
    """Which defects to put into the data (all off gives a clean run)."""

    gap_fraction: float = 0.0
    nan_close_fraction: float = 0.0
    nan_spread_fraction: float = 0.0
    nan_high_low_fraction: float = 0.0
    shuffle: bool = False
    naive_event_time: bool = False
    feature_fraction: float = 1.0


CLEAN = Messiness()
REALISTIC = Messiness(gap_fraction=0.002, nan_close_fraction=0.0005, nan_spread_fraction=0.002)


def symbol_bars(
    symbol: str,
    n_bars: int,
    rng: np.random.Generator,
    start_ms: int = DEFAULT_START_MS,
    price0: float = 100.0,
) -> pd.DataFrame:
    """Contiguous clean bars for one symbol."""
    open_ms = start_ms + np.arange(n_bars, dtype="int64") * MINUTE_MS
    log_ret = rng.normal(0.0, 1.0e-4 * rng.uniform(0.6, 1.8), n_bars)
    close = price0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([price0], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 0.6e-4, (2, n_bars))) * close
    high = np.maximum(open_, close) + wiggle[0]
    low = np.minimum(open_, close) - wiggle[1]
    spread = np.round(rng.gamma(4.0, 0.5, n_bars), 3)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "event_time": pd.to_datetime(open_ms, unit="ms", utc=True),
            "open_time_ms": open_ms,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.gamma(2.0, 10.0, n_bars),
            "spread_bps": spread,
        }
    )


def features_for(bars: pd.DataFrame, rng: np.random.Generator, fraction: float = 1.0) -> pd.DataFrame:
    """Feature rows for (a fraction of) the bars, with the columns the reference reads."""
    close = bars["close"].to_numpy()
    ret_15 = np.full(len(close), np.nan)
    if len(close) > 15:
        ret_15[15:] = (close[15:] / close[:-15] - 1.0) * 10000.0
    log_ret = np.diff(np.log(close), prepend=np.nan)
    vol_15 = pd.Series(log_ret).rolling(15, min_periods=2).std().to_numpy() * 10000.0
    n = len(bars)
    days = (
        (bars["open_time_ms"].to_numpy() - bars["open_time_ms"].min()) // 86_400_000
        if n
        else np.array([], dtype="int64")
    )
    frame = pd.DataFrame(
        {
            "sample_id": [f"{s}:{t}" for s, t in zip(bars["symbol"], bars["open_time_ms"], strict=True)],
            "symbol": bars["symbol"].to_numpy(),
            "event_time": bars["event_time"].to_numpy(),
            "open_time_ms": bars["open_time_ms"].to_numpy(),
            "split_id": np.where(days % 5 == 4, "valid", "train"),
            "walk_forward_fold": (days // 2).astype("int64"),
            "data_quality_flag": "OK",
            "spread_bps": bars["spread_bps"].to_numpy(),
            "spread_rank_24h_pct": np.round(rng.uniform(0.0, 1.0, n), 4),
            "realized_vol_15m_bps": vol_15,
            "ret_15m_bps": ret_15,
        }
    )
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    if fraction < 1.0:
        frame = frame[rng.uniform(size=n) < fraction]
    return frame.reset_index(drop=True)


def make_run_frames(
    symbols: list[str], n_bars: int, seed: int = 7, messiness: Messiness = REALISTIC
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature_frame, replay_1m) for all symbols of one run, with the requested defects."""
    rng = np.random.default_rng(seed)
    replays, features = [], []
    for i, symbol in enumerate(symbols):
        bars = symbol_bars(symbol, n_bars, rng, price0=50.0 * (i + 1))
        feats = features_for(bars, rng, messiness.feature_fraction)
        if messiness.gap_fraction > 0:
            bars = bars[rng.uniform(size=len(bars)) >= messiness.gap_fraction]
        bars = bars.copy()
        for column, fraction in (
            ("close", messiness.nan_close_fraction),
            ("spread_bps", messiness.nan_spread_fraction),
        ):
            if fraction > 0:
                bars.loc[rng.uniform(size=len(bars)) < fraction, column] = np.nan
        if messiness.nan_high_low_fraction > 0:
            for column in ("high", "low"):
                bars.loc[rng.uniform(size=len(bars)) < messiness.nan_high_low_fraction, column] = np.nan
        replays.append(bars)
        features.append(feats)
    replay = pd.concat(replays, ignore_index=True)
    feature = pd.concat(features, ignore_index=True)
    if messiness.shuffle:
        replay = replay.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        feature = feature.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    if messiness.naive_event_time:
        replay["event_time"] = replay["event_time"].dt.tz_localize(None)
        feature["event_time"] = feature["event_time"].dt.tz_localize(None)
    return feature, replay


def write_run(root: str | os.PathLike[str], run_id: str, feature: pd.DataFrame, replay: pd.DataFrame) -> Path:
    """Write a run directory in the reference's layout; returns the run directory."""
    run_dir = Path(root) / run_id
    for frame, rel in ((feature, FEATURE_RELPATH), (replay, REPLAY_RELPATH)):
        path = run_dir.joinpath(*rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    return run_dir


def generate_sample_run(
    root: str | os.PathLike[str],
    run_id: str = "sample_run",
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT"),
    days: int = 3,
    seed: int = 7,
    messiness: Messiness = REALISTIC,
) -> Path:
    feature, replay = make_run_frames(list(symbols), days * 1440, seed, messiness)
    return write_run(root, run_id, feature, replay)
