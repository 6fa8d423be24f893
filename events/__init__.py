"""The log itself: topics, producing, consuming, dead letters, replay."""
