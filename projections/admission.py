"""Who may join a room, listen to it and publish in it: one rule for every door.

The HTTP join, the WebSocket and WHEP listeners and WHIP publishing all ask
``admit``, so a removed user, an ended room or a demoted speaker is refused
the same way (and with the same sentence) wherever they knock.

Publishing checks two things: the media token was issued for a stage role
(so a promoted listener joins again for a speaker token, whose short life
bounds what a leaked token can do), and the room says the user is on stage
now (so a speaker demoted after joining cannot publish with their old token).
"""

from dataclasses import dataclass
from typing import Literal

from schemas.commands import Rejection
from schemas.room import STAGE_ROLES, MemberRole, Role, RoomState

Action = Literal["join", "listen", "publish"]


@dataclass(frozen=True)
class Admitted:
    role: MemberRole
    """The caller's role now; the one to put in a fresh media token."""
    may_publish: bool


def admit(
    state: RoomState | None,
    room_id: str,
    user_id: str,
    action: Action,
    token_role: Role | None = None,
) -> Admitted | Rejection:
    """Admit ``user_id`` to ``action`` in the room as it is now, or say why not.

    ``token_role`` is the role named in the caller's media token (listen and
    publish come with one; join issues it).
    """
    if state is None:
        return Rejection(
            status=404, code="room_not_found", detail=f"Room {room_id} does not exist."
        )
    role = state.role_of(user_id)
    if role == "removed":
        return Rejection(
            status=403, code="removed", detail="You were removed from this room and cannot rejoin."
        )
    if state.status != "live":
        why = "has ended" if state.status == "ended" else "has not started yet"
        return Rejection(status=409, code=f"room_{state.status}", detail=f"This room {why}.")
    on_stage = role in STAGE_ROLES
    if action == "publish" and not (on_stage and token_role in STAGE_ROLES):
        return Rejection(
            status=403,
            code="not_on_stage",
            detail="Only the host, co-hosts and speakers can publish audio; "
            "if you were just invited to speak, join again for a speaker token.",
        )
    return Admitted(role=role, may_publish=on_stage)
