"""Sparse update: schemes, channel selection, the released schemes of the paper, and the budgeted search."""
from .scheme import SCHEME_HELP, SparseScheme, TrainPlan, parse_scheme, plan_scheme, resolve

__all__ = ["SCHEME_HELP", "SparseScheme", "TrainPlan", "parse_scheme", "plan_scheme", "resolve"]
