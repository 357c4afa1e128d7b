"""Low-level ops: forward and backward of every kernel, on NumPy (CPU) or CUDA arrays.

Each ``*_forward`` returns its outputs and a ``cache`` that the matching ``*_backward`` takes.
Arrays are batch-first ``[B, T, C]`` and C-contiguous; the dtype (float32 or float64) of the main
input decides the dtype of everything else. Bad input raises ``ValueError`` / ``TypeError`` naming
the argument; nothing is silently copied or cast.
"""

from .conv1d import Conv1dCache, conv1d_backward, conv1d_forward
from .cosine import (
    CosineCache,
    cosine_lag_backward,
    cosine_lag_forward,
    cosine_query_backward,
    cosine_query_forward,
)
from .dropout import DropoutCache, dropout_backward, dropout_forward
from .embedding import EmbeddingCache, embedding_backward, embedding_forward
from .fusion import scale_fusion_backward, scale_fusion_forward
from .linear import LinearCache, linear_backward, linear_forward
from .loss import (
    bce_with_logits_loss,
    full_softmax_loss,
    huber_loss,
    mae_loss,
    mse_loss,
    sampled_softmax_loss,
    sampled_softmax_negatives,
    softmax_cross_entropy,
)
from .multiscale import (
    MultiscaleCache,
    Scale,
    ScaleOutput,
    gather_causal,
    gather_causal_backward,
    multiscale_backward,
    multiscale_forward,
)
from .normalize import normalize_backward, normalize_forward
from .optim import (
    adam_step,
    adam_step_many,
    adam_step_rows,
    clip_grad_norm,
    sgd_step,
    sgd_step_rows,
)
from .packed import packed_cumsum
from .pool import (
    CountPoolCache,
    TimePoolCache,
    count_pool_backward,
    count_pool_forward,
    time_pool_backward,
    time_pool_forward,
)
from .recurrent import (
    RecurrentCache,
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)
from .rows import gather_rows, scatter_rows, window_rows
from .top_k import top_k

__all__ = [
    "Conv1dCache",
    "CosineCache",
    "CountPoolCache",
    "DropoutCache",
    "EmbeddingCache",
    "LinearCache",
    "MultiscaleCache",
    "RecurrentCache",
    "Scale",
    "ScaleOutput",
    "TimePoolCache",
    "adam_step",
    "adam_step_many",
    "adam_step_rows",
    "bce_with_logits_loss",
    "clip_grad_norm",
    "conv1d_backward",
    "conv1d_forward",
    "cosine_lag_backward",
    "cosine_lag_forward",
    "cosine_query_backward",
    "cosine_query_forward",
    "count_pool_backward",
    "count_pool_forward",
    "dropout_backward",
    "dropout_forward",
    "embedding_backward",
    "embedding_forward",
    "gather_causal",
    "gather_causal_backward",
    "gather_rows",
    "gru_backward",
    "gru_forward",
    "huber_loss",
    "linear_backward",
    "linear_forward",
    "lstm_backward",
    "lstm_forward",
    "mae_loss",
    "mse_loss",
    "multiscale_backward",
    "multiscale_forward",
    "normalize_backward",
    "normalize_forward",
    "packed_cumsum",
    "rnn_backward",
    "rnn_forward",
    "full_softmax_loss",
    "sampled_softmax_loss",
    "sampled_softmax_negatives",
    "scale_fusion_backward",
    "scale_fusion_forward",
    "scatter_rows",
    "sgd_step",
    "sgd_step_rows",
    "softmax_cross_entropy",
    "time_pool_backward",
    "time_pool_forward",
    "top_k",
    "window_rows",
]
