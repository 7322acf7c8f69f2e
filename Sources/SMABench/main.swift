// sma-bench: in-process benchmarks of the validation hot path (run in release).
//
//   swift run -c release sma-bench validate [--devices N] [--tokens N] [--seconds S] [--sample N]
//   swift run -c release sma-bench validate --legacy [--devices N] [--tokens N] [--rounds N]
//     (legacy tokens, real key at position 2 = three opens, against structured tokens in the same run)
//
// Prints one line per measurement; BENCHMARKS.md records the results.
import Core
import Crypto
import Foundation

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func rssMB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Double(line.split(separator: " ")[1])! / 1024
    }
    return 0
}

struct FastRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomBytes32(_ rng: inout FastRNG) -> Bytes32 {
    var b = [UInt8](repeating: 0, count: 32)
    for i in stride(from: 0, to: 32, by: 8) {
        withUnsafeBytes(of: rng.next()) { b.replaceSubrange(i..<(i + 8), with: $0) }
    }
    return Bytes32(b)!
}

func benchValidate(legacyOnly: Bool = false) {
    let devices = arg("--devices", 1_000_000)
    let tokenCount = arg("--tokens", 200_000)
    let seconds = Double(arg("--seconds", 5))
    let tables = arg("--tables", BirthmarkProtocol.defaultTableCount)
    // Distinct devices the tokens come from (4,096: their index entries stay in cache; more: closer to real traffic).
    let sampleSize = arg("--sample", 4096)
    var rng = FastRNG(state: 42)
    print("sma-bench validate\(legacyOnly ? " --legacy" : ""): devices=\(devices) tables=\(tables) tokens=\(tokenCount) sample=\(sampleSize) cores=\(System.activeProcessorCount)")

    let masters = (0..<tables).map { _ in randomBytes32(&rng) }
    var t0 = now()
    let single = DerivedKeyStore(masterKeys: masters, concurrency: 1)
    let deriveSingle = now() - t0
    _ = single
    t0 = now()
    let keyTables = KeyTables(masterKeys: masters)
    let deriveParallel = now() - t0
    print(String(format: "derive all %d keys: %.3f s on 1 core (%.0f ns/key), %.3f s on %d cores",
                 tables * 1000, deriveSingle, deriveSingle / Double(tables * 1000) * 1e9, deriveParallel, System.activeProcessorCount))

    // Reference cost: one swift-crypto HKDF derivation per token (no cache).
    t0 = now()
    var sink = 0
    for i in 0..<20_000 {
        let k = KeyDerivation.derivedKey(masterKey: masters[i % tables], keyIndex: i % 1000)
        sink &+= k.withUnsafeBytes { Int($0[0]) }
    }
    let hkdfRef = (now() - t0) / 20_000
    print(String(format: "swift-crypto HKDF per key (reference, uncached): %.2f us", hkdfRef * 1e6))

    // The NUC digest every validation computes (HMAC-SHA256 with a precomputed key schedule, docs/ARCHITECTURE.md §3.2).
    var keyRNG = FastRNG(state: 7)
    let digestKey = randomBytes32(&keyRNG)
    let digester = NUCDigester(key: digestKey)
    let digestInputs = (0..<1024).map { _ in NUCHash(randomBytes32(&keyRNG)) }
    t0 = now()
    for i in 0..<2_000_000 { sink &+= withUnsafeBytes(of: digester.digest(digestInputs[i & 1023]).value) { Int($0[0]) } }
    let digestCost = (now() - t0) / 2_000_000
    print(String(format: "NUC digest (HMAC-SHA256, precomputed schedule): %.3f us", digestCost * 1e6))

    let rssBefore = rssMB()
    t0 = now()
    // Devices are indexed by their NUC digest (docs/ARCHITECTURE.md §3.2); validation digests every opened hash.
    var index = DeviceIndex()
    index.reserveCapacity(devices)
    var sample: [(NUCHash, [Int])] = []
    for d in 0..<devices {
        let nuc = NUCHash(randomBytes32(&rng))
        var t = Set<Int>()
        while t.count < 3 { t.insert(Int(rng.next() % UInt64(tables))) }
        let ids = Array(t)
        try! index.insert(RegisteredDevice(serial: "CAM-\(d)", nucDigest: digester.digest(nuc), tableIDs: ids))
        if sample.count < sampleSize, rng.next() % UInt64(max(1, devices / sampleSize)) == 0 { sample.append((nuc, ids)) }
    }
    let registry = Registry()
    registry.installKeyTables(keyTables)
    registry.installNUCDigestKey(digestKey)
    registry.replaceIndex(index)
    // The same index without abuse counting, for the cost of counting (the index storage is shared).
    let uncounted = Registry(countValidations: false)
    uncounted.installKeyTables(keyTables)
    uncounted.installNUCDigestKey(digestKey)
    uncounted.replaceIndex(index)
    index = DeviceIndex()
    print(String(format: "index %d devices: %.2f s, +%.0f MB RSS (process RSS %.0f MB incl. 80 MB of derived keys)",
                 devices, now() - t0, rssMB() - rssBefore, rssMB()))

    // Tokens made like cameras make them (swift-crypto), outside the timed loop.
    var tokens: [CameraToken] = []
    tokens.reserveCapacity(tokenCount)
    for i in 0..<tokenCount {
        let (nuc, ids) = sample[i % sample.count]
        let table = ids[i % 3]
        let keyIndex = Int(rng.next() % 1000)
        let key = KeyDerivation.derivedKey(masterKey: masters[table], keyIndex: keyIndex)
        let box = try! AES.GCM.seal(nuc.bytes, using: key)
        tokens.append(CameraToken(ciphertext: Bytes32(box.ciphertext)!, authTag: Bytes16(box.tag)!,
                                  nonce: Bytes12(Array(box.nonce))!, tableID: table, keyIndex: keyIndex))
    }
    var tampered = tokens
    for i in tampered.indices { tampered[i].authTag = Bytes16([UInt8](repeating: UInt8(i & 0xff), count: 16))! }

    @discardableResult
    func run(_ label: String, _ set: [CameraToken], expectPass: Bool, on registry: Registry = registry) -> Double {
        var n = 0, passes = 0
        let start = now()
        var elapsed = 0.0
        repeat {
            for t in set where registry.validate(t) == .pass { passes += 1 }
            n += set.count
            elapsed = now() - start
        } while elapsed < seconds
        precondition(expectPass ? passes == n : passes == 0, "\(label): wrong answers")
        print(String(format: "%@: %.0f tokens/s on one thread (%.2f us/token, %d tokens)", label, Double(n) / elapsed, elapsed / Double(n) * 1e6, n))
        return Double(n) / elapsed
    }
    // Cold: the first pass over fresh tokens (caches cold for the device index); warm: repeated.
    let coldStart = now()
    var coldPass = 0
    for t in tokens where registry.validate(t) == .pass { coldPass += 1 }
    let cold = now() - coldStart
    precondition(coldPass == tokens.count)
    print(String(format: "valid tokens, cold (first pass): %.0f tokens/s (%.2f us/token)", Double(tokens.count) / cold, cold / Double(tokens.count) * 1e6))
    run("valid tokens, warm", tokens, expectPass: true)
    run("tampered tokens (FAIL)", tampered, expectPass: false)
    if legacyOnly {
        benchLegacy(tokens: tokens, masters: masters, sample: sample, registry: registry, rng: &rng)
        return
    }
    // A key table retiring (grace not over): the array check for every token, the clock for that table's tokens.
    registry.setRetirement(table: tokens[0].tableID, effectiveMillis: Int64.max - 1)
    run("valid tokens, warm, one table retiring", tokens, expectPass: true)
    print("sink \(sink % 2)")
    // Abuse detection's counting (one relaxed atomic add per identified device). The machine is shared and
    // noisy, so: 400 short chunks of 10,000 tokens, alternating counting off/on (order swapped every round);
    // the ratio of the medians and of the best chunks (least disturbed) is reported.
    var onTimes: [Double] = [], offTimes: [Double] = []
    let chunk = min(10_000, tokens.count)
    for round in 0..<400 {
        let base = (round * chunk) % (tokens.count - chunk + 1)
        let slice = tokens[base..<(base + chunk)]
        for on in (round % 2 == 0 ? [false, true] : [true, false]) {
            let reg = on ? registry : uncounted
            var passes = 0
            let t = now()
            for tok in slice where reg.validate(tok) == .pass { passes += 1 }
            let per = (now() - t) / Double(chunk)
            precondition(passes == chunk, "counting comparison: wrong answers")
            if on { onTimes.append(per) } else { offTimes.append(per) }
        }
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
    let (medOn, medOff, minOn, minOff) = (median(onTimes), median(offTimes), onTimes.min()!, offTimes.min()!)
    print(String(format: "abuse counting off: median %.3f us/token (%.0f tokens/s), best chunk %.3f us/token", medOff * 1e6, 1 / medOff, minOff * 1e6))
    print(String(format: "abuse counting on:  median %.3f us/token (%.0f tokens/s), best chunk %.3f us/token", medOn * 1e6, 1 / medOn, minOn * 1e6))
    let drainStart = now()
    let drained = registry.drainValidationCounts()
    print(String(format: "abuse counting: on/off throughput ratio %.3f (medians), %.3f (best chunks); draining %d device counters (%d nonzero) took %.1f ms",
                 medOff / medOn, minOff / minOn, devices, drained.count, (now() - drainStart) * 1e3))
    // Worst-case memory of the 24 h window: every device validated in every hour.
    let rssWindow = rssMB()
    var window = SlidingWindowCounts(buckets: 24, bucketSeconds: 3600, floor: 100, now: 0)
    let all = (0..<devices).map { (slot: $0, count: UInt32(1)) }
    let windowStart = now()
    for hour in 0..<24 { window.add(all, now: Int64(hour) * 3600) }
    let perHour = (now() - windowStart) / 24
    print(String(format: "abuse window, %d devices each validated in all 24 hours: +%.0f MB RSS; adding one hour of counts for all of them: %.0f ms",
                 devices, rssMB() - rssWindow, perHour * 1e3))
    print("sink \(sink % 2) \(window.count(slot: 0))")
}

/// Legacy against structured validation (docs/ARCHITECTURE.md §1.3), same tokens' devices, same registry, alternating
/// chunks (the machine is shared and noisy): the registry decision alone, and the whole body path (JSON decode, shape
/// checks, decision) as `/validate` runs it in process. Legacy tokens carry the real key at position 2: three opens.
func benchLegacy(tokens: [CameraToken], masters: [Bytes32], sample: [(NUCHash, [Int])], registry: Registry, rng: inout FastRNG) {
    let rounds = arg("--rounds", 200)
    var legacy: [LegacyCameraToken] = []
    var legacyBodies: [Data] = [], structuredBodies: [Data] = []
    let encoder = JSONEncoder()
    for (i, t) in tokens.enumerated() {
        let ids = sample[i % sample.count].1
        // camera-pi's order: its three tables, the one it used last here; random indices for the other two.
        let others = ids.filter { $0 != t.tableID }
        let pairs = [(others[0], Int(rng.next() % 1000)), (others[1], Int(rng.next() % 1000)), (t.tableID, t.keyIndex)]
        let packed = t.ciphertext.bytes + t.nonce.bytes + t.authTag.bytes
        legacy.append(LegacyCameraToken(packed: packed, pairs: pairs.map { (tableID: $0.0, keyIndex: $0.1) })!)
        if i < 20_000 {
            let text = Hex.encode(Array(Data(packed).base64EncodedString().utf8))
            legacyBodies.append(try! encoder.encode(LegacyValidationRequest(ciphertext: text, table_references: pairs.map(\.0),
                                                                            key_indices: pairs.map(\.1))))
            structuredBodies.append(try! encoder.encode(ValidationRequest(camera_token: .init(
                ciphertext: t.ciphertext.hex, auth_tag: Hex.encode(t.authTag.bytes), nonce: Hex.encode(t.nonce.bytes),
                table_id: t.tableID, key_index: t.keyIndex), manufacturer_authority_id: "SIMULATED_MFG")))
        }
    }
    let decoder = JSONDecoder()
    func body(_ data: Data) -> ValidationOutcome {
        switch try! decoder.decode(ValidationBody.self, from: data) {
        case .structured(let r): return registry.validate(try! r.camera_token.cameraToken(tableCount: masters.count))
        case .legacy(let r): return registry.validate(try! r.legacyToken(tableCount: masters.count))
        }
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
    /// Alternating chunks of `chunk` items: per-item seconds for (structured, legacy).
    func compare(_ label: String, chunk: Int, count: Int, structured: (Int) -> Bool, legacy: (Int) -> Bool) {
        var sTimes: [Double] = [], lTimes: [Double] = []
        for round in 0..<rounds {
            let base = (round * chunk) % (count - chunk + 1)
            for isLegacy in (round % 2 == 0 ? [false, true] : [true, false]) {
                var passes = 0
                let t = now()
                for i in base..<(base + chunk) where (isLegacy ? legacy(i) : structured(i)) { passes += 1 }
                let per = (now() - t) / Double(chunk)
                precondition(passes == chunk, "\(label): wrong answers")
                if isLegacy { lTimes.append(per) } else { sTimes.append(per) }
            }
        }
        let (ms, ml) = (median(sTimes), median(lTimes))
        print(String(format: "%@: structured median %.3f us, legacy (3 opens) median %.3f us; legacy/structured %.2fx (medians), %.2fx (best chunks)",
                     label, ms * 1e6, ml * 1e6, ml / ms, lTimes.min()! / sTimes.min()!))
    }
    compare("registry decision", chunk: min(10_000, tokens.count), count: tokens.count,
            structured: { registry.validate(tokens[$0]) == .pass }, legacy: { registry.validate(legacy[$0]) == .pass })
    compare("body: JSON decode + shape checks + decision", chunk: min(2_000, legacyBodies.count), count: legacyBodies.count,
            structured: { body(structuredBodies[$0]) == .pass }, legacy: { body(legacyBodies[$0]) == .pass })
}

/// Costs of applying replicated log entries: signature check vs payload decoding.
func benchLog() {
    let signer = LogSigner.generate()
    let der = [0x30] + [UInt8](repeating: 0x41, count: 520)
    let nuc = NUCDigest(hex: String(repeating: "ab", count: 32))!
    let tables = KeyTableTriple([1, 2, 3])!
    let entries = (0..<2000).map { (i: Int) -> LogEntry in
        let change = LogChange.DeviceProvisioned(serial: "CAM-\(i)", family: "F", nucDigest: nuc, tableIDs: tables,
                                                 certificateDER: der)
        return signer.sign(.deviceProvisioned(change), seq: Int64(i + 1), epoch: 1, timestampMillis: 0)
    }
    let v = signer.verifier
    var t0 = now()
    for e in entries { precondition(v.publicKey.isValidSignature(e.signature, for: e.signedBytes)) }
    let sig = (now() - t0) / Double(entries.count)
    t0 = now()
    for e in entries { _ = try! e.change() }
    let decode = (now() - t0) / Double(entries.count)
    t0 = now()
    for e in entries { _ = try! v.verify(e) }
    let both = (now() - t0) / Double(entries.count)
    print(String(format: "log entry (device provisioned, %d-byte payload): Ed25519 verify %.1f us, payload decode %.1f us, verify+decode %.1f us (one thread)",
                 entries[0].payload.count, sig * 1e6, decode * 1e6, both * 1e6))
}

switch CommandLine.arguments.dropFirst().first {
case "log": benchLog()
case "validate", nil: benchValidate(legacyOnly: CommandLine.arguments.contains("--legacy"))
default: print("usage: sma-bench validate [--legacy] [--devices N] [--tokens N] [--seconds S] [--tables N] [--sample N] [--rounds N]")
}
