import Testing
@testable import Core

@Suite struct LogSequencerTests {
    let signer = LogSigner.generate()
    func entry(_ seq: Int64, _ serial: String = "S") -> LogEntry {
        signer.sign(.deviceReinstated(.init(serial: serial)), seq: seq, epoch: 1, timestampMillis: 0)
    }

    @Test func entriesApplyStrictlyInSeqOrderWhateverTheArrivalOrder() {
        var s = LogSequencer(applied: 0)
        #expect(s.offer([entry(3), entry(2)]).ready.isEmpty)
        #expect(s.gapStart == 1)
        let out = s.offer([entry(1)])
        #expect(out.ready.map(\.seq) == [1, 2, 3])
        #expect(s.applied == 3 && s.gapStart == nil)
    }

    @Test func replayedEntryIsADuplicateAndADifferentOneIsAConflict() {
        var s = LogSequencer(applied: 0)
        _ = s.offer([entry(1)])
        #expect(s.offer([entry(1)]).rejected == [.duplicate(seq: 1)])
        #expect(s.offer([entry(1, "OTHER")]).rejected == [.conflict(seq: 1)])
        #expect(s.applied == 1)
    }

    @Test func conflictingPendingEntryIsRefused() {
        var s = LogSequencer(applied: 0)
        _ = s.offer([entry(5)])
        #expect(s.offer([entry(5, "X")]).rejected == [.conflict(seq: 5)])
    }

    @Test func pendingIsBounded() {
        var s = LogSequencer(applied: 0, maxPending: 2)
        let out = s.offer([entry(10), entry(11), entry(12)])
        #expect(out.rejected == [.overflow(seq: 12)])
    }
}
