-- Transcript index: every final transcript segment, for search and for a recording's transcript.
-- Filled by a materialized view on each insert into stoa.events, so it needs no process of its
-- own; a redelivered or restored TranscriptSegment is inserted again and collapses by
-- (room_id, start_seconds, segment_id) like stoa.events does: read it through FINAL.
-- Offsets count seconds from the room's start (the recording's timeline).
-- Search matches whole words: hasToken(lowerUTF8(text), word) for each word of the query, which
-- the token bloom filter answers per granule block (a token index rather than an n-gram one:
-- the app asks for words, and a token filter is smaller and has fewer false positives).
-- lowerUTF8 rather than lower: lower folds ASCII only, and people say "Ärger" too.
CREATE TABLE IF NOT EXISTS stoa.transcript_segments (
    room_id String,
    segment_id UUID,
    start_seconds Float64,
    end_seconds Float64,
    speaker_id String,
    text String,
    confidence Nullable(Float32),
    occurred_at DateTime64(6, 'UTC'),
    ingested_at DateTime64(6, 'UTC'),
    INDEX text_tokens lowerUTF8(text) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
) ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (room_id, start_seconds, segment_id);

-- Never throws on a malformed record (a failing view would fail the archiver's insert, and the
-- archiver retries an insert forever): a record without a valid id is left out, missing numbers
-- are 0.
CREATE MATERIALIZED VIEW IF NOT EXISTS stoa.transcript_segments_mv TO stoa.transcript_segments AS
SELECT
    room_id,
    toUUIDOrZero(JSONExtractString(data, 'segment_id')) AS segment_id,
    JSONExtractFloat(data, 'start_seconds') AS start_seconds,
    JSONExtractFloat(data, 'end_seconds') AS end_seconds,
    JSONExtractString(data, 'speaker_id') AS speaker_id,
    JSONExtractString(data, 'text') AS text,
    JSONExtract(data, 'confidence', 'Nullable(Float32)') AS confidence,
    occurred_at,
    ingested_at
FROM stoa.events
WHERE topic = 'stoa.transcripts' AND type = 'TranscriptSegment' AND record = 1
  AND isValidJSON(data) AND toUUIDOrZero(JSONExtractString(data, 'segment_id')) != toUUIDOrZero('');

-- Segments archived before this migration: the view only sees inserts made after it exists.
INSERT INTO stoa.transcript_segments
SELECT
    room_id,
    toUUIDOrZero(JSONExtractString(data, 'segment_id')),
    JSONExtractFloat(data, 'start_seconds'),
    JSONExtractFloat(data, 'end_seconds'),
    JSONExtractString(data, 'speaker_id'),
    JSONExtractString(data, 'text'),
    JSONExtract(data, 'confidence', 'Nullable(Float32)'),
    occurred_at,
    ingested_at
FROM stoa.events FINAL
WHERE topic = 'stoa.transcripts' AND type = 'TranscriptSegment' AND record = 1
  AND isValidJSON(data) AND toUUIDOrZero(JSONExtractString(data, 'segment_id')) != toUUIDOrZero('')
