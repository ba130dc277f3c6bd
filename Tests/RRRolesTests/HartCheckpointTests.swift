import Foundation
import RRProto
import RRRoles
import XCTest

/// A hart's state in the middle of a slice, as the hart process receives the checkpoint messages (PauseAt,
/// SaveState, RestoreState, Resume): the hart tests' machine (HartRunnerTests) with a program of its own.
extension HartRunnerTests {
    func send(_ runner: HartRunner, _ body: Rrvm_Envelope.OneOf_Body, g: UInt64 = 0) {
        var envelope = Rrvm_Envelope()
        envelope.g = g
        envelope.body = body
        runner.receive(envelope)
    }

    var lastSent: Rrvm_Envelope.OneOf_Body? { transport.sent.last?.body }

    /// The checks the hart sent, from the `index`th message it sent on.
    func checks(sentFrom index: Int) -> [Rrvm_HartCheck] {
        transport.sent[index...].compactMap { if case .hartCheck(let check)? = $0.body { return check } else { return nil } }
    }

    static let checkpointProgram = [
        Assemble.addi(7, 0, 1), Assemble.slli(7, 7, 31),  // x7 = RAM base
        Assemble.lrD(8, 7),
        Assemble.addi(9, 0, 42),
        Assemble.scD(10, 9, 7),                            // x10 = 0 while the reservation holds
        Assemble.addi(1, 1, 1), Assemble.jump(-4),
    ]

    /// Paused inside a slice (between an LR and its SC) and saved; run on to the slice's end; the state put
    /// back and resumed: the slice ends exactly as before (same count, state hash, pc), the SC still succeeds.
    func testAHartRestoredInsideItsSliceEndsTheSliceAsBefore() throws {
        let hart = runner(Self.checkpointProgram)
        send(hart, .pauseAt(.with { $0.executed = 3 }))
        send(hart, .run(.with { $0.budget = 50; $0.checkAt = 10; $0.checkInterval = 15 }), g: 1000)
        guard case .paused(let paused)? = lastSent else { return XCTFail("no Paused: \(transport.sent)") }
        XCTAssertEqual(paused.executed, 3)
        XCTAssertTrue(hart.sliceActive)
        send(hart, .saveState(Rrvm_SaveState()))
        guard case .hartState(let saved)? = lastSent else { return XCTFail("no HartState: \(String(describing: lastSent))") }
        XCTAssertTrue(saved.hasSlice)
        XCTAssertEqual(saved.slice.sliceG, 1000)
        XCTAssertEqual(saved.slice.budget, 50)
        XCTAssertEqual(saved.slice.executed, 3)
        XCTAssertEqual(saved.slice.checkAt, 10)
        XCTAssertNotNil(saved.hasReservation ? saved.reservation : nil, "the LR's reservation is kept")

        send(hart, .resume(Rrvm_Resume()))
        let first = try XCTUnwrap(transport.yields.last)
        XCTAssertEqual(first.executed, 50)
        let firstChecks = checks(sentFrom: 0)
        XCTAssertEqual(firstChecks.map(\.executed), [10, 25, 40])
        let restoredFrom = transport.sent.count
        XCTAssertEqual(hart.hart.register(10), 0)

        ram.initializeMemory(as: UInt8.self, repeating: 0, count: 1 << 20)
        send(hart, .restoreState(.with { $0.hart = saved }))
        guard case .stateRestored? = lastSent else { return XCTFail("not restored: \(String(describing: lastSent))") }
        XCTAssertTrue(hart.sliceActive)
        XCTAssertTrue(hart.isPaused)
        XCTAssertEqual(hart.hart.retired, 3)
        send(hart, .resume(.with { $0.thenPauseAt = 20 }))
        guard case .paused(let again)? = lastSent else { return XCTFail("no second pause") }
        XCTAssertEqual(again.executed, 20)
        send(hart, .resume(Rrvm_Resume()))
        let second = try XCTUnwrap(transport.yields.last)
        XCTAssertEqual(transport.yields.count, 2)
        XCTAssertEqual(second.executed, first.executed)
        XCTAssertEqual(second.stateHash, first.stateHash)
        XCTAssertEqual(second.pc, first.pc)
        XCTAssertEqual(checks(sentFrom: restoredFrom), firstChecks, "the restored slice sends the same checks")
        XCTAssertEqual(hart.hart.register(10), 0, "the SC after the restored pause still holds the reservation")
    }

