import Foundation
import RRBus
import RVHart

/// What the GDB server asks of the process that runs the hart.
protocol GDBTarget: AnyObject {
    /// Run on until a breakpoint, the debugger's interrupt, or the next stop.
    func debuggerContinue()
    /// Execute one instruction, then stop.
    func debuggerStep()
    /// Ctrl-C in the debugger: stop as soon as the hart is between instructions.
    func debuggerInterrupt()
}

/// Where `--gdb` listens: `PORT`, a TCP port of 127.0.0.1 (0: any free one), which every local user can
/// reach, or `unix:PATH`, a Unix socket made mode 0600, which only this user can.
public enum GDBEndpoint {
    public static func parse(_ text: String) throws -> BusAddress {
        if let port = UInt16(text) { return .tcp(host: "127.0.0.1", port: port) }
        guard text.hasPrefix("unix:") else { throw NodeError("expected a TCP port (0 to 65535) or unix:PATH, not '\(text)'") }
        do { return try BusAddress(parsing: text) } catch { throw NodeError("\(error)") }
    }
}

/// A GDB remote-serial-protocol server for one hart, on a TCP port of this host or a Unix socket
/// (`gdb-multiarch -ex 'target remote :PORT' prog.elf`). It reads and writes registers and memory (virtual
/// addresses, as the hart's supervisor sees them), sets breakpoints, continues and single-steps. A stopped
/// hart holds its slice, so the sequencer, and with it the whole cluster, waits: G does not move, and
/// nothing the guest does depends on the debugger (a replay debugged so still matches its recording).
final class GDBServer {
    private let hart: Hart
    private weak var target: GDBTarget?
    private var listener: Listener?
    private var client: Connection?
    private var input: [UInt8] = []
    private var breakpoints: Set<UInt64> = []

    init(loop: EventLoop, address: BusAddress, hart: Hart, target: GDBTarget) throws {
        self.hart = hart
        self.target = target
        // A Unix socket is born mode 0600 (connecting needs write permission): only this user reaches it.
        let savedMask = umask(0o177)
        defer { umask(savedMask) }
        listener = try Listener(loop: loop, address: address) { [unowned self] connection in
            self.accept(connection)
        }
    }

    /// What to type in gdb: `target remote :PORT` with the port actually bound, or the socket's path.
    var targetRemote: String {
        switch listener?.address {
        case .tcp?: return "target remote :\(listener?.boundPort ?? 0)"
        case .unix(let path)?: return "target remote \(path)"
        case nil: return "target remote (closed)"
        }
    }

    /// Stops listening; a Unix socket file this server made is removed.
    func close() {
        listener?.close()
        if case .unix(let path)? = listener?.address { unlink(path) }
        listener = nil
    }

    /// Tells the debugger the hart has stopped (after a continue, a step or an interrupt).
    func reportStop() {
        send("S05")
    }

    /// Tells the debugger the run is over, with the guest's exit status.
    func reportExit(_ status: Int32) {
        send(String(format: "W%02x", UInt8(truncatingIfNeeded: status)))
    }

    private func accept(_ connection: Connection) {
        guard client == nil else {
            connection.close(.refused("a debugger is already attached"))
            return
        }
        client = connection
        connection.name = "gdb"
        connection.onBytes = { [unowned self] bytes in self.receive(bytes) }
        connection.onClose = { [unowned self] _ in
            // The debugger went away: forget its breakpoints and let the guest run.
            self.client = nil
            self.input = []
            for address in self.breakpoints { self.hart.removeBreakpoint(address) }
            self.breakpoints = []
            self.target?.debuggerContinue()
        }
    }

    // MARK: Packets: $payload#checksum, acknowledged with +; a lone 0x03 is an interrupt.

