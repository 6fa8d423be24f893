"""The archive: every record of the log in ClickHouse, for analysts and for restore."""
