-- Analytics views. All read stoa.events through FINAL, so a redelivered record counts once.

-- rooms: one row per room from its lifecycle events (RoomCreated v1 had one `topic`).
CREATE VIEW IF NOT EXISTS stoa.rooms AS
SELECT
    room_id,
    argMinIf(JSONExtractString(data, 'host_id'), occurred_at, type = 'RoomCreated') AS host_id,
    argMinIf(JSONExtractString(data, 'title'), occurred_at, type = 'RoomCreated') AS title,
    arrayFilter(t -> t != '', argMinIf(
        if(version = 1, [JSONExtractString(data, 'topic')], JSONExtract(data, 'topics', 'Array(String)')),
        occurred_at, type = 'RoomCreated')) AS topics,
    minIf(occurred_at, type = 'RoomCreated') AS created_at,
    minIfOrNull(occurred_at, type = 'RoomStarted') AS started_at,
    minIfOrNull(occurred_at, type = 'RoomEnded') AS ended_at
FROM stoa.events FINAL
WHERE topic = 'stoa.room-events'
GROUP BY room_id
HAVING countIf(type = 'RoomCreated') > 0;

-- presence_changes: every listener join/leave, plus removals (a removed listener has left).
CREATE VIEW IF NOT EXISTS stoa.presence_changes AS
SELECT room_id, JSONExtractString(data, 'user_id') AS user_id, occurred_at AS at,
       toUInt8(type = 'ListenerJoined') AS joined
FROM stoa.events FINAL
WHERE (topic = 'stoa.presence' AND record = 0 AND type IN ('ListenerJoined', 'ListenerLeft'))
   OR (topic = 'stoa.room-events' AND type = 'ParticipantRemoved');

