"""Models with a scikit-learn-style API (``get_params`` / ``set_params``, ``fit``, ``predict``,
``score``, ``save``), built from :mod:`chronoscale.nn` layers on the native kernels."""

from .multiscale import MultiScaleForecaster
from .recommender import MultiScaleRecommender
from .seed import SeedForecaster

__all__ = ["MultiScaleForecaster", "MultiScaleRecommender", "SeedForecaster"]
