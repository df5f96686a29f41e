-- Audit inserts are the hot write of every STS call and S3 request (group-committed by
-- the audit writer), so audit_events keeps only the b-trees a query or a duplicate check
-- needs: the table itself, the unique event id (ON CONFLICT skips a retried event) and
-- the time index every query reads in order ("ORDER BY event_time, seq").
--
-- seq loses AUTOINCREMENT: a plain INTEGER PRIMARY KEY is the rowid, which SQLite sets
-- to the largest rowid plus one, so it still grows in insertion order (audit events are
-- never deleted), without the sqlite_sequence row AUTOINCREMENT rewrites on every insert
-- statement. The role and subject indexes go: each cost one more b-tree insert per event,
-- and a query filtering by role or subject now walks the time index (EXPLAIN QUERY PLAN:
-- "SCAN audit_events USING INDEX audit_events_time"), which also gives its order.
CREATE TABLE audit_events_lean (
    seq        INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL UNIQUE,
    event_time INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    source     TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT '',
    subject    TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    decision   TEXT    NOT NULL DEFAULT '',
    data       TEXT    NOT NULL
);
INSERT INTO audit_events_lean (seq, event_id, event_time, name, source, role, subject, session_id, decision, data)
    SELECT seq, event_id, event_time, name, source, role, subject, session_id, decision, data
    FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_lean RENAME TO audit_events;
CREATE INDEX audit_events_time ON audit_events (event_time, seq);
