import API
import Foundation
import Logging
import NodeServices
import ServiceLifecycle
import UnixSignals

/// Re-reads the public listener's certificate, key and client CA on SIGHUP (docs/ARCHITECTURE.md §3.3.1).
///
/// New handshakes use the new certificate; established connections keep theirs, so nothing is dropped. A reload that
/// fails keeps the old certificate and logs an error naming the file; either way `sma_public_tls_reloads_total`
/// counts it, and a success logs the new certificate's serial and end of validity.
struct PublicTLSReloader: Service {
    let tls: PublicTLSContext
    let metrics: NodeMetrics
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            reload()
        }
    }

    /// One reload: swap on success, keep the old certificate on failure.
    func reload() {
        do {
            let info = try tls.reload()
            metrics.publicTLSCertificate(notAfter: info.notAfter, reloaded: true)
            logger.notice("public TLS certificate reloaded", metadata: Self.metadata(tls))
        } catch {
            metrics.publicTLSReloadFailed()
            logger.error("public TLS reload failed; still serving the previous certificate", metadata: [
                "error": "\(error)", "tls.serial": "\(tls.certificate.serial)",
            ])
        }
    }

    /// Log metadata naming the certificate new handshakes present.
    static func metadata(_ tls: PublicTLSContext) -> Logger.Metadata {
        let info = tls.certificate
        return ["tls.cert_file": "\(tls.certFile)", "tls.serial": "\(info.serial)", "tls.subject": "\(info.subject)",
                "tls.not_after": "\(ISO8601DateFormatter().string(from: info.notAfter))",
                "tls.client_auth": "\(tls.clientAuth.rawValue)"]
    }
}
