-- Token buckets of rate limits (`rateLimits`, bucket `rate:<name>`) and bandwidth budgets
-- (`bandwidth`, bucket `bandwidth:<name>`, one token a byte): one budget for the installation,
-- shared by the scheduler (tokens of tasks' `rate`, taken at admission) and every worker process
-- (`ctx.take`, `ctx.throttle`). GCRA, as in sluice/coord's `rate()` (backends/postgres-schema.ts)
-- and core/rate.ts: a bucket's whole state is its "theoretical arrival time" `tat` (ms), and
-- every decision is one call, serialized by the row lock, on the database's clock.
CREATE TABLE rate_buckets (
  name TEXT PRIMARY KEY,
  tat  DOUBLE PRECISION NOT NULL
);

-- Take as many tokens as the bucket holds, up to p_max, if it holds at least p_min (p_min = p_max:
-- all or nothing). Returns what was taken, how long until p_min would be (when nothing was), how
-- long until the bucket holds one more token than it does now, and the decision's time.
CREATE FUNCTION take_tokens(p_name TEXT, p_min DOUBLE PRECISION, p_max DOUBLE PRECISION, p_emission_ms DOUBLE PRECISION, p_burst DOUBLE PRECISION,
  OUT taken DOUBLE PRECISION, OUT retry_after_ms DOUBLE PRECISION, OUT next_token_ms DOUBLE PRECISION, OUT at_ms DOUBLE PRECISION)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  v_tat DOUBLE PRECISION;
  v_base DOUBLE PRECISION;
  v_left DOUBLE PRECISION;
BEGIN
  INSERT INTO rate_buckets (name, tat) VALUES (p_name, 0) ON CONFLICT DO NOTHING;
  SELECT tat INTO v_tat FROM rate_buckets WHERE name = p_name FOR UPDATE;
  at_ms := extract(epoch FROM clock_timestamp()) * 1000;
  v_base := greatest(v_tat, at_ms);
  -- Whole tokens held now (0 … burst); the tolerance absorbs floating-point sums.
  taken := least(p_max, greatest(0, floor(p_burst - (v_base - at_ms) / p_emission_ms + 1e-9)));
  IF taken < p_min THEN
    taken := 0;
    retry_after_ms := greatest(1e-3, v_base + p_min * p_emission_ms - p_burst * p_emission_ms - at_ms);
  ELSE
    v_base := v_base + taken * p_emission_ms;
    UPDATE rate_buckets SET tat = v_base WHERE name = p_name;
    retry_after_ms := 0;
  END IF;
  v_left := greatest(0, floor(p_burst - (v_base - at_ms) / p_emission_ms + 1e-9));
  next_token_ms := CASE WHEN v_left >= p_burst THEN 0 ELSE greatest(0, v_base + (v_left + 1 - p_burst) * p_emission_ms - at_ms) END;
END $$;

-- Give back tokens taken and not used (admission took more than it granted).
CREATE FUNCTION refund_tokens(p_name TEXT, p_tokens DOUBLE PRECISION, p_emission_ms DOUBLE PRECISION)
RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
  UPDATE rate_buckets SET tat = tat - p_tokens * p_emission_ms WHERE name = p_name
$$;

-- What a bucket holds now and how long until one more token, without taking any: `sluice explain`
-- and `sluice pools` from another process.
CREATE FUNCTION peek_tokens(p_name TEXT, p_emission_ms DOUBLE PRECISION, p_burst DOUBLE PRECISION,
  OUT tokens DOUBLE PRECISION, OUT next_token_ms DOUBLE PRECISION)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  v_now DOUBLE PRECISION := extract(epoch FROM clock_timestamp()) * 1000;
  v_base DOUBLE PRECISION;
BEGIN
  SELECT greatest(coalesce(max(tat), 0), v_now) INTO v_base FROM rate_buckets WHERE name = p_name;
  tokens := greatest(0, least(p_burst, floor(p_burst - (v_base - v_now) / p_emission_ms + 1e-9)));
  next_token_ms := CASE WHEN tokens >= p_burst THEN 0 ELSE greatest(0, v_base + (tokens + 1 - p_burst) * p_emission_ms - v_now) END;
END $$;
