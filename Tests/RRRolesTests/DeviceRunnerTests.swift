import Foundation
import RRProto
import RRRoles
import RVMachine
import XCTest

final class DeviceRunnerTests: XCTestCase {
    /// The runner's answer to a write: `.asForetold` (its answer owed, see `takeForetoldAnswers`) or `.done`.
    private enum Answer: Equatable {
        case asForetold
        case done(Rrvm_DeviceDone)
    }

    private func write(_ runner: DeviceRunner, offset: UInt64, size: UInt32, value: UInt64, foretold: Bool) -> Answer? {
        var envelope = Rrvm_Envelope()
        envelope.body = .deviceAccess(.with {
            $0.offset = offset; $0.size = size; $0.write = true; $0.value = value; $0.foretold = foretold
        })
        switch runner.apply(envelope) {
        case .asForetold: return .asForetold
        case .done(let done): return .done(done)
        default: return nil
        }
    }

    /// A foretold write whose answer is the foretold one (the line it drives, nothing else, the declaration as
    /// foretold) is answered together with the others: one answer saying how many, with the state hash after the last.
    /// A write not foretold, or to a register not declared set by writes, is answered alone with the whole declaration.
    func testForetoldWritesAnsweredAsForetoldAreAnsweredTogether() throws {
        let clint = CLINT(harts: 2)
        let runner = DeviceRunner(model: clint, icountShift: 0)
        XCTAssertNil(runner.takeForetoldAnswers(), "nothing owed yet")
        XCTAssertEqual(write(runner, offset: CLINT.msipOffset + 4, size: 4, value: 1, foretold: true), .asForetold)  // an IPI
        XCTAssertEqual(write(runner, offset: CLINT.msipOffset + 4, size: 4, value: 1, foretold: true), .asForetold)  // no change
        XCTAssertEqual(write(runner, offset: CLINT.mtimecmpOffset, size: 8, value: 500, foretold: true), .asForetold)
        XCTAssertEqual(runner.foretoldAnswersOwed, 3)
        let answers = try XCTUnwrap(runner.takeForetoldAnswers())
        XCTAssertEqual(answers, .with { $0.foretoldAnswers = 3; $0.stateHash = clint.stateHash() })
        XCTAssertNil(runner.takeForetoldAnswers(), "taken once")

        // Not foretold, or a register not declared set by writes (a 32-bit half of mtimecmp): the whole declaration.
        guard case .done(let waited)? = write(runner, offset: CLINT.msipOffset, size: 4, value: 1, foretold: false) else {
            return XCTFail("a write not foretold is answered")
        }
        XCTAssertEqual(waited.stableReads.flatMap { [$0.value] + $0.moreValues }, [1, 1, 500, .max])
        XCTAssertEqual(waited.hartLines, [.with { $0.hart = 0; $0.mipBit = 3; $0.level = true }])
        guard case .done(let half)? = write(runner, offset: CLINT.mtimecmpOffset + 12, size: 4, value: 0, foretold: true) else {
            return XCTFail("a write to no declared register is answered")
        }
        XCTAssertEqual(half.stableReads.flatMap { [$0.value] + $0.moreValues }, [1, 1, 500, 0xffff_ffff])
        XCTAssertEqual(runner.foretoldAnswersOwed, 0)
    }

    /// A foretold write whose device changes its declaration otherwise than foretold (here a write to register B also
    /// changes register A) is answered alone, as it is, with the declaration; later answers compare with that one.
    func testAForetoldWriteWhoseAnswerDiffersFromTheForetoldOneIsAnsweredAlone() throws {
        for numbered in [true, false] {
            let device = TwoRegisters(numbersDeclarations: numbered)
            let runner = DeviceRunner(model: device, icountShift: 0)
            XCTAssertEqual(write(runner, offset: 0, size: 4, value: 0x105, foretold: true), .asForetold, "numbered: \(numbered)")
            guard case .done(let drifting)? = write(runner, offset: 8, size: 4, value: 7, foretold: true) else {
                return XCTFail("numbered: \(numbered): the drifting write is answered alone")
            }
            XCTAssertEqual(drifting.stableReads.map(\.value), [6, 7], "numbered: \(numbered)")
            XCTAssertEqual(drifting.stableReads, TwoRegisters(numbersDeclarations: numbered, a: 6, b: 7).declarationOnTheBus)
            XCTAssertEqual(drifting.stateHash, device.stateHash())
            XCTAssertEqual(runner.foretoldAnswersOwed, 1, "the first is still owed (its caller sends it first)")
            XCTAssertEqual(write(runner, offset: 0, size: 4, value: 9, foretold: true), .asForetold, "numbered: \(numbered)")
            guard case .done(let waited)? = write(runner, offset: 0, size: 4, value: 1, foretold: false) else {
                return XCTFail("numbered: \(numbered): a write not foretold is answered")
            }
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
