-- The same tables as the SQLite backend's 0001_init.sql, in PostgreSQL types: times are
-- timestamptz (microsecond precision, like the store contract) and a zero time is NULL.

-- Keys at rest: signing keys of the CI token issuer and session-sealing keys.
-- material is sealed by the keys package under the master key; never plaintext.
-- UNIQUE (purpose, generation) is what makes key creation race-free across nodes.
CREATE TABLE keys (
    id          text        PRIMARY KEY,
    purpose     text        NOT NULL,
    algorithm   text        NOT NULL,
    generation  bigint      NOT NULL,
    state       text        NOT NULL,
    material    bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    retiring_at timestamptz,
    retire_at   timestamptz,
    UNIQUE (purpose, generation)
);

-- Revocations: one row per revoked session ('s/<id>') or per role ('r/<name>').
CREATE TABLE revocations (
    id            text        PRIMARY KEY,
    session_id    text        NOT NULL DEFAULT '',
    role          text        NOT NULL DEFAULT '',
    issued_before timestamptz,
    created_at    timestamptz,
    expires_at    timestamptz NOT NULL,
    reason        text        NOT NULL DEFAULT ''
);

-- Audit events from every node: indexed fields plus the whole CloudTrail-shaped event.
-- data is json (not jsonb) so that the event reads back byte for byte as it was written.
CREATE TABLE audit_events (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   text        NOT NULL UNIQUE,
    event_time timestamptz NOT NULL,
    name       text        NOT NULL,
    source     text        NOT NULL DEFAULT '',
    role       text        NOT NULL DEFAULT '',
    subject    text        NOT NULL DEFAULT '',
    session_id text        NOT NULL DEFAULT '',
    decision   text        NOT NULL DEFAULT '',
    data       json        NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time, seq);
CREATE INDEX audit_events_role ON audit_events (role, event_time, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, event_time, seq);
CREATE INDEX audit_events_name ON audit_events (name, event_time, seq);
CREATE INDEX audit_events_decision ON audit_events (decision, event_time, seq);
