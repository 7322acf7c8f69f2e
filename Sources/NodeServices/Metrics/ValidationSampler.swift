import Core
import Foundation
import Logging
import ServiceLifecycle

/// Once a second, moves the PASS/FAIL counts since the last sample into the status page's 10-second series,
/// so the request path only does a relaxed atomic add.
package struct ValidationSampler: Service {
    package let metrics: NodeMetrics


    package init(metrics: NodeMetrics) {
        self.metrics = metrics
    }
    package func run() async throws {
        await repeatUntilShutdown {
            metrics.sampleValidations()
            return .seconds(1)
        }
    }
}
