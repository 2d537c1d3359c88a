"""Accuracy recovery (`edgeq convert --recover`): post-training techniques tried on held-out calibration samples.

ranges.py (percentile / MSE-optimal clipping), bias.py (bias correction), equalize.py (cross-layer equalization),
score.py (how close a model is to float), search.py (the driver), report.py (report.json's `recovery`).
"""

from __future__ import annotations

from edgeq.recover.outcome import Candidate, RecoveryReport
from edgeq.recover.search import recover_accuracy

__all__ = ["Candidate", "RecoveryReport", "recover_accuracy"]
