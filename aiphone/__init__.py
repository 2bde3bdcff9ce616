"""Client side of the AI phone calls API: the typed `AiPhoneClient` and the `aiphone` CLI (stdlib only)."""

from aiphone.client import (
    AiPhoneClient,
    ApiError,
    ApiUnreachable,
    Call,
    CallDetail,
    CallPage,
    Persona,
    PersonaPage,
    PlacedCall,
    StatusChange,
    Turn,
)

__all__ = [
    "AiPhoneClient",
    "ApiError",
    "ApiUnreachable",
    "Call",
    "CallDetail",
    "CallPage",
    "Persona",
    "PersonaPage",
    "PlacedCall",
    "StatusChange",
    "Turn",
]
