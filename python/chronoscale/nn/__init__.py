"""A small layer system on the native kernels: parameters, layers, optimisers, losses, ``fit``.

Every layer's forward and backward run :mod:`chronoscale.ops` kernels (NumPy glue per mini-batch
at most, never per time step)::

    from chronoscale import nn
    model = nn.Sequential([nn.Conv1d(64, 3, activation="relu"), nn.MaxPool1d(2),
                           nn.LSTM(50, return_sequences=True), nn.LSTM(50),
                           nn.Dense(1, activation="sigmoid")]).build(5, rng=0)
    opt = nn.Adam(model.parameters(), lr=1e-3)
    y = model.forward(x, training=True)
    loss, dy = nn.losses.mse(y, target)
    opt.zero_grad(); model.backward(dy); opt.step()
"""

from . import init, losses, metrics
from .fusion import ScaleFusion
from .layer import Layer, Sequential, layer_from_config
from .layers import Conv1d, CosineFeatures, CosineQuery, Dense, Dropout, Embedding, MaxPool1d
from .multiscale_next import MultiScaleNext
from .optim import SGD, Adam, AdamW, Optimizer, clip_grad_norm
from .parameter import Parameter
from .recurrent import GRU, LSTM, RNN, MultiScale
from .training import History, fit, predict_batches

__all__ = [
    "GRU", "LSTM", "RNN", "SGD", "Adam", "AdamW", "Conv1d", "CosineFeatures", "CosineQuery",
    "Dense", "Dropout", "Embedding", "History", "Layer", "MaxPool1d", "MultiScale", "Optimizer",
    "MultiScaleNext", "Parameter", "ScaleFusion", "Sequential", "clip_grad_norm", "fit", "init",
    "layer_from_config", "losses", "metrics", "predict_batches",
]
