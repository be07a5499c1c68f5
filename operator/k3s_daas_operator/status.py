"""Status bodies and the standard Ready condition (pure).

A status is rewritten only when something material changed (phase, message, stake, ...) or when
``lastVerified`` is older than the refresh period: rewriting thousands of statuses on every timer
tick would load the API server for no information.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from k3s_daas.stake import format_sui
from k3s_daas_operator.sealtoken_policy import SealTokenVerdict

_VOLATILE: Final = frozenset({"lastVerified", "chainCursor", "conditions"})


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def ready_condition(
    ready: bool, reason: str, message: str, previous: Mapping[str, Any], now: datetime, generation: int
) -> list[dict[str, Any]]:
    """``conditions`` with one ``Ready`` entry; its transition time moves only when its status does."""
    status = "True" if ready else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), None)
    since = old["lastTransitionTime"] if old is not None and old.get("status") == status else rfc3339(now)
    return [
        {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        }
    ]


def sealtoken_status(
    verdict: SealTokenVerdict, previous: Mapping[str, Any], now: datetime, generation: int, cursor: str
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": str(verdict.phase),
        "message": verdict.message,
        "role": None if verdict.role is None else verdict.role.label,
        "stakeRecord": verdict.stake_record,
        "stakeMist": None if verdict.stake_mist is None else str(verdict.stake_mist),
        "stakeSui": None if verdict.stake_mist is None else format_sui(verdict.stake_mist),
        "permissions": list(verdict.permissions),
        "expiresAt": None if verdict.expires_at_ms is None else rfc3339(from_ms(verdict.expires_at_ms)),
        "lastVerified": rfc3339(now),
        "chainCursor": cursor,
        "observedGeneration": generation,
    }
    status["conditions"] = ready_condition(
        verdict.active, str(verdict.phase), verdict.message, previous, now, generation
    )
    return status


def material(status: Mapping[str, Any]) -> dict[str, Any]:
    """What a status says, without when it was said; None fields and absent fields are alike."""
    return {k: v for k, v in status.items() if k not in _VOLATILE and v is not None}


def needs_write(desired: Mapping[str, Any], current: Mapping[str, Any], now: datetime, refresh_s: float) -> bool:
    if material(desired) != material(current):
        return True
    verified = parse_time(current.get("lastVerified"))
    return verified is None or (now - verified).total_seconds() >= refresh_s


def merge_patch(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of ``status``: fields we no longer set are removed (null)."""
    patch = dict(desired)
    for key in current:
        if key not in desired:
            patch[key] = None
    return patch
