-- Which scheduler took a request from the inbox. A sender that gives up may withdraw its request
-- only while nobody took it, or once the taker no longer holds a valid scheduler lease (then it can
-- never commit the answer, since every scheduler batch is checked against the lease).
ALTER TABLE requests ADD COLUMN taken_by TEXT;

-- Pending = neither taken nor answered (a withdrawn request is answered without being taken).
DROP INDEX requests_pending;
CREATE INDEX requests_pending ON requests (id) WHERE taken_at IS NULL AND resolved_at IS NULL;
