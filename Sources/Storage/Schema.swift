import Core
import NodeServices
package import SMAPostgres
import Logging

/// The node's PostgreSQL schema, as ordered migrations (applied by `sma-node init` and at start).
package enum Schema {
    package static let migrations: [Migration] = [
        Migration(version: 1, name: "registration log, key tables, devices, secrets, api keys, lease", sql: """
            -- Non-secret facts about this database: kek fingerprint check, log verification key, manufacturer.
            CREATE TABLE sma_meta (
                key   text PRIMARY KEY,
                value bytea NOT NULL
            );
            -- Secrets sealed under the key-encryption key (AES-256-GCM, label = name).
            CREATE TABLE sealed_secrets (
                name       text PRIMARY KEY,
                sealed     bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            -- The registration log: gapless, signed; every change to devices, keys or API keys is one entry.
            CREATE TABLE registration_log (
                seq           bigint PRIMARY KEY CHECK (seq > 0),
                previous_hash bytea NOT NULL,
                epoch      bigint NOT NULL,
                created_ms bigint NOT NULL,
                kind       text   NOT NULL,
                payload    bytea  NOT NULL,
                signature  bytea  NOT NULL
            );
            -- The last seq applied to this database and that entry's chain hash; its row lock serializes
            -- writers, so seqs have no gaps.
            CREATE TABLE log_head (
                id   int PRIMARY KEY CHECK (id = 1),
                seq  bigint NOT NULL,
                hash bytea NOT NULL
            );
            INSERT INTO log_head VALUES (1, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000');
            CREATE TABLE key_tables (
                table_id          int PRIMARY KEY CHECK (table_id >= 0),
                sealed_master_key bytea NOT NULL,
                retired_at        timestamptz,
                seq               bigint NOT NULL
            );
            CREATE TABLE authority (
                id               int PRIMARY KEY CHECK (id = 1),
                root_pem         text NOT NULL,
                intermediate_pem text NOT NULL,
                seq              bigint NOT NULL
            );
            CREATE TABLE devices (
                serial            text PRIMARY KEY,
                nuc_hash          bytea NOT NULL,
                family            text NOT NULL,
                t0                int NOT NULL,
                t1                int NOT NULL,
                t2                int NOT NULL,
                certificate_pem   text NOT NULL,
                public_key_pem    text NOT NULL,
                revoked           boolean NOT NULL DEFAULT false,
                revocation_reason text,
                provisioned_at    timestamptz NOT NULL,
                revoked_at        timestamptz,
                seq               bigint NOT NULL,
                CONSTRAINT devices_nuc_hash_key UNIQUE (nuc_hash)
            );
            CREATE INDEX devices_family_serial ON devices (family, serial);
            CREATE TABLE api_keys (
                id         bigint PRIMARY KEY,
                name       text NOT NULL,
                role       text NOT NULL CHECK (role IN ('validator', 'provisioner', 'admin')),
                key_hash   bytea NOT NULL UNIQUE,
                created_at timestamptz NOT NULL DEFAULT now(),
                revoked_at timestamptz,
                seq        bigint NOT NULL
            );
            -- The leader lease (docs/ARCHITECTURE.md §2): database time, epoch incremented on every takeover.
            CREATE TABLE leader_lease (
                id         int PRIMARY KEY CHECK (id = 1),
                holder     text,
                epoch      bigint NOT NULL,
                expires_at timestamptz
            );
            INSERT INTO leader_lease VALUES (1, NULL, 0, NULL);
            """),
        Migration(version: 2, name: "key-table retirement time, audit trail, certificate revocation list", sql: """
            -- key_tables.retired_at is when the table's tokens start to FAIL (retire time + grace); a table with
            -- a retired_at in the future is "retiring" (no longer assigned, its tokens still PASS).
            -- Devices by key table (GET /api/v1/key-tables/{id}/devices).
            CREATE INDEX devices_t0 ON devices (t0);
            CREATE INDEX devices_t1 ON devices (t1);
            CREATE INDEX devices_t2 ON devices (t2);
            -- The revoked devices a CRL lists (read in every revocation's transaction).
            CREATE INDEX devices_revoked ON devices (serial) WHERE revoked;
            -- The audit trail: written in the same transaction as the change it records, in the database where
            -- the write commits (the write region's); not replicated.
            CREATE TABLE audit_log (
                id             bigserial PRIMARY KEY,
                at             timestamptz NOT NULL DEFAULT now(),
                api_key_id     bigint,
                api_key_name   text NOT NULL,
                role           text,
                action         text NOT NULL,
                target         text,
                detail         text,
                log_seq        bigint,
                client_address text,
                node_id        text NOT NULL
            );
            -- The latest certificate revocation list (a replicated crl_issued entry; every node serves it).
            CREATE TABLE crl (
                id          int PRIMARY KEY CHECK (id = 1),
                number      bigint NOT NULL,
                this_update timestamptz NOT NULL,
                next_update timestamptz NOT NULL,
                der         bytea NOT NULL,
                seq         bigint NOT NULL
            );
            """),
        Migration(version: 3, name: "abuse detection: index of reinstatements", sql: """
            -- Abuse detection replays the last 24 h of reinstatements at start (Store.reinstatements).
            CREATE INDEX registration_log_reinstatements ON registration_log (created_ms) WHERE kind = 'device_reinstated';
            """),
        Migration(version: 4, name: "API key expiry; a revocation's effective time (rotation grace) in revoked_at", sql: """
            -- An API key is refused from expires_at (NULL: never) and from revoked_at (NULL: not revoked; a rotated
            -- key's revoked_at is in the future until its grace ends).
            ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
            """),
        Migration(version: 5, name: "revoked nodes (node_revoked entries)", sql: """
            -- A revoked node's certificate is refused on the peer channel, and it never holds the lease again.
            CREATE TABLE revoked_nodes (
                node_id    text PRIMARY KEY,
                reason     text NOT NULL,
                revoked_at timestamptz NOT NULL,
                seq        bigint NOT NULL
            );
            """),
        Migration(version: 6, name: "NUC digests instead of NUC hashes", sql: """
            -- Devices keep HMAC-SHA256(cluster NUC digest key, NUC hash), never the hash (docs/ARCHITECTURE.md §3.2).
            -- Rows written before this version are converted, and nuc_hash dropped, by NUCDigestMigration right after
            -- (it needs the KEK). A duplicate is found with ON CONFLICT DO NOTHING, never by a unique violation whose
            -- DETAIL would put the value in PostgreSQL's log.
            ALTER TABLE devices ADD COLUMN nuc_digest bytea;
            ALTER TABLE devices ALTER COLUMN nuc_hash DROP NOT NULL;
            ALTER TABLE devices DROP CONSTRAINT devices_nuc_hash_key;
            ALTER TABLE devices ADD CONSTRAINT devices_nuc_digest_key UNIQUE (nuc_digest);
            """),
        Migration(version: 7, name: "compact storage: one copy of each certificate, in its entry; kinds as numbers; NUC digest hash index", sql: """
            -- A device's certificate lives once, in its signed device_provisioned log entry (new entries: DER in the
            -- binary payload); the devices row points at that entry (provisioned_seq) and the public key is read from
            -- the certificate (docs/ARCHITECTURE.md §2.2.1). Earlier entries keep their signed JSON (PEM) payloads.
            ALTER TABLE devices ADD COLUMN provisioned_seq bigint;
            UPDATE devices d SET provisioned_seq = l.seq
            FROM registration_log l
            WHERE l.kind = 'device_provisioned'
              AND CASE WHEN get_byte(l.payload, 0) = 123 THEN convert_from(l.payload, 'UTF8')::jsonb ->> 'serial' END = d.serial;
            DO $$
            DECLARE missing bigint;
            BEGIN
                SELECT count(*) INTO missing FROM devices WHERE provisioned_seq IS NULL;
                IF missing > 0 THEN
                    RAISE EXCEPTION 'schema 7: % device(s) have no device_provisioned entry in registration_log, so their certificates would be lost; nothing was changed', missing;
                END IF;
            END $$;
            ALTER TABLE devices ALTER COLUMN provisioned_seq SET NOT NULL;
            ALTER TABLE devices DROP COLUMN certificate_pem, DROP COLUMN public_key_pem;
            -- The NUC digest's uniqueness is checked by the one writer holding the log_head row lock (SQLLogApplier),
            -- so a hash index (~20 bytes a device) serves the lookup instead of a unique B-tree (~80).
            ALTER TABLE devices DROP CONSTRAINT devices_nuc_digest_key;
            CREATE INDEX devices_nuc_digest ON devices USING hash (nuc_digest);
            -- Rewrites the table (and its indexes) without the dropped columns' bytes.
            CLUSTER devices USING devices_pkey;
            -- Entry kinds as numbers (LogEntryKind.storageCode); an unknown name fails the NOT NULL constraint.
            DROP INDEX registration_log_reinstatements;
            ALTER TABLE registration_log ALTER COLUMN kind TYPE smallint USING CASE kind
                WHEN 'key_tables_created' THEN 1 WHEN 'authority_installed' THEN 2 WHEN 'device_provisioned' THEN 3
                WHEN 'device_revoked' THEN 4 WHEN 'device_reinstated' THEN 5 WHEN 'api_key_created' THEN 6
                WHEN 'api_key_revoked' THEN 7 WHEN 'key_table_retired' THEN 8 WHEN 'crl_issued' THEN 9
                WHEN 'node_revoked' THEN 10 END;
            CREATE INDEX registration_log_reinstatements ON registration_log (created_ms) WHERE kind = 5;
            """),
    ]
}
