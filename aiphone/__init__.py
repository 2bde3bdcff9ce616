"""Client side of the AI phone calls API: the typed `AiPhoneClient` and the `aiphone` CLI (stdlib only).

The package's names are `aiphone.client`'s public ones (its ``__all__``), re-exported here.
"""

from aiphone.client import *  # noqa: F403
from aiphone.client import __all__ as __all__
