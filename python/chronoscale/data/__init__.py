"""Interaction data: readers for common recommender formats, the ``Interactions`` container,
per-user sequences (padded, next-item targets, regular series) and evaluation splits.

Pure NumPy (pandas / polars / pyarrow are used only when given their objects or Parquet).
Timestamps are int64 seconds everywhere; each reader documents its conversion.
"""

from .interactions import (
    DEDUPE_RULES,
    Interactions,
    as_seconds,
    deduplicate,
    filter_k_core,
    from_columns,
)
from .readers import FORMATS, detect_format, file_version, read_interactions
from .sequences import (
    NextItemBatch,
    SequenceBatch,
    histories_before,
    iter_batches,
    next_item_sequences,
    padded_histories,
    period_seconds,
    user_series,
)
from .splits import (
    EvalTargets,
    Split,
    align_items,
    leave_one_out,
    next_event_targets,
    temporal_split,
)

__all__ = [
    "DEDUPE_RULES",
    "FORMATS",
    "EvalTargets",
    "Interactions",
    "NextItemBatch",
    "SequenceBatch",
    "Split",
    "align_items",
    "as_seconds",
    "deduplicate",
    "detect_format",
    "file_version",
    "filter_k_core",
    "from_columns",
    "histories_before",
    "iter_batches",
    "leave_one_out",
    "next_event_targets",
    "next_item_sequences",
    "padded_histories",
    "period_seconds",
    "read_interactions",
    "temporal_split",
    "user_series",
]
