-- Every record of every stoa.* topic (and the worker's table changelogs).
-- event_id: the envelope's event_id, a command's command_id, a presence batch's batch_id,
--           otherwise a hash of (topic, partition, offset, key, bytes).
-- record:   1 = the Kafka record itself (key and payload are its exact bytes; restore
--           republishes these), 0 = a listener join/leave unpacked from a presence batch.
-- Redelivered records collapse by (topic, room_id, event_id); query through FINAL
-- (the views below do) to see each event once.
CREATE TABLE IF NOT EXISTS stoa.events (
    event_id UUID,
    type LowCardinality(String),
    version UInt16,
    room_id String,
    actor_id String,
    seq Nullable(UInt64),
    occurred_at DateTime64(6, 'UTC'),
    data String,
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    key String,
    payload String,
    record UInt8,
    produced_at DateTime64(3, 'UTC'),
    ingested_at DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (topic, room_id, event_id)
