import Foundation
import RRProto
import RRRoles
import RVMachine
import XCTest

final class DeviceRunnerTests: XCTestCase {
    private func write(_ runner: DeviceRunner, offset: UInt64, size: UInt32, value: UInt64, foretold: Bool) -> Rrvm_DeviceDone? {
        var envelope = Rrvm_Envelope()
        envelope.body = .deviceAccess(.with {
            $0.offset = offset; $0.size = size; $0.write = true; $0.value = value; $0.foretold = foretold
        })
        guard case .done(let done) = runner.apply(envelope) else { return nil }
        return done
    }

    /// The answer to a foretold write leaves out the declaration when it is the one the write foretold (the sequencer
    /// holds it already); its effects and state hash are there as in any answer. Otherwise the declaration is there.
    func testTheAnswerToAForetoldWriteLeavesOutTheDeclarationItForetold() throws {
        let clint = CLINT(harts: 2)
        let runner = DeviceRunner(model: clint, icountShift: 0)
        let ipi = try XCTUnwrap(write(runner, offset: CLINT.msipOffset + 4, size: 4, value: 1, foretold: true))
        XCTAssertTrue(ipi.stableReads.isEmpty)
        XCTAssertEqual(ipi.hartLines, [.with { $0.hart = 1; $0.mipBit = 3; $0.level = true }])
        XCTAssertEqual(ipi.stateHash, clint.stateHash())
        let timer = try XCTUnwrap(write(runner, offset: CLINT.mtimecmpOffset, size: 8, value: 500, foretold: true))
        XCTAssertTrue(timer.stableReads.isEmpty)
        XCTAssertEqual(timer.timerCompares, [.with { $0.hart = 0; $0.mtimecmp = 500 }])

        // Not foretold, or a register not declared set by writes (a 32-bit half of mtimecmp): the whole declaration.
        let waited = try XCTUnwrap(write(runner, offset: CLINT.msipOffset, size: 4, value: 1, foretold: false))
        XCTAssertEqual(waited.stableReads.flatMap { [$0.value] + $0.moreValues }, [1, 1, 500, .max])
        let half = try XCTUnwrap(write(runner, offset: CLINT.mtimecmpOffset + 12, size: 4, value: 0, foretold: true))
        XCTAssertEqual(half.stableReads.flatMap { [$0.value] + $0.moreValues }, [1, 1, 500, 0xffff_ffff])
    }

    /// A foretold write whose device changes its declaration otherwise than foretold (here a write to register B also
    /// changes register A): the answer carries the declaration as it is, and later answers compare with that one.
    func testTheAnswerToAForetoldWriteCarriesADeclarationThatDiffersFromTheForetoldOne() throws {
        for numbered in [true, false] {
            let device = TwoRegisters(numbersDeclarations: numbered)
            let runner = DeviceRunner(model: device, icountShift: 0)
            let honest = try XCTUnwrap(write(runner, offset: 0, size: 4, value: 0x105, foretold: true))
            XCTAssertTrue(honest.stableReads.isEmpty, "numbered: \(numbered)")
            let drifting = try XCTUnwrap(write(runner, offset: 8, size: 4, value: 7, foretold: true))
            XCTAssertEqual(drifting.stableReads.map(\.value), [6, 7], "numbered: \(numbered)")
            XCTAssertEqual(drifting.stableReads, TwoRegisters(numbersDeclarations: numbered, a: 6, b: 7).declarationOnTheBus)
            let afterwards = try XCTUnwrap(write(runner, offset: 0, size: 4, value: 9, foretold: true))
            XCTAssertTrue(afterwards.stableReads.isEmpty, "numbered: \(numbered)")
            let waited = try XCTUnwrap(write(runner, offset: 0, size: 4, value: 1, foretold: false))
            XCTAssertEqual(waited.stableReads.map(\.value), [1, 7], "numbered: \(numbered)")
        }
    }
}

/// Two registers declared set by writes (the low byte), A at 0 and B at 8; a write to B also adds 1 to A, which the
/// declaration does not foretell. With `numbersDeclarations`, the model numbers its declarations (see
/// `DeviceModel.declarationVersion`).
private final class TwoRegisters: DeviceModel {
    let name = "two-registers"
    private let numbersDeclarations: Bool
    private var a: UInt64
    private var b: UInt64
    private var writes: UInt64 = 0

    init(numbersDeclarations: Bool, a: UInt64 = 0, b: UInt64 = 0) {
        (self.numbersDeclarations, self.a, self.b) = (numbersDeclarations, a, b)
    }

    func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        offset == 0 ? a : b
    }

    func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock, effects: inout DeviceEffects) -> Bool {
        if offset == 0 {
            a = value & 0xff
        } else {
            b = value & 0xff
            a += 1
        }
        writes += 1
        return true
    }

    func tick(clock: DeviceClock, effects: inout DeviceEffects) {}
    func stateHash() -> UInt64 { a << 8 | b }

    func stableReads() -> [StableRead] {
        [StableRead(offset: 0, size: 4, value: a, setByWriteMask: 0xff), StableRead(offset: 8, size: 4, value: b, setByWriteMask: 0xff)]
    }

    var declarationVersion: UInt64? { numbersDeclarations ? writes : nil }

    /// The declaration as the device runner sends it.
    var declarationOnTheBus: [Rrvm_StableRead] {
        stableReads().map { read in .with { $0.offset = read.offset; $0.size = 4; $0.value = read.value; $0.setByWriteMask = 0xff } }
    }

    func saveState() throws -> DeviceState { throw DeviceStateError("not saved") }
    func restoreState(_ state: DeviceState) throws { throw DeviceStateError("not saved") }
}
