import Foundation
import RRProto
import RRSequencer
import RRTestSupport
import XCTest

final class LogTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rrvm-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// Runs a scripted 2-hart machine: each hart reads the UART once per slice, then yields after 500 instructions,
    /// sending its check first where one is due there (Run.check_at). The UART's state hash is the value it answers.
    /// With `journal` recording, it writes a log; replaying, it checks against one.
    @discardableResult
    private func script(journal: EventJournal, config: Rrvm_MachineConfig, slices: Int = 6,
                        uartValue: (Int) -> UInt64 = { UInt64($0) }, input: [UInt8]? = nil) -> FakeTransport {
        let transport = FakeTransport()
        let sequencer = Sequencer(config: config, transport: transport, journal: journal)
        sequencer.start()
        var slice = 0
        var checkAt: UInt64 = 0
        while transport.finished == nil {
            let sent = transport.take()
            guard let first = sent.first else { break }
            switch first.body {
            case .run(let run)?:
                checkAt = run.checkAt
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
                    let value = access.write ? 0 : uartValue(slice)
                    sequencer.receive(envelope(from: first.to, .deviceDone(.with { $0.value = value; $0.stateHash = value })))
                }
            case .hostInput?:
                sequencer.receive(envelope(from: first.to, .deviceDone(Rrvm_DeviceDone())))
            case .mmioReply?:
                let hart = first.to
                slice += 1
                if checkAt == 500 {
                    sequencer.receive(envelope(from: hart, .hartCheck(.with { $0.executed = 500; $0.stateHash = UInt64(slice) * 77 })))
                }
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

    private func header(_ detail: Rrvm_LogDetail, checkInterval: UInt64 = 1000) -> Rrvm_LogHeader {
        .with {
            $0.formatVersion = logFormatVersion
            $0.config = config()
            $0.detail = detail
            $0.checkInterval = checkInterval
        }
    }

    private func record(_ name: String, detail: Rrvm_LogDetail = .compact, input: [UInt8]? = nil) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let header = header(detail)
        let journal = RecordJournal(writer: try LogWriter(path: path, header: header), detail: detail,
                                    checkInterval: header.checkInterval)
        let transport = script(journal: journal, config: config(), input: input)
        XCTAssertEqual(transport.finished?.code, 0)
        return path
    }

    private func replayConfig() -> Rrvm_MachineConfig {
        var config = config()
        config.replay = true
        return config
    }

    private func records(_ bytes: [UInt8]) throws -> [LogEntry] {
        let reader = try LogReader(bytes: bytes, name: "log")
        var entries: [LogEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }

    private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    private func writeLog(_ header: Rrvm_LogHeader, _ records: [Rrvm_LogRecord], name: String) throws -> [UInt8] {
        let path = directory.appendingPathComponent(name).path
        let writer = try LogWriter(path: path, header: header)
        for record in records { try writer.append(record) }
        try writer.flush()
        return try bytes(path)
    }

    private func check(g: UInt64, harts: Int = 2, devices: Int = 4) -> Rrvm_LogRecord {
        .with { $0.check = .with { $0.g = g; $0.harts = Array(repeating: 1, count: harts); $0.devices = Array(repeating: 2, count: devices) } }
    }

    func testACompactLogHoldsInputsChecksAndTheEndAndReplaysWhileAnAlteredRunStopsAtTheNextCheck() throws {
        let path = try record("run.log", input: Array("hi".utf8))
        let kinds = try records(try bytes(path)).map(\.record.kindName)
        XCTAssertEqual(Set(kinds), ["input", "check", "end"], "\(kinds)")
        XCTAssertEqual(kinds.filter { $0 == "check" }.count, 4, "at 0 and every 1000 retired instructions: \(kinds)")
        let summary = try LogSummary(path: path)
        XCTAssertEqual(summary.retired, 3000)
        XCTAssertEqual(summary.end?.guestEnded, true)

        let replay = script(journal: try ReplayJournal(path: path), config: replayConfig())
        XCTAssertEqual(replay.finished?.code, 0, replay.finished?.reason ?? "")
        let delivered = replay.sent.isEmpty ? [] : replay.sent
        XCTAssertTrue(delivered.allSatisfy { $0.kindName != "empty" })

        // The UART answering differently at slice 3 changes its state hash: the next check says so.
        let diverged = script(journal: try ReplayJournal(path: path), config: replayConfig(),
                              uartValue: { $0 == 3 ? 99 : UInt64($0) })
        XCTAssertEqual(diverged.finished?.code, ReplayExit.diverged)
        let reason = diverged.finished?.reason ?? ""
        XCTAssertTrue(reason.hasPrefix("replay diverged at G=2000, device 2 (uart): state hash 0x63, recorded 0x3"), reason)
        XCTAssertTrue(reason.contains("every check agreed up to G=1000"), reason)
        XCTAssertTrue(reason.contains("--full-stream NEW.log --from 1000 --to 2000") && reason.contains("rrctl log diff"), reason)

        // A hart whose state differs is named as that hart.
        var altered = try records(try bytes(path)).map(\.record)
        let index = try XCTUnwrap(altered.firstIndex { $0.kindName == "check" && $0.check.g == 1000 })
        altered[index].check.harts[1] ^= 1
        let alteredBytes = try writeLog(header(.compact), altered, name: "altered.log")
        let alteredPath = directory.appendingPathComponent("altered.log").path
        XCTAssertFalse(alteredBytes.isEmpty)
        let hart = script(journal: try ReplayJournal(path: alteredPath), config: replayConfig())
        XCTAssertEqual(hart.finished?.code, ReplayExit.diverged)
        XCTAssertTrue(hart.finished?.reason.hasPrefix("replay diverged at G=1000, hart 1: state hash") ?? false,
                      hart.finished?.reason ?? "")
    }

    func testAFullLogComparesEveryMessageAndAnExcerptOfACompactReplayEqualsIt() throws {
        let full = try record("full.log", detail: .full, input: Array("hi".utf8))
        let fullRecords = try records(try bytes(full))
        XCTAssertTrue(fullRecords.contains { $0.record.kindName == "device_access" })
        let replay = script(journal: try ReplayJournal(path: full), config: replayConfig())
        XCTAssertEqual(replay.finished?.code, 0, replay.finished?.reason ?? "")

        let diverged = script(journal: try ReplayJournal(path: full), config: replayConfig(),
                              uartValue: { $0 == 3 ? 99 : UInt64($0) })
        XCTAssertEqual(diverged.finished?.code, ReplayExit.diverged)
        let reason = diverged.finished?.reason ?? ""
        XCTAssertTrue(reason.hasPrefix("replay diverged at G=1503, device 2 (uart): expected"), reason)
        XCTAssertTrue(reason.contains("value: 99"), reason)

        // The full stream of G 1000...2000 written while replaying the compact log holds exactly the
        // full log's messages and checks of that interval.
        let compact = try record("compact.log", input: Array("hi".utf8))
        let excerptPath = directory.appendingPathComponent("excerpt.log").path
        let excerpt = ReplayJournal.Excerpt(path: excerptPath, from: 1000, to: 2000)
        let streamed = script(journal: try ReplayJournal(path: compact, excerpt: excerpt), config: replayConfig())
        XCTAssertEqual(streamed.finished?.code, 0, streamed.finished?.reason ?? "")
        XCTAssertTrue(streamed.finished?.reason.contains("wrote the full stream of G=1000..2000") ?? false)
        let reader = try LogReader(path: excerptPath)
        XCTAssertTrue(reader.header.excerpt && reader.isFull)
        var written: [Rrvm_LogRecord] = []
        while let entry = try reader.next() { written.append(entry.record) }
        let expected = fullRecords.map(\.record).filter { (record: Rrvm_LogRecord) -> Bool in
            let inInterval = record.g >= 1000 && record.g <= 2000
            return inInterval && record.kindName != "input" && record.kindName != "end"
        }
        XCTAssertEqual(written, expected)
        XCTAssertGreaterThan(written.count, 5)
        // An excerpt is not a recording.
        XCTAssertThrowsError(try ReplayJournal(path: excerptPath)) { XCTAssertTrue("\($0)".contains("rrctl log diff"), "\($0)") }
    }

    func testACompactLogCutShortReplaysUpToItsLastCompleteRecord() throws {
        let path = try record("cut.log")
        var bytes = try bytes(path)
        let entries = try records(bytes)
        let checks = entries.filter { $0.record.kindName == "check" }
        let cutAt = checks[3].offset + 10
        bytes.removeSubrange(cutAt...)
        let cut = try LogReader(bytes: bytes, name: "cut")
        var kept = 0
        while try cut.next() != nil { kept += 1 }
        XCTAssertEqual(kept, entries.firstIndex { $0.offset == checks[3].offset })
        XCTAssertTrue(cut.truncation?.contains("record at byte \(checks[3].offset) cut short") ?? false, cut.truncation ?? "")

        let cutPath = directory.appendingPathComponent("cut-short.log").path
        try Data(bytes).write(to: URL(fileURLWithPath: cutPath))
        let replay = script(journal: try ReplayJournal(path: cutPath), config: replayConfig())
        XCTAssertEqual(replay.finished?.code, ReplayExit.logEnded, replay.finished?.reason ?? "")
        XCTAssertTrue(replay.finished?.reason.contains("end of the log") ?? false, replay.finished?.reason ?? "")
    }

    func testDamagedForeignAndOtherVersionLogsAreRefusedWithOffsets() throws {
        let path = try record("damaged.log")
        let bytes = try bytes(path)
        let entries = try records(bytes)
        let victim = entries[3].offset
        var damaged = bytes
        damaged[victim + 9] ^= 0x40
        XCTAssertThrowsError(try records(damaged)) { error in
            XCTAssertEqual("\(error)", "'log' is damaged at byte \(victim): record checksum does not match")
        }
        // A flipped length byte is damage, not a record cut short that drops the rest.
        var length = bytes
        length[victim] ^= 0x01
        XCTAssertThrowsError(try records(length)) { XCTAssertTrue("\($0)".contains("damaged at byte \(victim)"), "\($0)") }
        // Zeros: as a record they are empty, and appended to a log they are damage too.
        XCTAssertThrowsError(try records(bytes + [UInt8](repeating: 0, count: 4096))) { error in
            XCTAssertTrue("\(error)".contains("damaged at byte \(bytes.count)"), "\(error)")
        }
        var otherVersion = bytes
        otherVersion[8] = UInt8(logFormatVersion + 1)
        XCTAssertThrowsError(try LogReader(bytes: otherVersion, name: "v")) { error in
            XCTAssertEqual("\(error)", "'v' has log format version \(logFormatVersion + 1); this rrvm reads version \(logFormatVersion)")
        }
        XCTAssertThrowsError(try LogReader(bytes: Array("#!/bin/sh\necho hi\n".utf8), name: "s")) { error in
            XCTAssertTrue("\(error)".contains("not an rrvm log"), "\(error)")
        }
        XCTAssertThrowsError(try LogReader(bytes: Array(bytes.prefix(10)), name: "t")) { error in
            XCTAssertTrue("\(error)".contains("cut short at byte 10"), "\(error)")
        }
        XCTAssertThrowsError(try LogReader(path: directory.appendingPathComponent("missing.log").path))
        XCTAssertThrowsError(try LogReader(path: directory.path)) { XCTAssertTrue("\($0)".contains("not a regular file")) }
    }

    func testRecordsThatMakeNoSenseAreRefusedWithTheirOffset() throws {
        let header = header(.compact)
        func refusal(_ records: [Rrvm_LogRecord], header: Rrvm_LogHeader? = nil) throws -> String {
            let bytes = try writeLog(header ?? self.header(.compact), records, name: "bad.log")
            do {
                _ = try self.records(bytes)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(try refusal([check(g: 5, harts: 3)]).contains("3 hart hashes, but the machine has 2 harts (no hart 2)"))
        XCTAssertTrue(try refusal([check(g: 5, devices: 5)]).contains("(no device 4)"))
        XCTAssertTrue(try refusal([check(g: 9), check(g: 5)]).contains("check at G=5 comes after G=9: records out of G order"))
        XCTAssertTrue(try refusal([.with { $0.event = Rrvm_Envelope() }]).contains("a stamped message in a compact log"))
        XCTAssertTrue(try refusal([.with { $0.end = .with { $0.g = 3 } }, check(g: 4)]).contains("a record after the end record"))
        // A frame for a machine without a network card, and one no Ethernet link carries.
        let frame = Rrvm_LogRecord.with { $0.input = .with { $0.g = 5; $0.frame = Data(repeating: 1, count: 60) } }
        XCTAssertTrue(try refusal([frame]).contains("an input frame of 60 bytes"))
        let huge = Rrvm_LogRecord.with { $0.input = .with { $0.g = 5; $0.frame = Data(repeating: 1, count: 9000) } }
        XCTAssertTrue(try refusal([huge]).contains("an input frame of 9000 bytes (a frame is 14-1518 bytes"))
        var unknown = header
        unknown.detail = .UNRECOGNIZED(7)
        XCTAssertTrue(try refusal([], header: unknown).contains("unknown detail level 7"))
        XCTAssertTrue(try refusal([], header: Rrvm_LogHeader.with { $0.formatVersion = logFormatVersion })
            .contains("the header describes no machine (0 harts, 0 devices)"))
        XCTAssertEqual(try refusal([check(g: 5), check(g: 5)]), "accepted")
    }

    /// The attack families on logs (issue 13), seeded and bounded in time: every flipped byte, zero run,
    /// crafted length and damaged header is refused with a LogError; every truncation keeps exactly the
    /// records before the cut. Nothing crashes, nothing damaged is accepted.
    func testFuzzedLogsAreRefusedOrReadAsTheirCompletePrefix() throws {
        let path = try record("fuzz.log", detail: .full, input: Array("fuzz".utf8))
        let original = try bytes(path)
        let entries = try records(original)
        let ends = entries.indices.map { $0 + 1 < entries.count ? entries[$0 + 1].offset : original.count }
        var generator = SplitMix64(seed: 0x5EED_0F_1065)
        let deadline = Date().addingTimeInterval(3)
        var tried = 0
        func read(_ bytes: [UInt8]) -> Result<[LogEntry], Error> { Result { try records(bytes) } }
        while Date() < deadline {
            tried += 1
            var bytes = original
            switch tried % 5 {
            case 0:
                // Truncation anywhere: a prefix of whole records, or refused within the preamble and header.
                let cut = Int.random(in: 0..<original.count, using: &generator)
                bytes.removeSubrange(cut...)
                switch read(bytes) {
                case .success(let read):
                    XCTAssertEqual(read.count, ends.filter { $0 <= cut }.count, "cut at \(cut)")
                case .failure(let error):
                    XCTAssertLessThan(cut, entries[0].offset, "cut at \(cut): \(error)")
                }
            case 1:
                let at = Int.random(in: 0..<original.count, using: &generator)
                bytes[at] ^= UInt8.random(in: 1...255, using: &generator)
                XCTAssertThrowsError(try records(bytes), "flip at \(at)")
            case 2:
                let at = Int.random(in: 0..<original.count, using: &generator)
                let count = Int.random(in: 1...64, using: &generator)
                let range = at..<min(original.count, at + count)
                guard bytes[range].contains(where: { $0 != 0 }) else { continue }
                bytes.replaceSubrange(range, with: repeatElement(0, count: range.count))
                XCTAssertThrowsError(try records(bytes), "zeros at \(at)")
            case 3:
                // A length overrunning the file, with a valid check byte, before records that are whole.
                let victim = entries[Int.random(in: 0..<(entries.count - 1), using: &generator)].offset
                let length = Int.random(in: (original.count - victim)...0xFF_FFFF, using: &generator)
                let word = UInt32(length) | UInt32(lengthCheckForTests(length)) << 24
                for index in 0..<4 { bytes[victim + index] = UInt8(truncatingIfNeeded: word >> (8 * index)) }
                XCTAssertThrowsError(try records(bytes), "length \(length) at \(victim)") { error in
                    XCTAssertTrue("\(error)".contains("damaged at byte \(victim)"), "\(error)")
                }
            default:
                // A crafted header: random bytes as its payload, with a valid frame.
                let payload = (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let crafted = Array(original[0..<12]) + frame(payload) + Array(original[entries[0].offset...])
                _ = read(crafted)  // refused or read: it must not crash
            }
        }
        XCTAssertGreaterThan(tried, 100)
    }

    private func frame(_ payload: [UInt8]) -> [UInt8] {
        let word = UInt32(payload.count) | UInt32(lengthCheckForTests(payload.count)) << 24
        let crc = CRC32.checksum(payload)
        return (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) } + payload
    }

    /// The length check byte, written out independently of the reader (proto/rrvm.proto, LOG FORMAT).
    private func lengthCheckForTests(_ length: Int) -> UInt8 {
        var crc: UInt8 = 0
        for byte in [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF)] {
            crc ^= byte
            for _ in 0..<8 { crc = crc & 0x80 != 0 ? (crc << 1) ^ 0x07 : crc << 1 }
        }
        return crc ^ 0x55
    }

    func testALogOnAFullDeviceIsAClearError() throws {
        // /dev/full takes no byte: the writer must say why (ENOSPC), as for a full disk.
        XCTAssertThrowsError(try LogWriter(path: "/dev/full", header: .with { $0.formatVersion = logFormatVersion })) { error in
            XCTAssertEqual("\(error)", "cannot write log '/dev/full': No space left on device")
        }
    }

    func testALogIsNeverWrittenThroughASymlink() throws {
        // A symlink planted where a log is to go (a directory others can write) must not redirect it.
        let directory = NSTemporaryDirectory() + "rrvm-log-link-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "precious".write(toFile: directory + "/victim", atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(directory + "/victim", directory + "/run.log"), 0)
        XCTAssertThrowsError(try LogWriter(path: directory + "/run.log", header: .with { $0.formatVersion = logFormatVersion })) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot create log '\(directory)/run.log'"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: directory + "/victim", encoding: .utf8), "precious")
    }

    func testCRC32MatchesTheStandardCheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }
}
