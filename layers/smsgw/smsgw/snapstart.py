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


def forget_warm_state() -> None:
    """Drop what a warm container keeps: every functools cache of the layer's modules (settings,
    clients, pools), the pacers, and Powertools' cached parameters and their clients."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "smsgw" or module_name.startswith("smsgw.")):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear") and hasattr(value, "__wrapped__"):
                value.cache_clear()
    if "smsgw.providers.pacing" in sys.modules:  # pacers and their shared limits' clients
        from .providers.pacing import use_shared_limit  # noqa: PLC0415

        use_shared_limit(None)  # installed again with the next client (registry)
    if "aws_lambda_powertools.utilities.parameters" in sys.modules:
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

        parameters.clear_caches()  # type: ignore[no-untyped-call]


def register() -> bool:
    """Run `forget_warm_state` after every restore; False where there are no runtime hooks (outside
    Lambda, or a runtime without SnapStart)."""
    try:
        from snapshot_restore_py import register_after_restore  # noqa: PLC0415
    except ImportError:
        return False
    register_after_restore(forget_warm_state)
    return True
