import Foundation
import ServiceLifecycle

/// Once a second, moves the PASS/FAIL counts since the last sample into the status page's 10-second series,
/// so the request path only does a relaxed atomic add.
struct ValidationSampler: Service {
    let metrics: NodeMetrics

    func run() async throws {
        await repeatUntilShutdown {
            metrics.sampleValidations()
            return .seconds(1)
        }
    }
}
