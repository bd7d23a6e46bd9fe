"""Stream-based selective sampling: ask for a label one arriving sample at a time, on a budget.

:class:`StreamSelector` scores each sample with a registry uncertainty scorer, lets a
budget manager (``fixed``, ``variable_uncertainty``, ``split``, ``balanced_incoming``)
decide, and caps the spend with a :class:`TokenBucket`, so that every window of ``W``
samples holds at most ``ceil(budget * W)`` asks (``burst=1``).
"""

from labelwise.stream._managers import (
    MANAGERS,
    BalancedIncomingManager,
    FixedManager,
    SplitManager,
    TokenBucket,
    VariableUncertaintyManager,
    make_manager,
)
from labelwise.stream._selector import STREAM_STRATEGIES, StreamSelector, stream_utility

__all__ = [
    "MANAGERS",
    "STREAM_STRATEGIES",
    "BalancedIncomingManager",
    "FixedManager",
    "SplitManager",
    "StreamSelector",
    "TokenBucket",
    "VariableUncertaintyManager",
    "make_manager",
    "stream_utility",
]
