import Dispatch

/// Every derived key of every key table, precomputed into one contiguous buffer.
///
/// 2,500 tables x 1,000 keys x 32 bytes = 80 MB. Built once (in parallel over the
/// machine's cores) when the key tables are loaded; immutable afterwards, so readers
/// need no lock. The buffer is wiped when the store is released.
public final class DerivedKeyStore: @unchecked Sendable {
    // @unchecked: `storage` is written only inside `init` and read-only afterwards.
    private let storage: UnsafeMutableRawBufferPointer
    /// Number of tables held.
    public let tableCount: Int

    /// Derives all keys of `masterKeys` (index = table id).
    /// - Parameter concurrency: worker threads; defaults to the active processor count.
    public init(masterKeys: [Bytes32], concurrency: Int = System.activeProcessorCount) {
        tableCount = masterKeys.count
        let perTable = BirthmarkProtocol.keysPerTable * 32
        storage = .allocate(byteCount: max(1, masterKeys.count * perTable), alignment: 64)
        // Workers write disjoint slices of the buffer; concurrentPerform returns after all finish.
        nonisolated(unsafe) let base = storage
        let workers = max(1, min(concurrency, masterKeys.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var table = worker
            while table < masterKeys.count {
                let slice = UnsafeMutableRawBufferPointer(rebasing: base[(table * perTable)..<((table + 1) * perTable)])
                KeyDerivation.deriveKeys(masterKey: masterKeys[table], into: slice)
                table += workers
            }
        }
    }

    deinit {
        TokenCipher.cleanse(storage.baseAddress!, count: storage.count)
        storage.deallocate()
    }

    /// The 32-byte key for (table, index), or nil when either is out of range.
    @inline(__always)
    public func withKey<R>(table: Int, index: Int, _ body: (UnsafeRawPointer) -> R) -> R? {
        guard table >= 0, table < tableCount, index >= 0, index < BirthmarkProtocol.keysPerTable else { return nil }
        return body(UnsafeRawPointer(storage.baseAddress! + (table * BirthmarkProtocol.keysPerTable + index) * 32))
    }
}

/// Processor information without Foundation.
public enum System {
    /// Cores this process may run on.
    public static var activeProcessorCount: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 2
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