    /// A hart keeps the declarations it holds from slice to slice; restored inside a slice, it holds exactly those of
    /// the state, not one it got after the state was saved (it would answer a read the device must see).
    func testAHartRestoredInsideItsSliceHoldsOnlyTheStatesDeclarations() throws {
        let hart = runner([
            Assemble.lui(5, 0x10000), Assemble.addi(1, 1, 1),
            Assemble.lbu(10, 5, 5),                                 // the UART's LSR
            Assemble.jump(0),
        ])
        send(hart, .pauseAt(.with { $0.executed = 1 }))
        send(hart, .run(.with { $0.budget = 50 }))
        send(hart, .saveState(Rrvm_SaveState()))
        guard case .hartState(let saved)? = lastSent else { return XCTFail("no HartState: \(String(describing: lastSent))") }
        XCTAssertTrue(saved.slice.stableReads.isEmpty, "no declaration held when saved")

        send(hart, .resume(Rrvm_Resume()))
        XCTAssertEqual(transport.requests.last?.address, 0x1000_0005)
        XCTAssertTrue(hart.awaitingReply, "no declaration: the read waits")
        hart.receive(transport.reply(.with { $0.value = 0x60; $0.stableReads = Self.consoleDeclaration[0].reads }))
        XCTAssertEqual(transport.yields.last?.executed, 50)

        send(hart, .restoreState(.with { $0.hart = saved }))
        guard case .stateRestored? = lastSent else { return XCTFail("not restored: \(String(describing: lastSent))") }
        let requestsBefore = transport.requests.count
        send(hart, .resume(Rrvm_Resume()))
        XCTAssertEqual(transport.requests.count, requestsBefore + 1)
        XCTAssertFalse(transport.requests.last?.answered ?? true, "the read is not answered from the later declaration")
        XCTAssertTrue(hart.awaitingReply)
    }

    func testAPauseTheSliceDoesNotReachIsDroppedWithIt() throws {
        let hart = runner(Self.checkpointProgram)
        send(hart, .pauseAt(.with { $0.executed = 80 }))
        send(hart, .run(.with { $0.budget = 30 }))
        XCTAssertEqual(transport.yields.map(\.executed), [30])
        send(hart, .run(.with { $0.budget = 100 }), g: 30)
        XCTAssertEqual(transport.yields.map(\.executed), [30, 100], "the next slice is not paused")
        XCTAssertTrue(transport.sent.allSatisfy { if case .paused? = $0.body { return false } else { return true } })
    }

    func testAStateIsRefusedWhileRunningOrForAnotherHart() throws {
        let hart = runner(Self.checkpointProgram)
        send(hart, .saveState(Rrvm_SaveState()))
        guard case .hartState(var state)? = lastSent else { return XCTFail("between slices, the state is there") }
        XCTAssertFalse(state.hasSlice)
        state.hart = 3
        send(hart, .restoreState(.with { $0.hart = state }))
        guard case .stateRefused(let refused)? = lastSent else { return XCTFail("another hart's state was taken") }
        XCTAssertTrue(refused.reason.contains("hart 3"), refused.reason)
        XCTAssertNil(transport.finished, "a refusal does not end the hart")
    }

    /// A console driver's loop (poll LSR, write THR, 100 bytes) and then a waited write elsewhere.
    static let outputProgram = [
        Assemble.lui(5, 0x10000), Assemble.addi(7, 0, 0), Assemble.addi(8, 0, 100),
        Assemble.lbu(10, 5, 5), Assemble.sb(7, 0, 5), Assemble.addi(7, 7, 1), Assemble.bne(7, 8, -12),
        Assemble.lui(6, 0x2000), Assemble.sw(0, 0, 6),
        Assemble.jump(0),
    ]

    /// What the hart sends for `outputProgram` run without a pause: the batch of 100 polls and bytes, then the write.
    private func outputRequests() -> [Rrvm_MmioRequest] {
        let plain = runner(Self.outputProgram)
        run(plain, budget: 1000) { $0.stableReads = Self.consoleDeclaration }
        let requests = transport.requests
        XCTAssertEqual(requests.map(\.output.count), [100, 0])
        transport.sent = []
        return requests
    }

