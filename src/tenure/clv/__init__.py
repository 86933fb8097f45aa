"""Predictions: BG/NBD (who is alive, how often they will buy) and Gamma-Gamma (how much).

See docs/clv.md for the models, the formulas of every prediction and their known limits."""

from tenure.clv._mle import ModelError
from tenure.clv.bgnbd import BetaGeo
from tenure.clv.gammagamma import GammaGamma

__all__ = ["BetaGeo", "GammaGamma", "ModelError"]