    private func receive(_ bytes: [UInt8]) {
        input += bytes
        while let first = input.first {
            switch first {
            case 0x03:
                input.removeFirst()
                target?.debuggerInterrupt()
            case UInt8(ascii: "$"):
                guard let hash = input.firstIndex(of: UInt8(ascii: "#")), input.count >= hash + 3 else {
                    // A packet is at most a few KiB: a client that never ends one is dropped.
                    if input.count > 1 << 16 { client?.close(.malformedMessage("unterminated GDB packet")) }
                    return
                }
                let raw = Array(input[1..<hash])
                let checksum = UInt8(String(decoding: input[(hash + 1)...(hash + 2)], as: UTF8.self), radix: 16)
                input.removeFirst(hash + 3)
                guard checksum == raw.reduce(UInt8(0), { $0 &+ $1 }) else {
                    client?.sendUnframed([UInt8(ascii: "-")])  // asks for the packet again
                    continue
                }
                client?.sendUnframed([UInt8(ascii: "+")])
                if let answer = handle(String(decoding: unescape(raw), as: UTF8.self)) { send(answer) }
            default:
                input.removeFirst()  // acknowledgements and noise
            }
        }
    }

    private func send(_ payload: String) {
        let bytes = Array(payload.utf8)
        let checksum = bytes.reduce(UInt8(0)) { $0 &+ $1 }
        client?.sendUnframed([UInt8(ascii: "$")] + bytes + Array(String(format: "#%02x", checksum).utf8))
    }

