"""The registry of artifacts: one record per asset the pipeline stores, and everything else derives
from it (column orders, dtypes, dagster-pandas types, column schemas, contract rules, code versions,
job selections, the Dagster assets themselves). README "Adding a label artifact" walks through it.

No Dagster and no pandas here: the records are plain data, and the builders they name are imported
only when a step runs (``Artifact.builder``), so reading the registry costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Grain = Literal["run", "run_symbol"]
Layer = Literal["input", "label"]
RUN: Grain = "run"
RUN_SYMBOL: Grain = "run_symbol"
INPUT: Layer = "input"
LABEL: Layer = "label"

# Column kinds: the reference's dtype contract. Pass-through columns (ids, splits, raw inputs) keep
# whatever dtype the feature or replay file gives them, so they are only required to exist.
FLAG = "int8 flag"
INT64 = "int64"
FLOAT = "float64"
TEXT = "string"
UTC_TIME = "datetime (UTC)"
ANY = "as in input"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    description: str
    categories: frozenset[str] | None = None  # the only values a text column may hold


@dataclass(frozen=True)
class Artifact:
    """One stored asset.

    ``build`` names the pure builder (``module:function``) that computes it from a
    ``label_pipeline.labels.step.StepInputs``; artifacts naming the same builder are computed in one
    step (one Dagster multi-asset) and share its report. ``reads`` are the upstream assets the step
    loads. ``rules`` are the ``label_contract`` rules evaluated on every materialization.
    """

    name: str
    grain: Grain
    layer: Layer
    description: str
    columns: tuple[Column, ...]
    type_name: str
    optional_columns: tuple[Column, ...] = ()
    strict: bool = True  # the column set and order are enforced (inputs may carry extra columns)
    target_column: str | None = None
    rules: tuple[str, ...] = ()
    build: str | None = None
    reads: tuple[str, ...] = ()
    # "chunk": the builder is a function run on every chunk of the single pass; "partition": a
    # class (labels/accumulate.py) that sees every chunk and gives its rows at the end
    scope: Literal["chunk", "partition"] = "chunk"
    in_reference: bool = True  # one of the reference's artifacts (parity holds for it byte for byte)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for column in (*self.columns, *self.optional_columns):
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    def builder(self) -> Callable[..., Any]:
        """The builder function, imported on first use."""
        if self.build is None:
            raise ValueError(f"{self.name} has no builder")
        module, _, function = self.build.partition(":")
        return getattr(importlib.import_module(module), function)


def _c(name: str, kind: str, description: str, categories: set[str] | None = None) -> Column:
    return Column(name, kind, description, frozenset(categories) if categories else None)


# Columns several artifacts share, described once.
SAMPLE_ID = _c("sample_id", ANY, "the feature row's id, as in the feature frame")
SYMBOL = _c("symbol", TEXT, "the instrument, as in the input files")
EVENT_TIME = _c("event_time", UTC_TIME, "the feature row's bar time (UTC); the label looks forward from it")
OPEN_TIME_MS = _c("open_time_ms", INT64, "the bar's open time in epoch milliseconds")
SPLIT_ID = _c("split_id", ANY, "the feature row's split (train / validation / test), as in the feature frame")
FOLD = _c("walk_forward_fold", ANY, "the feature row's walk-forward fold, as in the feature frame")
LABEL_VERSION_COL = _c("label_version", TEXT, "the label definitions' version (REFERENCE_LABEL_V1)")
SPREAD_BPS = _c("spread_bps", ANY, "bid-ask spread in bps of the price")
_HEAD = (SAMPLE_ID, SYMBOL, EVENT_TIME)
_TAIL = (SPLIT_ID, FOLD, LABEL_VERSION_COL)

_BASE_RULES = ("schema", "targets_binary", "targets_not_null")
_PATH_RULES = ("side_long_short", "time_to_barrier_range", "one_outcome_per_row", "one_price_plan")

FEATURE_COLUMNS = (
    SAMPLE_ID,
    SYMBOL,
    EVENT_TIME,
    OPEN_TIME_MS,
    SPLIT_ID,
    FOLD,
    SPREAD_BPS,
    _c("spread_rank_24h_pct", ANY, "the spread's rank over the last 24 h, a fraction in [0, 1]"),
    _c("realized_vol_15m_bps", ANY, "realized volatility over the last 15 minutes, in bps"),
)
FEATURE_OPTIONAL_COLUMNS = (_c("ret_15m_bps", ANY, "return over the last 15 minutes, in bps"),)
REPLAY_COLUMNS = (
    SYMBOL,
    _c("event_time", UTC_TIME, "the bar's time (UTC)"),
    OPEN_TIME_MS,
    _c("open", ANY, "the bar's first price"),
    _c("high", ANY, "the bar's highest price"),
    _c("low", ANY, "the bar's lowest price"),
    _c("close", ANY, "the bar's last price"),
    SPREAD_BPS,
)

ENTRY_COLUMNS = (
    *_HEAD,
    _c(
        "side", TEXT, "the trade's direction; every feature row has a LONG and a SHORT row", {"LONG", "SHORT"}
    ),
    _c("price_plan_id", TEXT, "the price plan the barriers come from"),
    _c(
        "price_plan_hash",
        TEXT,
        "hash of the plan's entry settings, costs and method (the run's price_plan_context)",
    ),
    _c("target_hit", FLAG, "1 if the target barrier was crossed first within max_hold_minutes"),
    _c("stop_hit", FLAG, "1 if the stop barrier was crossed first (a bar crossing both counts as stop)"),
    _c("timeout_hit", FLAG, "1 if neither barrier was crossed within max_hold_minutes"),
    _c("ambiguous_hit", FLAG, "1 if target and stop were first crossed in the same bar (stop wins)"),
    _c("time_to_target_ms", INT64, "(bars to the target hit) x 60,000 ms; -1 unless the target won"),
    _c("time_to_stop_ms", INT64, "(bars to the stop hit) x 60,000 ms; -1 unless the stop won"),
    _c(
        "gross_edge_bps",
        FLOAT,
        "the trade's outcome before costs: +target, -stop, or the horizon return on timeout (bps)",
    ),
    _c(
        "future_return_bps",
        FLOAT,
        "return from the entry close to the close max_hold_minutes later, in the side's favour (bps)",
    ),
    _c(
        "mfe_bps",
        FLOAT,
        "maximum favourable excursion: best move in the side's favour over the whole holding window (bps of the entry close)",
    ),
    _c(
        "mae_bps",
        FLOAT,
        "maximum adverse excursion: worst move against the side over the whole holding window (bps of the entry close)",
    ),
    _c("max_achievable_gross_edge_bps", FLOAT, "= mfe_bps: the best exit's edge before costs (bps)"),
    _c("max_achievable_net_edge_bps", FLOAT, "mfe_bps - cost_bps (bps)"),
    _c("cost_bps", FLOAT, "fee + slippage + funding of the cost config (bps)"),
    _c("expected_net_edge_bps", FLOAT, "= max_achievable_net_edge_bps (MAX_FUTURE_EDGE_V1)"),
    _c("entry_target", FLAG, "1 if max_achievable_net_edge_bps >= min_expected_net_edge_bps: worth entering"),
    _c("label_method", TEXT, "the entry label's method (MAX_FUTURE_EDGE_V1)"),
    *_TAIL,
)

ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        name="feature_frame",
        grain=RUN_SYMBOL,
        layer=INPUT,
        type_name="FeatureFrame",
        description="One symbol's rows of {run}/feature/feature_frame.parquet, in file order, event_time in UTC.",
        columns=FEATURE_COLUMNS,
        optional_columns=FEATURE_OPTIONAL_COLUMNS,
        strict=False,
    ),
    Artifact(
        name="replay_1m",
        grain=RUN_SYMBOL,
        layer=INPUT,
        type_name="ReplayFrame",
        description="One symbol's 1-minute bars of {run}/replay/replay_1m.parquet, stably sorted by event_time.",
        columns=REPLAY_COLUMNS,
    ),
    Artifact(
        name="price_plan_context",
        grain=RUN,
        layer=LABEL,
        type_name="PricePlanContext",
        description="The run's price plan: barriers, holding time, costs and the plan hash entry labels carry.",
        columns=(
            _c("price_plan_id", TEXT, "the plan's id (LABEL_PIPELINE_PRICE_PLAN_ID)"),
            _c(
                "price_plan_hash",
                TEXT,
                "sha256 of the entry config, cost config and entry method, as the reference computes it",
            ),
            _c("target_bps", FLOAT, "distance of the target barrier from the entry close (bps)"),
            _c("stop_bps", FLOAT, "distance of the stop barrier from the entry close (bps)"),
            _c("max_hold_minutes", INT64, "the holding window of entry labels (minutes)"),
            _c("min_expected_net_edge_bps", FLOAT, "net edge an entry must reach to be labelled 1 (bps)"),
            _c("cost_bps", FLOAT, "fee + slippage + funding (bps)"),
            _c("entry_label_method", TEXT, "the entry label's method (MAX_FUTURE_EDGE_V1)"),
        ),
        rules=("schema", "one_row"),
        build="label_pipeline.labels.price_plan:price_plan_step",
    ),
    Artifact(
        name="direction_labels",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="DirectionLabels",
        description="LONG / SHORT / NEUTRAL by the close-to-close return over the direction horizon.",
        columns=(
            *_HEAD,
            _c("horizon_minutes", INT64, "the direction horizon H (minutes)"),
            _c("future_return_bps", FLOAT, "close at t + H over close at t, minus 1, in bps"),
            _c(
                "direction_label",
                TEXT,
                "LONG if future_return_bps >= long_threshold_bps, SHORT if <= short_threshold_bps, else NEUTRAL",
                {"LONG", "SHORT", "NEUTRAL"},
            ),
            _c("long_target", FLAG, "1 if direction_label is LONG"),
            _c("short_target", FLAG, "1 if direction_label is SHORT"),
            _c("neutral_target", FLAG, "1 if direction_label is NEUTRAL"),
            *_TAIL,
        ),
        target_column="direction_label",
        rules=(*_BASE_RULES, "label_version"),
        build="label_pipeline.labels.direction:direction_step",
        reads=("feature_frame", "replay_1m"),
    ),
    Artifact(
        name="entry_labels",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="EntryLabels",
        description="Target/stop first hit, MFE/MAE and the MAX_FUTURE_EDGE_V1 entry target, both sides.",
        columns=ENTRY_COLUMNS,
        target_column="entry_target",
        rules=(*_BASE_RULES, *_PATH_RULES, "label_version"),
        build="label_pipeline.labels.entry:entry_step",
        reads=("feature_frame", "replay_1m", "price_plan_context"),
    ),
    Artifact(
        name="position_state_samples",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="PositionStateSamples",
        description="Entry rows with entry_target == 1, as positions of age 0.",
        columns=(
            *ENTRY_COLUMNS,
            _c("position_age_minutes", INT64, "minutes since entry: 0 for a new position"),
            _c("unrealized_pnl_bps", FLOAT, "the position's open P&L: 0 at entry (bps)"),
        ),
        target_column="entry_target",
        rules=(*_BASE_RULES, *_PATH_RULES, "rows_match_entry_labels", "label_version"),
        build="label_pipeline.labels.position:position_step",
        reads=("entry_labels",),
    ),
    Artifact(
        name="continue_labels",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="ContinueLabels",
        description="Whether holding on for the continue horizon still pays, per side, at the price plan's stop.",
        columns=(
            *_HEAD,
            _c(
                "long_continue_target",
                FLAG,
                "1 if long_expected_continue_edge_bps >= min_expected_continue_edge_bps and the LONG MAE stays below the plan's stop",
            ),
            _c(
                "short_continue_target",
                FLAG,
                "1 if short_expected_continue_edge_bps >= min_expected_continue_edge_bps and the SHORT MAE stays below the plan's stop",
            ),
            _c(
                "long_expected_continue_edge_bps",
                FLOAT,
                "LONG return over the continue horizon minus cost_bps (bps)",
            ),
            _c(
                "short_expected_continue_edge_bps",
                FLOAT,
                "SHORT return over the continue horizon minus cost_bps (bps)",
            ),
            *_TAIL,
        ),
        target_column="long_continue_target",
        rules=(*_BASE_RULES, "label_version"),
        build="label_pipeline.labels.continue_exit_risk:continue_exit_risk_step",
        reads=("feature_frame", "replay_1m", "price_plan_context"),
    ),
    Artifact(
        name="exit_labels",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="ExitLabels",
        description="Whether to leave a position now, per side: the plan's stop is hit or the adverse move is too large.",
        columns=(
            *_HEAD,
            _c(
                "long_exit_target", FLAG, "1 if the LONG stop is hit or the LONG MAE >= exit.adverse_move_bps"
            ),
            _c(
                "short_exit_target",
                FLAG,
                "1 if the SHORT stop is hit or the SHORT MAE >= exit.adverse_move_bps",
            ),
            _c("long_adverse_move_bps", FLOAT, "LONG MAE over the continue horizon (bps)"),
            _c("short_adverse_move_bps", FLOAT, "SHORT MAE over the continue horizon (bps)"),
            _c("adverse_move_prob_label", FLAG, "1 if the larger of the two MAEs >= exit.adverse_move_bps"),
            _c(
                "reversal_prob_label",
                FLAG,
                "1 if the future LONG return's sign differs from ret_15m_bps's; 0 without ret_15m_bps",
            ),
            _c("stop_hit_prob_label", FLAG, "1 if either side's stop is hit"),
            _c("stagnation_prob_label", FLAG, "1 if |LONG future return| <= exit.stagnation_abs_return_bps"),
            *_TAIL,
        ),
        target_column="long_exit_target",
        rules=(*_BASE_RULES, "label_version"),
        build="label_pipeline.labels.continue_exit_risk:continue_exit_risk_step",
        reads=("feature_frame", "replay_1m", "price_plan_context"),
    ),
    Artifact(
        name="risk_labels",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="RiskLabels",
        description="Market and position risk over the continue horizon: drawdown, volatility expansion, spikes, liquidity.",
        columns=(
            *_HEAD,
            _c("market_risk_target", FLAG, "1 if market_path_risk_bps >= risk.market_drawdown_bps"),
            _c(
                "market_path_risk_bps",
                FLOAT,
                "the larger of the LONG and SHORT MAE over the continue horizon (bps)",
            ),
            _c("long_position_path_risk_bps", FLOAT, "LONG MAE over the continue horizon (bps)"),
            _c("short_position_path_risk_bps", FLOAT, "SHORT MAE over the continue horizon (bps)"),
            _c("long_position_risk_target", FLAG, "1 if the LONG MAE >= the plan's stop"),
            _c("short_position_risk_target", FLAG, "1 if the SHORT MAE >= the plan's stop"),
            _c("market_drawdown_prob_label", FLAG, "1 if market_path_risk_bps >= risk.market_drawdown_bps"),
            _c(
                "volatility_expansion_prob_label",
                FLAG,
                "1 if the future realized vol >= risk.vol_expansion_ratio x max(realized_vol_15m_bps, 1)",
            ),
            _c("spike_prob_label", FLAG, "1 if the largest MFE or MAE of either side >= risk.spike_bps"),
            _c("liquidity_deterioration_prob_label", FLAG, "1 if spread_rank_24h_pct >= 0.90"),
            _c("position_drawdown_prob_label", FLAG, "1 if market_path_risk_bps >= the plan's stop"),
            *_TAIL,
        ),
        target_column="market_risk_target",
        rules=(*_BASE_RULES, "label_version"),
        build="label_pipeline.labels.continue_exit_risk:continue_exit_risk_step",
        reads=("feature_frame", "replay_1m", "price_plan_context"),
    ),
    Artifact(
        name="label_windows",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="LabelWindows",
        description="Per feature row and label family: labelled or not, where the label window ends, whether it "
        "crosses a split or fold boundary, and its average uniqueness (a sample weight). Not in the reference.",
        columns=(
            SAMPLE_ID,
            EVENT_TIME,
            SPLIT_ID,
            FOLD,
            *(
                column
                for family, horizon in (
                    ("direction", "direction.horizon_minutes"),
                    ("entry", "entry.max_hold_minutes"),
                    ("continue", "continue.horizon_minutes"),
                )
                for column in (
                    _c(
                        f"{family}_labelled",
                        FLAG,
                        f"1 if the row has a {family} label (a row with its sample_id)",
                    ),
                    _c(
                        f"{family}_label_end",
                        UTC_TIME,
                        f"event_time + (H + 1) minutes, H = {horizon}: the close of the window's last bar; NaT if not labelled",
                    ),
                    _c(
                        f"{family}_crosses_split",
                        FLAG,
                        f"1 if a feature row within H = {horizon} minutes after this one has another split_id (leakage)",
                    ),
                    _c(
                        f"{family}_crosses_fold",
                        FLAG,
                        f"1 if a feature row within H = {horizon} minutes after this one has another walk_forward_fold",
                    ),
                    _c(
                        f"{family}_avg_uniqueness",
                        FLOAT,
                        "mean of 1/c(m) over the window's minutes, c(m) the labelled rows whose window holds m "
                        "(AFML average uniqueness, a sample weight); NaN if not labelled",
                    ),
                )
            ),
        ),
        rules=_BASE_RULES,
        build="label_pipeline.labels.accumulate:LabelWindows",
        in_reference=False,
        reads=(
            "feature_frame",
            "replay_1m",
            "price_plan_context",
            "direction_labels",
            "entry_labels",
            "continue_labels",
        ),
        scope="partition",
    ),
    Artifact(
        name="price_plan_sweep",
        grain=RUN_SYMBOL,
        layer=LABEL,
        type_name="PricePlanSweep",
        description="The config's grid of price plans (target x stop x hold) evaluated in one pass: per plan, side "
        "and split, what that plan's entry labels would give. Not in the reference.",
        columns=(
            _c("target_bps", FLOAT, "the plan's target distance (bps)"),
            _c("stop_bps", FLOAT, "the plan's stop distance (bps)"),
            _c("max_hold_minutes", INT64, "the plan's holding window (minutes)"),
            _c("side", TEXT, "LONG or SHORT", {"LONG", "SHORT"}),
            SPLIT_ID,
            _c("rows", INT64, "entry label rows of this side and split under the plan"),
            _c("target_rate", FLOAT, "share of rows whose target was hit first"),
            _c("stop_rate", FLOAT, "share of rows whose stop was hit first (ties count as stop)"),
            _c("timeout_rate", FLOAT, "share of rows that hit neither barrier"),
            _c("ambiguous_rate", FLOAT, "share of rows that crossed both barriers in the same bar"),
            _c("mean_gross_edge_bps", FLOAT, "mean of +target / -stop / the horizon return on timeout (bps)"),
            _c("mean_net_edge_bps", FLOAT, "mean_gross_edge_bps - cost_bps (bps)"),
            _c(
                "entry_target_rate",
                FLOAT,
                "share of rows with mfe_bps - cost_bps >= min_expected_net_edge_bps",
            ),
            _c(
                "median_time_to_target_ms",
                FLOAT,
                "median time to the target over the rows that hit it; NaN if none",
            ),
            _c(
                "median_time_to_stop_ms",
                FLOAT,
                "median time to the stop over the rows that hit it; NaN if none",
            ),
            LABEL_VERSION_COL,
        ),
        rules=("schema", "label_version"),
        build="label_pipeline.labels.accumulate:PricePlanSweep",
        in_reference=False,
        reads=("feature_frame", "replay_1m"),
        scope="partition",
    ),
)

BY_NAME: dict[str, Artifact] = {a.name: a for a in ARTIFACTS}
INPUT_ARTIFACTS: tuple[Artifact, ...] = tuple(a for a in ARTIFACTS if a.layer == INPUT)
LABEL_ARTIFACTS: tuple[Artifact, ...] = tuple(a for a in ARTIFACTS if a.layer == LABEL)


def artifact(name: str) -> Artifact:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no artifact {name!r}; the registry holds {list(BY_NAME)}") from None


def at_grain(grain: Grain) -> tuple[Artifact, ...]:
    """Every artifact of one grain, inputs first: what one job materializes per partition."""
    return tuple(a for a in ARTIFACTS if a.grain == grain)


def steps(grain: Grain) -> dict[str, tuple[Artifact, ...]]:
    """The label artifacts of ``grain`` grouped by builder, in registry order: one step each."""
    grouped: dict[str, list[Artifact]] = {}
    for a in LABEL_ARTIFACTS:
        if a.grain == grain and a.build:
            grouped.setdefault(a.build, []).append(a)
    return {build: tuple(arts) for build, arts in grouped.items()}
