"""Self-test checks, one module per family of capabilities.

A check declares the capability it applies to and how to judge it; the self-test
engine runs every check that applies to each device of a room, concurrently per
device. Importing this package registers every check module in it.
"""

import importlib
import pkgutil

from controller.checks.base import CHECKS, Check, CheckContext, Outcome, PromptRequest, Verdict, check, text

for _info in pkgutil.iter_modules(__path__, __name__ + "."):
    if _info.name != __name__ + ".base":
        importlib.import_module(_info.name)

__all__ = ["CHECKS", "Check", "CheckContext", "Outcome", "PromptRequest", "Verdict", "check", "text"]
