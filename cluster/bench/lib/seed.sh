# Benchmark fixtures: devices inserted straight into a node's database, shaped exactly as provisioning stores them.
# Source it from a cluster/bench script (after cluster/lib.sh); not used by any node or test.
#
# seed_devices URL FROM TO TEMPLATE_SERIAL
#   Inserts devices SEED-FROM..SEED-TO and one device_provisioned log entry each (seqs after the log head), in chunks
#   of 500,000, each a transaction. Every entry has the binary payload a real provisioning writes (serial, family,
#   NUC digest, three key tables and the DER certificate of TEMPLATE_SERIAL, a device provisioned through the API),
#   so PostgreSQL's bytes per device are those of real devices. The entries are not signed (random bytes stand in
#   for the signature and chain hashes): a node loads devices from the devices table and appends after the head, so
#   start-up, memory, storage and provisioning are measured as with real entries, but a peer would refuse to pull them.
seed_devices() {
    local url=$1 from=$2 to=$3 template=$4 lo hi
    local chunk=500000
    [[ $("$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "$url" -v tpl="$template" \
        <<<"SELECT count(*) FROM devices d JOIN registration_log l ON l.seq = d.provisioned_seq WHERE d.serial = :'tpl' AND get_byte(l.payload, 0) = 1") == 1 ]] \
        || die "seed_devices: no device $template with a binary device_provisioned entry to copy the certificate from"
    for ((lo = from; lo <= to; lo += chunk)); do
        hi=$((lo + chunk - 1))
        ((hi > to)) && hi=$to
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$url" -v lo="$lo" -v hi="$hi" -v tpl="$template" <<'SQL' >/dev/null
BEGIN;
CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT i, h.seq + i - :lo + 1 AS q, 'SEED-' || i AS s, sha256(('seed-' || i)::bytea) AS n,
       i % 2500 AS a, (i + 1) % 2500 AS b, (i + 2) % 2500 AS c
FROM generate_series(:lo, :hi) AS i, log_head h;
WITH t AS (
    SELECT substring(l.payload FROM 1 + 1 + 2 + octet_length(convert_to(d.serial, 'UTF8')) + 2
                                 + octet_length(convert_to(d.family, 'UTF8')) + 32 + 6) AS der
    FROM devices d JOIN registration_log l ON l.seq = d.provisioned_seq WHERE d.serial = :'tpl')
INSERT INTO registration_log (seq, previous_hash, epoch, created_ms, kind, payload, signature)
SELECT q, sha256(int8send(q - 1)), 1, (extract(epoch FROM now()) * 1000)::bigint, 3,
       '\x01'::bytea || int2send(octet_length(s)::int2) || convert_to(s, 'UTF8') || '\x0005'::bytea || convert_to('bench', 'UTF8')
       || n || int2send(a::int2) || int2send(b::int2) || int2send(c::int2) || t.der,
       sha512(int8send(q))
FROM seed, t;
INSERT INTO devices (serial, nuc_digest, family, t0, t1, t2, provisioned_at, seq, provisioned_seq)
SELECT s, n, 'bench', a, b, c, now(), q, q FROM seed;
UPDATE log_head SET seq = seq + (:hi - :lo + 1), hash = sha256(int8send(seq + (:hi - :lo + 1))) WHERE id = 1;
COMMIT;
SQL
        info "seeded devices up to $hi"
    done
    # The steady state of tables that grew over time: vacuumed (an autovacuum of millions of fresh rows would
    # otherwise run during the measurements that follow) and analyzed.
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$url" -c "VACUUM (ANALYZE) devices, registration_log" >/dev/null
}

# PostgreSQL bytes per device: devices and registration_log with their indexes and TOAST (pg_total_relation_size).
pg_bytes_per_device() {
    "$PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1 "$1" -c "
SELECT (pg_total_relation_size('devices') + pg_total_relation_size('registration_log')) / greatest(count(*), 1) FROM devices"
}
