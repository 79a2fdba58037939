/**
 * The PostgreSQL objects of `sluice/coord`, created idempotently in the backend's own schema.
 * Each step is one PL/pgSQL function, so it is one round trip and one atomic transaction; steps on
 * one semaphore are serialized by a row lock on its `semaphores` row (taken before anything is
 * read), so "is a permit free?" and "take it" cannot interleave between processes.
 */
export function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.semaphores (
  name text PRIMARY KEY,
  fence bigint NOT NULL DEFAULT 0,
  ticket bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ${s}.holders (
  name text NOT NULL,
  id text NOT NULL,
  permits int NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (name, id)
);
CREATE TABLE IF NOT EXISTS ${s}.waiters (
  name text NOT NULL,
  id text NOT NULL,
  ticket bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (name, id)
);
CREATE INDEX IF NOT EXISTS waiters_fifo ON ${s}.waiters (name, ticket);
CREATE TABLE IF NOT EXISTS ${s}.rates (
  name text PRIMARY KEY,
  tat double precision NOT NULL
);

CREATE OR REPLACE FUNCTION ${s}.try_acquire(p_name text, p_id text, p_permits int, p_limit int, p_ttl_ms double precision, p_channel text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_ttl interval := make_interval(secs => p_ttl_ms / 1000);
  v_ticket bigint;
  v_head text;
  v_used int;
  v_fence bigint;
BEGIN
  INSERT INTO ${s}.semaphores (name) VALUES (p_name) ON CONFLICT DO NOTHING;
  PERFORM 1 FROM ${s}.semaphores WHERE name = p_name FOR UPDATE;
  v_now := clock_timestamp();
  DELETE FROM ${s}.holders WHERE name = p_name AND expires_at <= v_now;
  DELETE FROM ${s}.waiters WHERE name = p_name AND expires_at <= v_now AND id <> p_id;
  UPDATE ${s}.waiters SET expires_at = v_now + v_ttl WHERE name = p_name AND id = p_id;
  IF NOT FOUND THEN
    UPDATE ${s}.semaphores SET ticket = ticket + 1 WHERE name = p_name RETURNING ticket INTO v_ticket;
    INSERT INTO ${s}.waiters (name, id, ticket, expires_at) VALUES (p_name, p_id, v_ticket, v_now + v_ttl);
  END IF;
  SELECT id INTO v_head FROM ${s}.waiters WHERE name = p_name ORDER BY ticket LIMIT 1;
  SELECT coalesce(sum(permits), 0) INTO v_used FROM ${s}.holders WHERE name = p_name;
  IF v_head <> p_id OR v_used + p_permits > p_limit THEN
    RETURN NULL;
  END IF;
  DELETE FROM ${s}.waiters WHERE name = p_name AND id = p_id;
  INSERT INTO ${s}.holders (name, id, permits, expires_at) VALUES (p_name, p_id, p_permits, v_now + v_ttl);
  UPDATE ${s}.semaphores SET fence = fence + 1 WHERE name = p_name RETURNING fence INTO v_fence;
  -- The next waiter may fit in what is left.
  IF v_used + p_permits < p_limit AND EXISTS (SELECT 1 FROM ${s}.waiters WHERE name = p_name) THEN
    PERFORM pg_notify(p_channel, p_name);
  END IF;
  RETURN v_fence;
END $$;

CREATE OR REPLACE FUNCTION ${s}.renew(p_name text, p_id text, p_ttl_ms double precision)
RETURNS boolean LANGUAGE sql AS $$
  WITH r AS (
    UPDATE ${s}.holders SET expires_at = clock_timestamp() + make_interval(secs => p_ttl_ms / 1000)
    WHERE name = p_name AND id = p_id AND expires_at > clock_timestamp()
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM r)
$$;

CREATE OR REPLACE FUNCTION ${s}.release(p_name text, p_id text, p_channel text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ${s}.holders WHERE name = p_name AND id = p_id;
  IF FOUND THEN PERFORM pg_notify(p_channel, p_name); END IF;
END $$;

CREATE OR REPLACE FUNCTION ${s}.leave(p_name text, p_id text, p_channel text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ${s}.waiters WHERE name = p_name AND id = p_id;
  IF FOUND THEN PERFORM pg_notify(p_channel, p_name); END IF;
END $$;

-- GCRA, the same formula as gcra() in backends/memory.ts. Returns admitted, retry_after_ms, at_ms.
CREATE OR REPLACE FUNCTION ${s}.rate(p_name text, p_cost double precision, p_emission_ms double precision, p_burst int,
  OUT admitted boolean, OUT retry_after_ms double precision, OUT at_ms double precision)
LANGUAGE plpgsql AS $$
DECLARE
  v_tat double precision;
  v_new double precision;
BEGIN
  INSERT INTO ${s}.rates (name, tat) VALUES (p_name, 0) ON CONFLICT DO NOTHING;
  SELECT tat INTO v_tat FROM ${s}.rates WHERE name = p_name FOR UPDATE;
  at_ms := extract(epoch FROM clock_timestamp()) * 1000;
  v_new := greatest(v_tat, at_ms) + p_cost * p_emission_ms;
  IF v_new - p_burst * p_emission_ms > at_ms THEN
    admitted := false;
    retry_after_ms := v_new - p_burst * p_emission_ms - at_ms;
  ELSE
    UPDATE ${s}.rates SET tat = v_new WHERE name = p_name;
    admitted := true;
    retry_after_ms := 0;
  END IF;
END $$;
`;
}
