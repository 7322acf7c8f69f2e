import ServiceLifecycle

/// Runs `step` again and again until the task is cancelled or its service group shuts down
/// gracefully; `step` returns how long to pause before the next run. A pause ends early on shutdown.
func repeatUntilShutdown(_ step: () async -> Duration) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        let pause = await step()
        _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
    }
}
