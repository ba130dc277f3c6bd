import Foundation
import RRProto
import RRSequencer
import XCTest

final class LogTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// Runs a scripted 2-hart machine: each hart reads the UART once per slice, then yields.
    /// With `journal` recording, it writes a log; replaying, it checks against one.
    @discardableResult
    private func script(journal: EventJournal, config: Rrvm_MachineConfig, slices: Int = 6,
                        uartValue: (Int) -> UInt64 = { UInt64($0) }, input: [UInt8]? = nil) -> FakeTransport {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: config, transport: transport, journal: journal)
        sequencer.start()
        var slice = 0
        while transport.finished == nil {
            let sent = transport.take()
            guard let first = sent.first else { break }
            switch first.body {
            case .run?:
                if slice == 2, let input { sequencer.receiveHostInput(input) }
                if slice == slices {
                    sequencer.receive(envelope(from: first.to, .mmioRequest(.with {
                        $0.address = 0x10_0000; $0.size = 4; $0.write = true; $0.value = 0x5555; $0.posted = true
                    })))
                    continue
                }
                sequencer.receive(envelope(from: first.to, .mmioRequest(.with {
                    $0.address = 0x1000_0005; $0.size = 1; $0.executed = 3
                })))
            case .deviceAccess(let access)?:
                if first.to == 203 {
                    sequencer.receive(envelope(from: 203, .deviceDone(.with { $0.exit = true })))
                } else {
                    sequencer.receive(envelope(from: first.to, .deviceDone(.with {
                        $0.value = access.write ? 0 : uartValue(slice)
                    })))
                }
            case .hostInput?:
                sequencer.receive(envelope(from: first.to, .deviceDone(Rrvm_DeviceDone())))
            case .mmioReply?:
                let hart = first.to
                slice += 1
                sequencer.receive(envelope(from: hart, yield(500, hash: UInt64(slice) * 77)))
            default:
                XCTFail("unexpected \(first)")
                return transport
            }
        }
        return transport
    }

    private func config() -> Rrvm_MachineConfig {
        var config = machine(harts: 2)
        config.devices.append(.with { $0.kind = .finisher; $0.base = 0x10_0000; $0.size = 0x1000 })
        return config
    }

    private func record(_ name: String, input: [UInt8]? = nil) throws -> String {
        let path = directory.appendingPathComponent(name).path
        var header = Rrvm_LogHeader()
        header.formatVersion = logFormatVersion
        header.config = config()
        let journal = RecordJournal(writer: try LogWriter(path: path, header: header))
        let transport = script(journal: journal, config: config(), input: input)
        XCTAssertEqual(transport.finished?.code, 0)
        return path
    }

    func testARecordedRunReplaysAndAnAlteredOneDivergesAtItsG() throws {
        let path = try record("run.log", input: Array("hi".utf8))
        let log = try LogFile(path: path)
        XCTAssertNil(log.truncation)
        XCTAssertTrue(log.records.contains { if case .hostInput? = $0.event.body { return true } else { return false } })

        var replayConfig = config()
        replayConfig.replay = true
        let replay = script(journal: ReplayJournal(log: log), config: replayConfig)
        XCTAssertEqual(replay.finished?.code, 0, replay.finished?.reason ?? "")

        // The same machine answering differently at slice 3 is caught at that access, with its G.
        let diverged = script(journal: ReplayJournal(log: log), config: replayConfig, uartValue: { $0 == 3 ? 99 : UInt64($0) })
        XCTAssertEqual(diverged.finished?.code, ReplayExit.diverged)
        let reason = diverged.finished?.reason ?? ""
        XCTAssertTrue(reason.hasPrefix("replay diverged at G="), reason)
        XCTAssertTrue(reason.contains("device 2 (uart)"), reason)
        XCTAssertTrue(reason.contains("value: 99"), reason)
    }

    func testCutShortLogKeepsItsCompleteRecordsAndSaysWhereItEnds() throws {
        let path = try record("cut.log")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let full = try LogFile(bytes: bytes, name: "full")
        let middle = full.records.count / 2
        bytes.removeSubrange((full.offsets[middle] + 3)...)
        let cut = try LogFile(bytes: bytes, name: "cut")
        XCTAssertEqual(cut.records.count, middle)
        XCTAssertTrue(cut.truncation?.contains("byte \(full.offsets[middle])") ?? false, cut.truncation ?? "")

        var replayConfig = config()
        replayConfig.replay = true
        let replay = script(journal: ReplayJournal(log: cut), config: replayConfig)
        XCTAssertEqual(replay.finished?.code, ReplayExit.logEnded)
        XCTAssertTrue(replay.finished?.reason.contains("end of the log") ?? false, replay.finished?.reason ?? "")
    }

    func testDamagedForeignAndOtherVersionLogsAreRefusedWithOffsets() throws {
        let path = try record("damaged.log")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let full = try LogFile(bytes: bytes, name: "ok")
        var damaged = bytes
        let victim = full.offsets[3]
        damaged[victim + 9] ^= 0x40
        XCTAssertThrowsError(try LogFile(bytes: damaged, name: "d")) { error in
            XCTAssertEqual("\(error)", "'d' is damaged at byte \(victim): record checksum does not match")
        }
        var otherVersion = bytes
        otherVersion[8] = 9
        XCTAssertThrowsError(try LogFile(bytes: otherVersion, name: "v")) { error in
            XCTAssertEqual("\(error)", "'v' has log format version 9; this rrvm reads version \(logFormatVersion)")
        }
        XCTAssertThrowsError(try LogFile(bytes: Array("#!/bin/sh\necho hi\n".utf8), name: "s")) { error in
            XCTAssertTrue("\(error)".contains("not an rrvm log"), "\(error)")
        }
        XCTAssertThrowsError(try LogFile(bytes: Array(bytes.prefix(10)), name: "t")) { error in
            XCTAssertTrue("\(error)".contains("cut short at byte 10"), "\(error)")
        }
        XCTAssertThrowsError(try LogFile(path: directory.appendingPathComponent("missing.log").path))
    }

    func testCRC32MatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
