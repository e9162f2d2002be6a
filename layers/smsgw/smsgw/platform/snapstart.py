"""Lambda SnapStart (template parameter `SnapStart`): a restored snapshot must not share what the
initialising container opened or learnt.

- Connections (the providers' urllib3 pools, boto3's) were opened before the snapshot: after a
  restore they are dead, or shared by every container restored from it. A provider request on a
  dead pooled socket fails after it may have been sent, which would make an outcome unknown: so
  every cached client is dropped and rebuilt on first use.
- Cached secrets and settings are dropped too, so a restored container reads current ones.
- Randomness: codes, keys and ids come from `secrets` and `uuid4` (the OS's generator, per call),
  never from `random`'s seeded state, so restored containers cannot repeat each other.
"""

import sys
from collections.abc import Callable

# What modules with warm state of their own ask to be run after a restore (e.g. the pacers).
_hooks: list[Callable[[], None]] = []


def after_restore(hook: Callable[[], None]) -> None:
    """Run `hook` whenever warm state is dropped: after a restore, and in forget_warm_state."""
    _hooks.append(hook)


def forget_warm_state() -> None:
    """Drop what a warm container keeps: every functools cache of the layer's modules (settings,
    clients, pools), what modules registered (after_restore), and Powertools' cached parameters and
    their clients."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "smsgw" or module_name.startswith("smsgw.")):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and hasattr(value, "__wrapped__"):
                value.cache_clear()
    for hook in _hooks:
        hook()
    if "aws_lambda_powertools.utilities.parameters" in sys.modules:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - loaded already

        parameters.clear_caches()  # type: ignore[no-untyped-call]


def register() -> bool:
    """Run `forget_warm_state` after every restore; False where there are no runtime hooks (outside
    Lambda, or a runtime without SnapStart)."""
    try:
        from snapshot_restore_py import register_after_restore  # noqa: PLC0415 - exists only in Lambda
    except ImportError:
        return False
    register_after_restore(forget_warm_state)
    return True