    /// A debugger's stop in the middle of a batch sends nothing: the run stopped there sends the same messages as the
    /// run that was not (a replay under a debugger, or of a recording made under one, must still match).
    func testAPauseInsideABatchSendsNothingAndTheBatchGoesOutWhole() {
        let expected = outputRequests()
        let paused = runner(Self.outputProgram)
        paused.pause(.debugger, afterRetired: 150)
        run(paused, budget: 1000) { $0.stableReads = Self.consoleDeclaration }
        XCTAssertEqual(transport.pauses, [.debugger])
        XCTAssertEqual(paused.hart.retired, 150)
        XCTAssertTrue(transport.sent.isEmpty, "nothing sent at the stop: \(transport.sent)")
        paused.resume(.debugger)
        XCTAssertEqual(transport.requests, expected)
    }

    /// A checkpoint inside a batch keeps it in the hart's state: restored, the hart sends the whole batch as the run
    /// without the checkpoint did (its device's state at the checkpoint has none of it).
    func testACheckpointInsideABatchKeepsItAndTheRestoredHartSendsItWhole() throws {
        let expected = outputRequests()
        let hart = runner(Self.outputProgram)
        send(hart, .pauseAt(.with { $0.executed = 150 }))
        run(hart, budget: 1000) { $0.stableReads = Self.consoleDeclaration }
        guard case .paused? = lastSent else { return XCTFail("no Paused: \(transport.sent)") }
        XCTAssertTrue(transport.requests.isEmpty)
        send(hart, .saveState(Rrvm_SaveState()))
        guard case .hartState(let saved)? = lastSent else { return XCTFail("no HartState: \(String(describing: lastSent))") }
        XCTAssertEqual(saved.slice.heldBatch.output.count, 37, "bytes 0-36 written in the first 150 instructions")
        XCTAssertEqual(saved.slice.heldBatch.answeredReads, 37)

        transport.sent = []
        let restored = runner(Self.outputProgram)
        send(restored, .restoreState(.with { $0.hart = saved }))
        guard case .stateRestored? = lastSent else { return XCTFail("not restored: \(String(describing: lastSent))") }
        send(restored, .resume(Rrvm_Resume()))
        XCTAssertEqual(transport.requests, expected)

        var foreign = saved
        foreign.slice.heldBatch.address = 0x5000_0000
        send(restored, .restoreState(.with { $0.hart = foreign }))
        guard case .stateRefused? = lastSent else { return XCTFail("a batch for a device the hart lacks: \(String(describing: lastSent))") }
        var later = saved
        later.slice.heldBatch.executed = 151
        send(restored, .restoreState(.with { $0.hart = later }))
        guard case .stateRefused? = lastSent else { return XCTFail("a batch from after the pause: \(String(describing: lastSent))") }
    }
}

/// The thinning of automatic checkpoints and the budget's sizes.
final class CheckpointPolicyTests: XCTestCase {
    func testThinningKeepsTheEndsAndMakesOldCheckpointsSparse() {
        var gs = (0...20).map { UInt64($0) * 100 }
        let present: UInt64 = 2000
        while gs.count > 8, let victim = CheckpointThinning.victim(gs: gs, present: present) {
            XCTAssertNotEqual(victim, 0)
            XCTAssertNotEqual(victim, gs.count - 1)
            gs.remove(at: victim)
        }
        XCTAssertEqual(gs.first, 0, "the oldest stays: every earlier point stays reachable")
        XCTAssertEqual(gs.last, 2000)
        let gaps = zip(gs.dropFirst(), gs).map { $0 - $1 }
        XCTAssertLessThanOrEqual(gaps.last!, gaps.first!, "denser near the present: \(gs)")
        XCTAssertLessThan(gaps.last!, 400, "\(gs)")
        XCTAssertEqual(CheckpointThinning.victim(gs: [0, 10], present: 20), 1, "the first one is never dropped")
        XCTAssertNil(CheckpointThinning.victim(gs: [0], present: 20))
    }

    func testSizesParseAndPrint() {
        XCTAssertEqual(parseByteSize("512M"), 512 << 20)
        XCTAssertEqual(parseByteSize("2GiB"), 2 << 30)
        XCTAssertEqual(parseByteSize("4096"), 4096)
        XCTAssertNil(parseByteSize("lots"))
        XCTAssertNil(parseByteSize("-1M"))
        XCTAssertEqual(formatBytes(512 << 20), "512 MiB")
        XCTAssertEqual(formatBytes(100), "100 bytes")
    }

}
