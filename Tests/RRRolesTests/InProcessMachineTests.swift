import Foundation
import RRProto
import RRRoles
import RVMachine
import XCTest

final class InProcessMachineTests: XCTestCase {
    /// Prints "hi" on the UART, then writes (7 << 16) | 0x3333 to the finisher: exit status 7.
    static let program: [UInt32] = [
        Assemble.lui(5, 0x10000),
        Assemble.addi(6, 0, 0x68), Assemble.sb(6, 0, 5),
        Assemble.addi(6, 0, 0x69), Assemble.sb(6, 0, 5),
        Assemble.lui(7, 0x100),
        Assemble.lui(8, 0x73), Assemble.addi(8, 8, 0x333),
        Assemble.sw(8, 0, 7),
        Assemble.jump(0),
    ]

    func machine(harts: Int) throws -> InProcessMachine {
        let kernel = BootImage(path: "program.bin", bytes: [UInt8](Assemble.bytes(Self.program)))
        let (config, boot) = try InProcessMachine.plan(machine: MachineDescription(harts: harts, ramSize: 16 << 20),
                                                       firmware: nil, kernel: kernel, initrd: nil)
        return try InProcessMachine(config: config, boot: boot)
    }

    func testTheGuestsConsoleAndExitStatusComeThroughTheRealDevices() throws {
        let machine = try machine(harts: 1)
        let outcome = machine.run()
        XCTAssertEqual(outcome.exitCode, 7, outcome.reason)
        XCTAssertEqual(outcome.reason, "the guest powered off with status 7")
        XCTAssertEqual(String(decoding: machine.console, as: UTF8.self), "hi")
        XCTAssertEqual(machine.config.devices.map(\.kindName), ["rtc", "uart", "finisher", "plic", "clint"])
    }

    /// Every hart runs the program; which one reaches the finisher first, and at which G, depends only on
    /// the schedule, so two runs agree to the instruction.
    func testRunsAreDeterministic() throws {
        let first = try machine(harts: 3), second = try machine(harts: 3)
        XCTAssertEqual(first.run(), second.run())
        XCTAssertEqual(first.g, second.g)
        XCTAssertEqual(first.console, second.console)
        XCTAssertEqual((0..<3).map { first.hart($0).hart.stateHash() }, (0..<3).map { second.hart($0).hart.stateHash() })
    }

    /// The write to the finisher ends the run where it is: the hart does not run out its slice (the
    /// program's closing loop), so a longer quantum costs nothing at the end of a run.
    func testPowerOffStopsTheHartAtOnceWhateverTheQuantum() throws {
        func retired(quantum: UInt64) throws -> UInt64 {
            let kernel = BootImage(path: "program.bin", bytes: [UInt8](Assemble.bytes(Self.program)))
            let (planned, boot) = try InProcessMachine.plan(machine: MachineDescription(harts: 1, ramSize: 16 << 20),
                                                            firmware: nil, kernel: kernel, initrd: nil)
            var config = planned
            config.quantum = quantum
            let machine = try InProcessMachine(config: config, boot: boot)
            XCTAssertEqual(machine.run().exitCode, 7)
            return machine.hart(0).hart.retired
        }
        let short = try retired(quantum: 1_000)
        XCTAssertEqual(try retired(quantum: 50_000_000), short)
        XCTAssertLessThan(short, 100, "the boot ROM and the program are a few dozen instructions")
    }

    func testALimitStopsARunThatNeverEnds() throws {
        let kernel = BootImage(path: "loop.bin", bytes: [UInt8](Assemble.bytes([Assemble.jump(0)])))
        let (config, boot) = try InProcessMachine.plan(machine: MachineDescription(ramSize: 16 << 20), firmware: nil,
                                                       kernel: kernel, initrd: nil)
        let machine = try InProcessMachine(config: config, boot: boot)
        XCTAssertEqual(machine.run(gLimit: 1_000_000).exitCode, 124)
        XCTAssertGreaterThan(machine.g, 1_000_000)
    }
}