-- presence_flips: the changes that changed something (a second join while present is not a join).
CREATE VIEW IF NOT EXISTS stoa.presence_flips AS
SELECT room_id, user_id, at, joined
FROM (
    SELECT room_id, user_id, at, joined,
           lagInFrame(joined, 1, 0) OVER (
               PARTITION BY room_id, user_id ORDER BY at ASC, joined ASC
               ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous
    FROM stoa.presence_changes
)
WHERE joined != previous;

-- listener_sessions: one row per continuous listening session, clipped to the room's live time;
-- a session still open ends at the room's end, or now for a live room.
CREATE VIEW IF NOT EXISTS stoa.listener_sessions AS
SELECT
    f.room_id AS room_id,
    f.user_id AS user_id,
    greatest(f.at, coalesce(r.started_at, f.at)) AS joined_at,
    least(coalesce(f.next_at, r.ended_at, now64(6)), coalesce(r.ended_at, now64(6))) AS left_at
FROM (
    SELECT room_id, user_id, at, joined,
           leadInFrame(toNullable(at), 1) OVER (
               PARTITION BY room_id, user_id ORDER BY at ASC, joined ASC
               ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_at
    FROM stoa.presence_flips
) AS f
LEFT JOIN stoa.rooms AS r ON r.room_id = f.room_id
WHERE f.joined = 1;

-- room_peaks: the most listeners present at once.
CREATE VIEW IF NOT EXISTS stoa.room_peaks AS
SELECT room_id, toUInt64(greatest(max(running), 0)) AS peak_listeners
FROM (
    SELECT room_id,
           sum(if(joined = 1, 1, -1)) OVER (
               PARTITION BY room_id ORDER BY at ASC, joined ASC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
    FROM stoa.presence_flips
)
GROUP BY room_id;

-- room_actions: what happened on stage, per room.
CREATE VIEW IF NOT EXISTS stoa.room_actions AS
SELECT
    room_id,
    countIf(type = 'HandRaised') AS hand_raises,
    countIf(type = 'SpeakerPromoted') AS promotions,
    countIf(type = 'SpeakerMuted') AS mutes,
    countIf(type = 'ParticipantRemoved') AS removals,
    countIf(type = 'ReportFiled') AS reports,
    length(arrayDistinct(arrayConcat(
        groupArrayIf(JSONExtractString(data, 'host_id'), type = 'RoomCreated'),
        groupArrayIf(JSONExtractString(data, 'user_id'), type IN ('SpeakerPromoted', 'CohostAdded'))
    ))) AS speakers
FROM stoa.events FINAL
WHERE topic = 'stoa.room-events'
GROUP BY room_id;

-- hand_conversion: of the people who raised a hand, how many were promoted afterwards.
CREATE VIEW IF NOT EXISTS stoa.hand_conversion AS
SELECT room_id,
       countIf(raised_at IS NOT NULL) AS hand_raisers,
       countIf(raised_at IS NOT NULL AND promoted_at >= raised_at) AS promoted_after_hand
FROM (
    SELECT room_id, JSONExtractString(data, 'user_id') AS user_id,
           minIfOrNull(occurred_at, type = 'HandRaised') AS raised_at,
           maxIfOrNull(occurred_at, type = 'SpeakerPromoted') AS promoted_at
    FROM stoa.events FINAL
    WHERE topic = 'stoa.room-events' AND type IN ('HandRaised', 'SpeakerPromoted')
    GROUP BY room_id, user_id
)
GROUP BY room_id;

-- room_summary: the per-room report a product team asks for.
CREATE VIEW IF NOT EXISTS stoa.room_summary AS
SELECT
    r.room_id AS room_id,
    r.title AS title,
    r.host_id AS host_id,
    r.topics AS topics,
    r.created_at AS created_at,
    r.started_at AS started_at,
    r.ended_at AS ended_at,
    if(r.started_at IS NULL, 0,
       dateDiff('millisecond', r.started_at, coalesce(r.ended_at, now64(6))) / 1000) AS duration_seconds,
    l.unique_listeners AS unique_listeners,
    l.listener_minutes AS listener_minutes,
    p.peak_listeners AS peak_listeners,
    a.speakers AS speakers,
    a.hand_raises AS hand_raises,
    a.promotions AS promotions,
    c.hand_raisers AS hand_raisers,
    c.promoted_after_hand AS promoted_after_hand,
    if(c.hand_raisers = 0, NULL, c.promoted_after_hand / c.hand_raisers) AS hand_conversion,
    a.mutes AS mutes,
    a.removals AS removals,
    a.reports AS reports
FROM stoa.rooms AS r
LEFT JOIN (
    SELECT room_id, uniqExact(user_id) AS unique_listeners,
           sum(greatest(dateDiff('millisecond', joined_at, left_at), 0)) / 60000 AS listener_minutes
    FROM stoa.listener_sessions GROUP BY room_id
) AS l ON l.room_id = r.room_id
LEFT JOIN stoa.room_peaks AS p ON p.room_id = r.room_id
LEFT JOIN stoa.room_actions AS a ON a.room_id = r.room_id
LEFT JOIN stoa.hand_conversion AS c ON c.room_id = r.room_id;

-- topic_daily: per topic and day (of the room's start), what rooms on it drew.
CREATE VIEW IF NOT EXISTS stoa.topic_daily AS
SELECT
    toDate(coalesce(started_at, created_at)) AS day,
    arrayJoin(topics) AS topic,
    count() AS rooms,
    sum(unique_listeners) AS listeners,
    sum(listener_minutes) AS listener_minutes,
    max(peak_listeners) AS top_peak,
    sum(hand_raises) AS hand_raises,
    sum(reports) AS reports
FROM stoa.room_summary
GROUP BY day, topic;

-- host_history: per host, every room they ran, summed.
CREATE VIEW IF NOT EXISTS stoa.host_history AS
SELECT
    host_id,
    count() AS rooms,
    min(created_at) AS first_room_at,
    max(created_at) AS last_room_at,
    sum(duration_seconds) AS seconds_live,
    sum(unique_listeners) AS listeners,
    sum(listener_minutes) AS listener_minutes,
    max(peak_listeners) AS best_peak,
    avg(peak_listeners) AS average_peak,
    sum(reports) AS reports,
    sum(removals) AS removals
FROM stoa.room_summary
GROUP BY host_id;

-- moderation_daily: the moderation load per day.
CREATE VIEW IF NOT EXISTS stoa.moderation_daily AS
SELECT
    toDate(occurred_at) AS day,
    countIf(topic = 'stoa.room-events' AND type = 'ReportFiled') AS reports,
    uniqExactIf(room_id, topic = 'stoa.room-events' AND type = 'ReportFiled') AS rooms_reported,
    countIf(topic = 'stoa.room-events' AND type = 'SpeakerMuted') AS mutes,
    countIf(topic = 'stoa.room-events' AND type = 'ParticipantRemoved') AS removals,
    countIf(topic = 'stoa.moderation' AND type = 'SegmentFlagged') AS flags,
    countIf(topic = 'stoa.moderation' AND type = 'FlagResolved') AS flags_resolved,
    countIf(topic = 'stoa.dead-letter') AS dead_letters
FROM stoa.events FINAL
WHERE (topic = 'stoa.room-events' AND type IN ('ReportFiled', 'SpeakerMuted', 'ParticipantRemoved'))
   OR topic IN ('stoa.moderation', 'stoa.dead-letter')
GROUP BY day;

-- report_reasons: why people report, per day.
CREATE VIEW IF NOT EXISTS stoa.report_reasons AS
SELECT toDate(occurred_at) AS day, JSONExtractString(data, 'reason') AS reason,
       count() AS reports, uniqExact(room_id) AS rooms
FROM stoa.events FINAL
WHERE topic = 'stoa.room-events' AND type = 'ReportFiled'
GROUP BY day, reason
