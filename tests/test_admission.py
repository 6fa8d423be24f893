"""The one admission rule: every role in the room by join, listen and publish.

``projections.admission.admit`` is what the HTTP join, the WebSocket and WHEP
listeners and WHIP publishing ask; these tests pin its answer for each kind
of caller, room status and media token.
"""

from typing import get_args

import pytest

from projections.admission import Action, Admitted, admit
from schemas import commands as c
from schemas.commands import Rejection
from schemas.room import MemberRole, Role, RoomState
from tests.test_room_rules import HOST, ROOM_ID, ended_room, live_room, scheduled_room

COHOST, SPEAKER, LISTENER, REMOVED = "co", "sp", "li", "rm"
ACTIONS: tuple[Action, ...] = get_args(Action)
TOKEN_ROLES: tuple[Role, ...] = get_args(Role)


def room_with_everyone() -> RoomState:
    room = live_room()
    room.add_cohost(COHOST)
    room.promote(SPEAKER)
    room.accept(c.RemoveParticipant, HOST, target_id=REMOVED)
    return room.live


LIVE = room_with_everyone()
ROLE_OF: dict[str, MemberRole] = {
    HOST: "host",
    COHOST: "cohost",
    SPEAKER: "speaker",
    LISTENER: "listener",
}


def test_the_room_under_test_has_every_role() -> None:
    assert {u: LIVE.role_of(u) for u in (*ROLE_OF, REMOVED)} == {**ROLE_OF, REMOVED: "removed"}


@pytest.mark.parametrize("action", ["join", "listen"])
@pytest.mark.parametrize("user", list(ROLE_OF))
def test_everyone_in_a_live_room_may_join_and_listen(user: str, action: Action) -> None:
    admitted = admit(LIVE, ROOM_ID, user, action, token_role="listener")
    assert admitted == Admitted(role=ROLE_OF[user], may_publish=user != LISTENER)


@pytest.mark.parametrize("token_role", TOKEN_ROLES)
@pytest.mark.parametrize("user", list(ROLE_OF))
def test_publishing_needs_the_stage_now_and_a_stage_token(user: str, token_role: Role) -> None:
    admitted = admit(LIVE, ROOM_ID, user, "publish", token_role=token_role)
    on_stage_now = user != LISTENER
    stage_token = token_role in ("host", "cohost", "speaker")
    if on_stage_now and stage_token:
        assert isinstance(admitted, Admitted) and admitted.may_publish
    else:
        assert isinstance(admitted, Rejection)
        assert (admitted.status, admitted.code) == (403, "not_on_stage")
        assert "join again" in admitted.detail


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("token_role", TOKEN_ROLES)
def test_a_removed_user_is_refused_everything(action: Action, token_role: Role) -> None:
    refused = admit(LIVE, ROOM_ID, REMOVED, action, token_role=token_role)
    assert isinstance(refused, Rejection) and (refused.status, refused.code) == (403, "removed")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", [HOST, LISTENER])
def test_an_ended_room_admits_nobody(action: Action, user: str) -> None:
    refused = admit(ended_room().live, ROOM_ID, user, action, token_role="host")
    assert isinstance(refused, Rejection) and (refused.status, refused.code) == (409, "room_ended")
    assert refused.detail == "This room has ended."


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", [HOST, LISTENER])
def test_a_room_that_has_not_started_admits_nobody(action: Action, user: str) -> None:
    refused = admit(scheduled_room().live, ROOM_ID, user, action, token_role="host")
    assert isinstance(refused, Rejection)
    assert (refused.status, refused.code) == (409, "room_scheduled")


@pytest.mark.parametrize("action", ACTIONS)
def test_an_unknown_room_is_not_found(action: Action) -> None:
    refused = admit(None, "nowhere", LISTENER, action, token_role="host")
    assert isinstance(refused, Rejection) and (refused.status, refused.code) == (
        404,
        "room_not_found",
    )
    assert "nowhere" in refused.detail


def test_a_speaker_demoted_after_joining_cannot_publish_with_the_old_token() -> None:
    room = live_room()
    room.promote(SPEAKER)
    assert isinstance(admit(room.live, ROOM_ID, SPEAKER, "publish", "speaker"), Admitted)
    room.accept(c.DemoteSpeaker, HOST, target_id=SPEAKER)
    refused = admit(room.live, ROOM_ID, SPEAKER, "publish", token_role="speaker")
    assert isinstance(refused, Rejection) and refused.code == "not_on_stage"
    assert admit(room.live, ROOM_ID, SPEAKER, "listen", "speaker") == Admitted("listener", False)
