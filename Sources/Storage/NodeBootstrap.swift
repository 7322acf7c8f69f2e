package import Core
import NodeServices
package import SMAPostgres
package import Logging
import Crypto
import Foundation
import SwiftASN1

/// `sma-node init`: schema, key tables, CA and log-signing key, all in one transaction.
package enum NodeBootstrap {
    package struct Summary {
        package var tables: Int
        package var headSeq: Int64
        package var kekFingerprint: String
    }

    package static func initialize(_ c: PostgresConnection, kek: KeyEncryptionKey, tables: Int, manufacturer: String, force: Bool,
                           crlValidity: Duration = .seconds(86_400), logger: Logger, progress: (String) -> Void) throws -> Summary {
        _ = try Migrator.migrate(c, migrations: Schema.migrations, logger: logger)
        try NUCDigestMigration.run(c, kek: kek, logger: logger, progress: progress)
        return try c.transaction { c in
            // Serialize concurrent inits against the same database.
            try c.query("SELECT pg_advisory_xact_lock(7261001)")
            if try Store.isInitialized(c) {
                guard force else {
                    throw NodeError(.alreadyInitialized,
                        "this database already holds keys; refusing to overwrite them. Use --force to replace them (this discards every device, key table and API key)")
                }
                progress("--force: discarding existing keys, devices, API keys and the log")
                try c.execute(script: """
                    TRUNCATE registration_log, key_tables, authority, devices, api_keys, sealed_secrets, sma_meta, crl;
                    UPDATE log_head SET seq = 0;
                    UPDATE leader_lease SET holder = NULL, expires_at = NULL;
                    """)
            }
            progress("generating \(tables) key tables")
            var sealedTables: [LogChange.KeyTablesCreated.Table] = []
            sealedTables.reserveCapacity(tables)
            for id in 0..<tables {
                var master = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
                sealedTables.append(.init(id: id, sealedMasterKey: kek.seal(master, label: "key_table:\(id)")))
                master.withUnsafeMutableBytes { TokenCipher.cleanse($0.baseAddress!, count: $0.count) }
                if (id + 1) % 500 == 0 || id + 1 == tables { progress("  key tables: \(id + 1)/\(tables)") }
            }
            // The cluster's NUC digest key (docs/ARCHITECTURE.md §3.2): travels with the key tables, sealed under the KEK.
            var digestKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            let sealedDigestKey = kek.seal(digestKey, label: NUCDigester.keyLabel)
            digestKey.withUnsafeMutableBytes { TokenCipher.cleanse($0.baseAddress!, count: $0.count) }
            progress("creating the certificate authority (root + intermediate, P-256)")
            let ca = try CertificateAuthority.generate(manufacturer: manufacturer, now: Date())
            let signer = LogSigner.generate()
            try Store.putSealedSecret(c, Store.SecretName.rootCAKey, kek.seal(Array(ca.rootKey.rawRepresentation), label: Store.SecretName.rootCAKey))
            try Store.putSealedSecret(c, Store.SecretName.intermediateCAKey,
                                      kek.seal(Array(ca.intermediateKey.rawRepresentation), label: Store.SecretName.intermediateCAKey))
            try Store.putSealedSecret(c, Store.SecretName.logSigningKey, kek.seal(signer.rawPrivateKey, label: Store.SecretName.logSigningKey))
            try Store.setMeta(c, Store.MetaKey.kekCheck, kek.seal(Array("sma-kek-check".utf8), label: Store.MetaKey.kekCheck))
            try Store.setMeta(c, Store.MetaKey.logPublicKey, Array(signer.verifier.publicKey.rawRepresentation))
            try Store.setMeta(c, Store.MetaKey.manufacturer, Array(manufacturer.utf8))
            progress("writing the first registration-log entries (signed)")
            let entries = try Store.append(c, [
                .keyTablesCreated(.init(tables: sealedTables, sealedNUCDigestKey: sealedDigestKey)),
                .authorityInstalled(.init(rootPEM: try ca.authority.root.serializeAsPEM().pemString,
                                          intermediatePEM: try ca.authority.intermediate.serializeAsPEM().pemString)),
            ], signer: signer, fence: nil, audit: .command(force ? "sma-node init --force" : "sma-node init"))
            // The first (empty) certificate revocation list, so every node serves one from the start.
            let crl = try Store.append(c, [try CRLIssuer(authority: ca.authority, validity: crlValidity).change(Store.TransactionReads(c: c))],
                                       signer: signer, fence: nil, audit: nil)
            return Summary(tables: tables, headSeq: (crl.last ?? entries.last!).seq, kekFingerprint: kek.fingerprint)
        }
    }

    /// Creates an API key (a signed log entry in the authoritative database); returns the key, shown once.
    package static func createAPIKey(_ c: PostgresConnection, kek: KeyEncryptionKey, role: Role, name: String) throws -> (key: String, id: Int64, seq: Int64) {
        try Store.checkKEK(c, kek)
        let signer = try Store.logSigner(c, kek: kek)
        let key = APIKey.generate()
        return try c.transaction { c in
            let id = try Store.nextAPIKeyID(c)
            let entries = try Store.append(c, [.apiKeyCreated(.init(id: id, name: name, role: role, keyHash: APIKey.hash(key)))],
                                           signer: signer, fence: nil, audit: .command("sma-node api-key create"))
            return (key, id, entries.last!.seq)
        }
    }
}
