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
}
