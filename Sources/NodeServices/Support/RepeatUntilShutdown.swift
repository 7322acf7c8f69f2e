import Core
import Foundation
import Logging
import ServiceLifecycle

/// Runs `step` again and again until the task is cancelled or its service group shuts down
/// gracefully; `step` returns how long to pause before the next run. A pause ends early on shutdown.
package func repeatUntilShutdown(_ step: () async -> Duration) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        let pause = await step()
        _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
    }
}

/// A duration as seconds with three decimals, for log metadata (`"1.250"`).
package func seconds(_ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    return String(format: "%.3f", s)
}
