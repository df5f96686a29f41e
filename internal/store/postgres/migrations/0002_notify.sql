-- Change notifications (PostgreSQL only): every committed write to keys or revocations,
-- whoever makes it, sends NOTIFY on 'keyless.<schema>.<table>' so that every node reloads at
-- once (see Listen in listen.go, which computes the same channel name). A schema name longer
-- than 40 bytes is replaced by its md5 so that the channel fits in 63 bytes. The trigger is
-- per row, but PostgreSQL delivers identical notifications of one transaction only once.
CREATE FUNCTION keyless_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyless.'
        || CASE WHEN octet_length(TG_TABLE_SCHEMA) <= 40 THEN TG_TABLE_SCHEMA ELSE md5(TG_TABLE_SCHEMA) END
        || '.' || TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER keys_notify AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION keyless_notify('keys');
CREATE TRIGGER revocations_notify AFTER INSERT OR UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION keyless_notify('revocations');
