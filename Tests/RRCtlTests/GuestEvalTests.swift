import XCTest
@testable import RRCtl
@testable import RRNode

/// How --eval commands are carried on the kernel command line, and how `rrctl rr` compares consoles.
final class GuestEvalTests: XCTestCase {
    func testCommandsAreEncodedSoThatEveryByteSurvivesTheKernelsSplitting() throws {
        XCTAssertEqual(try GuestEval.commandLine("console=ttyS0", adding: "echo \"a b\"; rand 8", firmwareBoots: true),
                       "console=ttyS0 rrvm.eval=echo%20%22a%20b%22;%20rand%208")
        XCTAssertEqual(GuestEval.encode("100%\t\n\u{7f}é"), "100%25%09%0A%7F%C3%A9")
        XCTAssertEqual(try GuestEval.commandLine("console=ttyS0", adding: nil, firmwareBoots: true), "console=ttyS0")
        XCTAssertEqual(try GuestEval.commandLine("", adding: "true", firmwareBoots: true), "rrvm.eval=true")
    }

    func testTheLimitIsLinuxsCommandLineSize() throws {
        let base = "console=ttyS0 earlycon"
        let room = GuestEval.commandLineLimit - base.utf8.count - " rrvm.eval=".utf8.count
        XCTAssertEqual(try GuestEval.commandLine(base, adding: String(repeating: "x", count: room), firmwareBoots: true).utf8.count, 1023)
        XCTAssertThrowsError(try GuestEval.commandLine(base, adding: String(repeating: "x", count: room + 1), firmwareBoots: true)) { error in
            XCTAssertTrue("\(error)".contains("would be 1024 bytes"), "\(error)")
        }
        // A longer line of one's own is refused too when a firmware boots the kernel (Linux would cut it short), not
        // for a bare kernel without commands.
        let long = String(repeating: "a", count: 1024)
        XCTAssertThrowsError(try GuestEval.commandLine(long, adding: nil, firmwareBoots: true)) { error in
            XCTAssertTrue("\(error)".contains("--append is too long: 1024 bytes"), "\(error)")
        }
        XCTAssertEqual(try GuestEval.commandLine(long, adding: nil, firmwareBoots: false), long)
        XCTAssertThrowsError(try GuestEval.commandLine(long, adding: "true", firmwareBoots: false))
        // A space costs three bytes once encoded.
        XCTAssertThrowsError(try GuestEval.commandLine(base, adding: String(repeating: " x", count: room / 3), firmwareBoots: true))
    }

    func testCommandLinesThatCannotCarryCommandsAreRefused() {
        XCTAssertThrowsError(try GuestEval.commandLine("console=ttyS0", adding: " ;\n; ", firmwareBoots: true))
        XCTAssertThrowsError(try GuestEval.commandLine("console=ttyS0 rrvm.eval=true", adding: "false", firmwareBoots: true))
    }
}

final class ConsoleComparisonTests: XCTestCase {
    private func recording(_ batches: [(UInt64, String)]) -> ConsoleCapture.Recording {
        var recording = ConsoleCapture.Recording()
        for (g, text) in batches {
            recording.batches.append((recording.bytes.count, g))
            recording.bytes += Array(text.utf8)
        }
        return recording
    }

    func testIdenticalConsolesHaveNoDifference() {
        let run = recording([(10, "boot\n"), (20, "rrvm# rand\n")])
        XCTAssertNil(ConsoleComparison.firstDifference(run, run))
    }

    func testTheFirstDifferingLineIsShownWithTheGOfEachSide() throws {
        let recorded = recording([(10, "boot\n"), (20, "random: ab"), (30, "cd\nend\n")])
        let replayed = recording([(10, "boot\n"), (20, "random: ab"), (31, "ce\nend\n")])
        let difference = try XCTUnwrap(ConsoleComparison.firstDifference(recorded, replayed))
        XCTAssertTrue(difference.hasPrefix("the consoles differ at line 2, byte 16:"), difference)
        XCTAssertTrue(difference.contains("recorded at G=30: \"random: abcd\""), difference)
        XCTAssertTrue(difference.contains("replayed at G=31: \"random: abce\""), difference)
    }

    func testAShorterReplayIsADifference() throws {
        let recorded = recording([(10, "boot\n"), (20, "more\n")])
        let replayed = recording([(10, "boot\n")])
        let difference = try XCTUnwrap(ConsoleComparison.firstDifference(recorded, replayed))
        XCTAssertTrue(difference.contains("line 2"), difference)
        XCTAssertTrue(difference.contains("replayed: (the console ends here)"), difference)
    }

    func testTheSameBytesAtAnotherGAreADifference() throws {
        let recorded = recording([(10, "boot\n"), (20, "x\n")])
        let replayed = recording([(10, "boot\n"), (21, "x\n")])
        let difference = try XCTUnwrap(ConsoleComparison.firstDifference(recorded, replayed))
        XCTAssertTrue(difference.contains("G=20 when recorded, byte 5 at G=21 when replayed"), difference)
    }

    func testACaptureRoundTripsAndACutOneIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("capture-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try ConsoleCapture.Writer(path: path)
        writer.output(g: 5, bytes: Array("hello\n".utf8))
        writer.output(g: 9, bytes: [0, 255])
        writer.end(g: 12, instructions: 11, exitCode: 3)
        let read = try ConsoleCapture.read(path: path)
        XCTAssertEqual(read.bytes, Array("hello\n".utf8) + [0, 255])
        XCTAssertEqual(read.batches.map(\.g), [5, 9])
        XCTAssertEqual(read.g(atOffset: 6), 9)
        XCTAssertEqual(read.end?.exitCode, 3)
        XCTAssertEqual(read.end?.instructions, 11)
        // An existing file is never overwritten.
        XCTAssertThrowsError(try ConsoleCapture.Writer(path: path))

        let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertThrowsError(try ConsoleCapture.parse(Array(data.dropLast(3)), path: path)) { error in
            XCTAssertTrue("\(error)".contains("cut short"), "\(error)")
        }
        XCTAssertThrowsError(try ConsoleCapture.parse(Array("not a capture".utf8), path: path))
    }
}
