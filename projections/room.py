"""The room aggregate as a Decider: ``decide(state, command)`` and ``evolve(state, event)``.

Every rule of a live audio room lives in one branch of ``decide``. ``decide``
is deterministic: the events it returns take their ids from the command id and
their time from the command's ``issued_at``, so re-deciding a redelivered
command yields byte-identical events that downstream consumers drop by
``event_id``.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import uuid5

from schemas import commands as c
from schemas import events as e
from schemas.recording import recording_id_for
from schemas.room import Chapter, Hand, RoomState


@dataclass(frozen=True)
class RoomRules:
    """Limits a deployment may tune."""

    speaker_cap: int = 10  # speakers besides the host and co-hosts
    cohost_cap: int = 2


DEFAULT_RULES = RoomRules()


Decision = list[e.Event] | c.Rejection
Outcome = c.Rejection | None
"""What a handler returns: a rejection, or None when it emitted its events."""


def _reject(status: Literal[403, 404, 409, 422], code: str, detail: str) -> c.Rejection:
    return c.Rejection(status=status, code=code, detail=detail)


class _Emitter:
    """Builds the events of one decision: deterministic ids, contiguous seq."""

    def __init__(self, state: RoomState | None, command: c.Command) -> None:
        self._command = command
        self._next_seq = (state.version if state else 0) + 1
        self.events: list[e.Event] = []

    def __call__(self, cls: type[e.Event], **data: object) -> "_Emitter":
        index = len(self.events)
        event = cls.model_validate(
            {
                "event_id": uuid5(self._command.command_id, str(index)),
                "room_id": self._command.room_id,
                "actor_id": self._command.actor_id,
                "seq": self._next_seq + index,
                "occurred_at": self._command.issued_at,
                "data": data,
            }
        )
        self.events.append(event)
        return self


# --- decide ------------------------------------------------------------------

LIVE_ONLY = (c.RaiseHand, c.LowerHand, c.MarkChapter)
"""Commands that only make sense while people are in the room."""


def decide(
    state: RoomState | None, command: c.Command, rules: RoomRules = DEFAULT_RULES
) -> Decision:
    """Accept a command as events, or reject it with the reason a user would be told."""
    if isinstance(command, c.CreateRoom):
        return _create(state, command)
    if state is None:
        return _reject(404, "room_not_found", f"Room {command.room_id} does not exist.")
    actor = command.actor_id
    if actor in state.removed_ids:
        return _reject(403, "removed", "You were removed from this room and cannot act in it.")
    after_end = (c.PinRoom, c.UnpinRoom, c.FileReport, *c.RECORDING_COMMANDS)
    if state.status == "ended" and not isinstance(command, after_end):
        return _reject(409, "room_ended", "This room has ended.")
    if isinstance(command, c.RECORDING_COMMANDS) and (denied := _recording_refused(state, command)):
        return denied
    if isinstance(command, LIVE_ONLY) and state.status != "live":
        return _reject(409, "room_not_live", "This room has not started yet.")
    handler = _HANDLERS.get(type(command))
    if handler is None:
        return _reject(422, "unknown_command", f"Rooms do not understand {command.type}.")
    emit = _Emitter(state, command)
    outcome = handler(state, command, rules, emit)
    return outcome if outcome is not None else emit.events


def _create(state: RoomState | None, cmd: c.CreateRoom) -> Decision:
    """A host opens a room now, at a scheduled time, or leaves the time open."""
    if state is not None:
        return _reject(409, "room_exists", f"Room {cmd.room_id} already exists.")
    if cmd.start_now and cmd.scheduled_for is not None:
        return _reject(422, "start_conflict", "A room cannot both start now and be scheduled.")
    if cmd.scheduled_for is not None and cmd.scheduled_for <= cmd.issued_at:
        return _reject(422, "schedule_in_past", "scheduled_for must be in the future.")
    emit = _Emitter(None, cmd)
    emit(
        e.RoomCreated,
        host_id=cmd.actor_id,
        title=cmd.title,
        topics=cmd.topics,
        recording=cmd.recording,
    )
    if cmd.scheduled_for is not None:
        emit(e.RoomScheduled, scheduled_for=cmd.scheduled_for)
    if cmd.start_now:
        emit(e.RoomStarted)
    return emit.events


Handler = Callable[[RoomState, c.Command, RoomRules, _Emitter], c.Rejection | None]


def _host_only(state: RoomState, actor: str, what: str) -> c.Rejection | None:
    if actor != state.host_id:
        return _reject(403, "not_host", f"Only the host can {what}.")
    return None


def _moderator_only(state: RoomState, actor: str, what: str) -> c.Rejection | None:
    if not state.moderates(actor):
        return _reject(403, "not_moderator", f"Only the host or a co-host can {what}.")
    return None


def _start(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Only the host takes a scheduled room live."""
    if denied := _host_only(state, cmd.actor_id, "start the room"):
        return denied
    if state.status == "live":
        return _reject(409, "already_live", "The room is already live.")
    emit(e.RoomStarted)
    return None