    private func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var escaped = false
        for byte in bytes {
            if escaped { result.append(byte ^ 0x20); escaped = false } else if byte == 0x7d { escaped = true } else { result.append(byte) }
        }
        return result
    }

    // MARK: Commands

    /// The answer to one packet, or nil when it comes later (continue and step answer when the hart stops).
    private func handle(_ packet: String) -> String? {
        guard let command = packet.first else { return "" }
        let arguments = String(packet.dropFirst())
        switch command {
        case "?": return "S05"
        case "g": return GDBServer.registerNumbers.map { hex(register($0), bytes: GDBServer.size(of: $0)) }.joined()
        case "p":
            guard let number = Int(arguments, radix: 16), GDBServer.registerNumbers.contains(number) else { return "E01" }
            return hex(register(number), bytes: GDBServer.size(of: number))
        case "P":
            let parts = arguments.split(separator: "=")
            guard parts.count == 2, let number = Int(parts[0], radix: 16), GDBServer.registerNumbers.contains(number),
                  let value = littleEndian(String(parts[1])) else { return "E01" }
            setRegister(number, value)
            return "OK"
        case "m":
            guard let (address, count) = addressAndLength(arguments), count <= 0x10000,
                  let bytes = hart.debugRead(address, count: count) else { return "E01" }
            return bytes.map { String(format: "%02x", $0) }.joined()
        case "M":
            let parts = arguments.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let (address, count) = addressAndLength(String(parts[0])),
                  let bytes = hexBytes(String(parts[1])), bytes.count == count,
                  hart.debugWrite(address, bytes: bytes) else { return "E01" }
            return "OK"
        case "c":
            target?.debuggerContinue()
            return nil
        case "s":
            target?.debuggerStep()
            return nil
        case "Z", "z":
            // Z0 software and Z1 hardware breakpoints are the same thing here: the hart checks the pc.
            let parts = arguments.split(separator: ",")
            guard parts.count >= 2, parts[0] == "0" || parts[0] == "1", let address = UInt64(parts[1], radix: 16) else {
                return ""
            }
            if command == "Z" {
                breakpoints.insert(address)
                hart.addBreakpoint(address)
            } else {
                breakpoints.remove(address)
                hart.removeBreakpoint(address)
            }
            return "OK"
        case "D", "k":
            // Detach (or kill, which here only detaches: the run belongs to rrctl): closing lets the guest run.
            send("OK")
            client?.close()
            return nil
        case "H": return "OK"
        case "q":
            if packet.hasPrefix("qSupported") { return "PacketSize=4000;qXfer:features:read+" }
            if packet.hasPrefix("qXfer:features:read:target.xml:") {
                return targetDescriptionChunk(String(packet.dropFirst("qXfer:features:read:target.xml:".count)))
            }
            if packet == "qAttached" { return "1" }
            if packet == "qC" { return "QC1" }
            if packet == "qfThreadInfo" { return "m1" }
            if packet == "qsThreadInfo" { return "l" }
            return ""
        default:
            return ""
        }
    }

    // gdb's RISC-V numbering: x0-x31 0-31, pc 32, f0-f31 33-64, then CSRs at 65 + number (fflags, frm, fcsr).
    private static let registerNumbers = Array(0...64) + [66, 67, 68]
    private static func size(of number: Int) -> Int { number > 64 ? 4 : 8 }

    private func register(_ number: Int) -> UInt64 {
        switch number {
        case 32: return hart.pc
        case 33...64: return hart.fpRegister(number - 33)
        case 65...: return hart.readCSR(UInt16(number - 65)) ?? 0
        default: return hart.register(number)
        }
    }

    /// Registers gdb changes; CSRs stay read-only here (their side effects belong to the guest).
    private func setRegister(_ number: Int, _ value: UInt64) {
        switch number {
        case 32: hart.pc = value
        case 33...64: hart.setFPRegister(number - 33, value)
        case 65...: break
        default: hart.setRegister(number, value)
        }
    }

    /// `bytes` bytes, least significant first, as the protocol sends registers.
    private func hex(_ value: UInt64, bytes: Int = 8) -> String {
        (0..<bytes).map { String(format: "%02x", UInt8(truncatingIfNeeded: value >> (8 * $0))) }.joined()
    }

    private func littleEndian(_ text: String) -> UInt64? {
        guard let bytes = hexBytes(text), bytes.count <= 8 else { return nil }
        return bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    private func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private func addressAndLength(_ text: String) -> (UInt64, Int)? {
        let parts = text.split(separator: ",")
        guard parts.count == 2, let address = UInt64(parts[0], radix: 16), let count = Int(parts[1], radix: 16) else {
            return nil
        }
        return (address, count)
    }

    /// The registers gdb may ask for: the integer registers and pc, the floating-point registers and
    /// their CSRs, under gdb's RISC-V feature names (gdb refuses an RV64GC program without the FPU).
    private static let targetDescription: String = {
        let names = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1"] + (0...7).map { "a\($0)" }
            + (2...11).map { "s\($0)" } + (3...6).map { "t\($0)" }
        let floatNames = (0...7).map { "ft\($0)" } + ["fs0", "fs1"] + (0...7).map { "fa\($0)" }
            + (2...11).map { "fs\($0)" } + (8...11).map { "ft\($0)" }
        let registers = names.enumerated().map { number, name in
            let type = name == "sp" ? "data_ptr" : "int"
            return "<reg name=\"\(name)\" bitsize=\"64\" type=\"\(type)\" regnum=\"\(number)\"/>"
        }
        return "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target version=\"1.0\">"
            + "<architecture>riscv:rv64</architecture><feature name=\"org.gnu.gdb.riscv.cpu\">"
            + registers.joined() + "<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"32\"/>"
            + "</feature><feature name=\"org.gnu.gdb.riscv.fpu\">"
            + floatNames.enumerated().map { number, name in
                "<reg name=\"\(name)\" bitsize=\"64\" type=\"ieee_double\" regnum=\"\(33 + number)\"/>"
            }.joined()
            + "<reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"66\"/>"
            + "<reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"67\"/>"
            + "<reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"68\"/>"
            + "</feature></target>"
    }()

    private func targetDescriptionChunk(_ range: String) -> String {
        guard let (offset, length) = addressAndLength(range) else { return "E01" }
        let text = Array(GDBServer.targetDescription.utf8)
        let start = min(Int(offset), text.count)
        let end = min(start + length, text.count)
        return (end == text.count ? "l" : "m") + String(decoding: text[start..<end], as: UTF8.self)
    }
}
