-- Keys at rest: signing keys of the CI token issuer and session-sealing keys.
-- material is sealed by the keys package under the master key; never plaintext.
CREATE TABLE keys (
    id          TEXT    PRIMARY KEY,
    purpose     TEXT    NOT NULL,
    algorithm   TEXT    NOT NULL,
    generation  INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    material    BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC
    retiring_at INTEGER NOT NULL DEFAULT 0,
    retire_at   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (purpose, generation)
);

-- Revocations: one row per revoked session ('s/<id>') or per role ('r/<name>').
CREATE TABLE revocations (
    id            TEXT    PRIMARY KEY,
    session_id    TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT '',
    issued_before INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL,
    reason        TEXT    NOT NULL DEFAULT ''
);

-- Audit events: indexed fields plus the whole CloudTrail-shaped event.
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX audit_events_time ON audit_events (event_time, seq);
CREATE INDEX audit_events_role ON audit_events (role, event_time);
CREATE INDEX audit_events_subject ON audit_events (subject, event_time);