def _end(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Only the host ends the room; ending a room that never started cancels it."""
    if denied := _host_only(state, cmd.actor_id, "end the room"):
        return denied
    emit(e.RoomEnded, reason="host" if state.status == "live" else "cancelled")
    return None


def _pin(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """The host pins the room to their profile (also after it ended, for the replay)."""
    if denied := _host_only(state, cmd.actor_id, "pin the room"):
        return denied
    pin = isinstance(cmd, c.PinRoom)
    if state.pinned == pin:
        return _reject(409, "pin_unchanged", f"The room is already {'' if pin else 'un'}pinned.")
    emit(e.RoomPinned if pin else e.RoomUnpinned)
    return None


def _target(cmd: c.Command) -> str:
    assert isinstance(cmd, c.TargetedCommand)
    return cmd.target_id


def _add_cohost(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """The host shares moderation with up to ``cohost_cap`` co-hosts, who are on stage."""
    if denied := _host_only(state, cmd.actor_id, "add co-hosts"):
        return denied
    target = _target(cmd)
    if target == state.host_id:
        return _reject(409, "is_host", "The host is already in charge of the room.")
    if target in state.removed_ids:
        return _reject(409, "target_removed", f"{target} was removed from this room.")
    if target in state.cohost_ids:
        return _reject(409, "already_cohost", f"{target} is already a co-host.")
    if len(state.cohost_ids) >= rules.cohost_cap:
        return _reject(409, "cohost_cap", f"A room can have at most {rules.cohost_cap} co-hosts.")
    emit(e.CohostAdded, user_id=target)
    return None


def _remove_cohost(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """The host takes co-host rights back; the user returns to the audience."""
    if denied := _host_only(state, cmd.actor_id, "remove co-hosts"):
        return denied
    target = _target(cmd)
    if target not in state.cohost_ids:
        return _reject(409, "not_cohost", f"{target} is not a co-host.")
    emit(e.CohostRemoved, user_id=target)
    return None


def _promote(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Host or co-host invites anyone (hand raised or not) to speak, up to the cap."""
    if denied := _moderator_only(state, cmd.actor_id, "invite speakers"):
        return denied
    target = _target(cmd)
    if target in state.removed_ids:
        return _reject(409, "target_removed", f"{target} was removed and cannot be promoted.")
    if state.on_stage(target):
        return _reject(409, "already_speaking", f"{target} is already on stage.")
    if len(state.speaker_ids) >= rules.speaker_cap:
        return _reject(409, "speaker_cap", f"The stage is full ({rules.speaker_cap} speakers).")
    emit(e.SpeakerPromoted, user_id=target)
    return None


def _demote(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Host or co-host moves a speaker back to the audience; a speaker may step down."""
    target = _target(cmd)
    if cmd.actor_id != target and (denied := _moderator_only(state, cmd.actor_id, "demote")):
        return denied
    if target == state.host_id:
        return _reject(403, "is_host", "The host cannot be demoted.")
    if target not in state.speaker_ids:
        return _reject(409, "not_speaker", f"{target} is not a speaker.")
    emit(e.SpeakerDemoted, user_id=target)
    return None


def _raise_hand(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """A listener asks to speak; hands queue in the order they were raised."""
    if state.on_stage(cmd.actor_id):
        return _reject(409, "already_speaking", "You are already on stage.")
    if state.hand_raised(cmd.actor_id):
        return _reject(409, "hand_already_raised", "Your hand is already raised.")
    emit(e.HandRaised, user_id=cmd.actor_id)
    return None


def _lower_hand(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    if not state.hand_raised(cmd.actor_id):
        return _reject(409, "hand_not_raised", "Your hand is not raised.")
    emit(e.HandLowered, user_id=cmd.actor_id)
    return None


def _may_moderate(state: RoomState, actor: str, target: str, what: str) -> c.Rejection | None:
    """Host acts on anyone but themselves; co-hosts act on speakers and listeners only."""
    if denied := _moderator_only(state, actor, what):
        return denied
    if target == state.host_id:
        return _reject(403, "is_host", f"Nobody can {what} the host.")
    if target in state.cohost_ids and actor != state.host_id:
        return _reject(403, "is_cohost", f"Only the host can {what} a co-host.")
    return None


def _mute(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Server-side mute: the SFU stops forwarding the speaker until unmuted."""
    mute = isinstance(cmd, c.MuteSpeaker)
    target = _target(cmd)
    if denied := _may_moderate(state, cmd.actor_id, target, "mute" if mute else "unmute"):
        return denied
    if not state.on_stage(target):
        return _reject(409, "not_speaker", f"{target} is not on stage.")
    if (target in state.muted_ids) == mute:
        return _reject(409, "mute_unchanged", f"{target} is already {'' if mute else 'un'}muted.")
    emit(e.SpeakerMuted if mute else e.SpeakerUnmuted, user_id=target)
    return None


def _remove(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Kick: the user loses every role and hand, and may not rejoin or be promoted."""
    target = _target(cmd)
    if denied := _may_moderate(state, cmd.actor_id, target, "remove"):
        return denied
    if target in state.removed_ids:
        return _reject(409, "already_removed", f"{target} was already removed.")
    emit(e.ParticipantRemoved, user_id=target)
    return None


def _report(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """Anyone who may be in the room reports it or a participant, during or after it."""
    assert isinstance(cmd, c.FileReport)
    emit(
        e.ReportFiled,
        report_id=uuid5(cmd.command_id, "report"),
        target_user_id=cmd.target_user_id,
        reason=cmd.reason,
        note=cmd.note,
    )
    return None


def _chapter(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """The host marks a chapter at the current room time, for the recording."""
    assert isinstance(cmd, c.MarkChapter)
    if denied := _host_only(state, cmd.actor_id, "mark chapters"):
        return denied
    started = state.started_at or cmd.issued_at
    offset = max(0.0, (cmd.issued_at - started).total_seconds())
    emit(e.ChapterMarked, title=cmd.title, offset_seconds=offset)
    return None


def _recording_refused(state: RoomState, cmd: c.Command) -> c.Rejection | None:
    """Who may touch a recording, and when: the host, once the room ended, until deleted."""
    if denied := _host_only(state, cmd.actor_id, "publish, clip or delete the recording"):
        return denied
    if state.recording_deleted:
        return _reject(404, "recording_not_found", "This room's recording was deleted.")
    if state.status != "ended":
        return _reject(
            409, "recording_not_finished", "The recording is ready once the room has ended."
        )
    return None


def _set_recording(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    """The host turns recording on or off, before or during the room."""
    assert isinstance(cmd, c.SetRecording)
    if denied := _host_only(state, cmd.actor_id, "turn recording on or off"):
        return denied
    if state.recording != cmd.enabled:
        emit(e.RecordingSettingChanged, enabled=cmd.enabled)
    return None


def _publish(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    publish = isinstance(cmd, c.PublishRecording)
    if state.recording_published != publish:
        kind = e.RecordingPublished if publish else e.RecordingUnpublished
        emit(kind, recording_id=recording_id_for(state.room_id))
    return None


def _delete_recording(
    state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter
) -> Outcome:
    emit(e.RecordingDeleted, recording_id=recording_id_for(state.room_id))
    return None


def _clip(state: RoomState, cmd: c.Command, rules: RoomRules, emit: _Emitter) -> Outcome:
    assert isinstance(cmd, c.CreateClip)
    if cmd.end_seconds <= cmd.start_seconds:
        return _reject(422, "empty_clip", "A clip must end after it starts.")
    emit(
        e.ClipCreated,
        recording_id=recording_id_for(state.room_id),
        clip_id=cmd.clip_id,
        title=cmd.title,
        start_seconds=cmd.start_seconds,
        end_seconds=cmd.end_seconds,
        uri=cmd.uri,
        bytes=cmd.bytes,
    )
    return None


_HANDLERS: dict[type[c.Command], Handler] = {
    c.StartRoom: _start,
    c.EndRoom: _end,
    c.PinRoom: _pin,
    c.UnpinRoom: _pin,
    c.AddCohost: _add_cohost,
    c.RemoveCohost: _remove_cohost,
    c.PromoteSpeaker: _promote,
    c.DemoteSpeaker: _demote,
    c.RaiseHand: _raise_hand,
    c.LowerHand: _lower_hand,
    c.MuteSpeaker: _mute,
    c.UnmuteSpeaker: _mute,
    c.RemoveParticipant: _remove,
    c.FileReport: _report,
    c.MarkChapter: _chapter,
    c.SetRecording: _set_recording,
    c.PublishRecording: _publish,
    c.UnpublishRecording: _publish,
    c.DeleteRecording: _delete_recording,
    c.CreateClip: _clip,
}


# --- evolve ------------------------------------------------------------------


def _without(ids: tuple[str, ...], user: str) -> tuple[str, ...]:
    return tuple(i for i in ids if i != user)


def _with(ids: tuple[str, ...], user: str) -> tuple[str, ...]:
    return ids if user in ids else (*ids, user)


def _leave_stage(state: RoomState, user: str) -> dict[str, object]:
    return {
        "cohost_ids": _without(state.cohost_ids, user),
        "speaker_ids": _without(state.speaker_ids, user),
        "muted_ids": _without(state.muted_ids, user),
    }


def _drop_hand(state: RoomState, user: str) -> tuple[Hand, ...]:
    return tuple(h for h in state.hands if h.user_id != user)


class SequenceGap(ValueError):
    """A room event whose ``seq`` is not the room's next one: events were lost or reordered.

    Folding past a gap would silently build a room that never existed (the
    eventsourcing library raises on a version gap for the same reason); the
    caller logs it and parks the record on the dead-letter topic.
    """

    def __init__(self, room_id: str, expected: int, got: int, what: str = "") -> None:
        super().__init__(f"room {room_id}: expected seq {expected}, got {what or got}")
        self.room_id, self.expected, self.got = room_id, expected, got


def evolve(state: RoomState | None, event: e.Event) -> RoomState | None:
    """Apply the room's next event.

    An event at or below the state's version was applied already (a redelivery)
    and changes nothing; one beyond the next seq raises ``SequenceGap``. Events
    without a seq belong to other topics (media, transcripts) and are ignored.
    """
    if event.seq is None:
        return state
    expected = (state.version if state is not None else 0) + 1
    if event.seq < expected:
        return state
    if event.seq > expected:
        raise SequenceGap(event.room_id, expected, event.seq)
    if state is None:
        if not isinstance(event, e.RoomCreated):
            raise SequenceGap(
                event.room_id, expected, event.seq, f"{event.type} before RoomCreated"
            )
        return RoomState(
            room_id=event.room_id,
            host_id=event.data.host_id,
            title=event.data.title,
            topics=event.data.topics,
            recording=event.data.recording,
            created_at=event.occurred_at,
            version=event.seq,
        )
    changes = _changes(state, event) or {}
    return state.model_copy(update={**changes, "version": event.seq})


def _changes(state: RoomState, ev: e.Event) -> dict[str, object] | None:
    user: str = getattr(getattr(ev, "data", None), "user_id", "")
    match ev:
        case e.RoomScheduled():
            return {"scheduled_for": ev.data.scheduled_for}
        case e.RoomStarted():
            return {"status": "live", "started_at": ev.occurred_at}
        case e.RoomEnded():
            return {"status": "ended", "ended_at": ev.occurred_at, "hands": ()}
        case e.RoomPinned() | e.RoomUnpinned():
            return {"pinned": isinstance(ev, e.RoomPinned)}
        case e.CohostAdded():
            return {
                "cohost_ids": _with(state.cohost_ids, user),
                "speaker_ids": _without(state.speaker_ids, user),
                "hands": _drop_hand(state, user),
            }
        case e.CohostRemoved():
            return _leave_stage(state, user)
        case e.SpeakerPromoted():
            return {"speaker_ids": _with(state.speaker_ids, user), "hands": _drop_hand(state, user)}
        case e.SpeakerDemoted():
            return _leave_stage(state, user)
        case e.HandRaised():
            if state.hand_raised(user):
                return {}
            return {"hands": (*state.hands, Hand(user_id=user, raised_at=ev.occurred_at))}
        case e.HandLowered():
            return {"hands": _drop_hand(state, user)}
        case e.SpeakerMuted():
            return {"muted_ids": _with(state.muted_ids, user)}
        case e.SpeakerUnmuted():
            return {"muted_ids": _without(state.muted_ids, user)}
        case e.ParticipantRemoved():
            return {
                **_leave_stage(state, user),
                "hands": _drop_hand(state, user),
                "removed_ids": _with(state.removed_ids, user),
            }
        case e.ReportFiled():
            return {"report_count": state.report_count + 1}
        case e.RecordingSettingChanged():
            return {"recording": ev.data.enabled}
        case e.RecordingPublished() | e.RecordingUnpublished():
            return {"recording_published": isinstance(ev, e.RecordingPublished)}
        case e.RecordingDeleted():
            return {"recording_deleted": True, "recording_published": False}
        case e.ChapterMarked():
            chapter = Chapter(
                title=ev.data.title, offset_seconds=ev.data.offset_seconds, marked_at=ev.occurred_at
            )
            return {"chapters": (*state.chapters, chapter)}
    return None


def fold(events: Iterable[e.Event], state: RoomState | None = None) -> RoomState | None:
    """Rebuild a room from its events: the log is the truth."""
    for event in events:
        state = evolve(state, event)
    return state
