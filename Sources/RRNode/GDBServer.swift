#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRBus
import RVHart
import RVPlatform

/// Why the machine stopped, as the debugger is told.
struct GDBStop {
    enum Kind: Equatable {
        /// A breakpoint, the end of a step, or a stop the debugger asked for.
        case trap
        /// The debugger's Ctrl-C.
        case interrupt
        case watch(WatchKind, address: UInt64)
        /// Reverse execution reached the start of the log.
        case historyBegin
    }
    var kind: Kind
    /// The hart that stopped (0-based).
    var hart: Int
}

/// What the GDB server asks of the machine it debugs. Threads are harts (0-based here; gdb's thread ids
/// are hart + 1). Answers may come later (the cluster asks its harts over the bus): each call ends by
/// calling its `done` exactly once. Resuming calls answer through `GDBServer.reportStop`.
protocol GDBTarget: AnyObject {
    var hartCount: Int { get }
    /// The name gdb shows for thread `hart + 1` ("hart N": the machine's hart, which a one-hart target numbers
    /// apart from its only thread).
    func threadName(hart: Int) -> String
    /// Whether `bs` and `bc` can work here at all (an error reply with a message otherwise).
    var reverseRefusal: String? { get }
    /// x0-x31, pc, f0-f31, fflags, frm, fcsr of `hart`; nil if it cannot be read.
    func readRegisters(hart: Int, done: @escaping ([UInt64]?) -> Void)
    /// `number` in gdb's numbering (see `GDBServer.registerNumbers`).
    func writeRegister(hart: Int, number: Int, value: UInt64, done: @escaping (Bool) -> Void)
    func readMemory(hart: Int, address: UInt64, count: Int, done: @escaping ([UInt8]?) -> Void)
    func writeMemory(hart: Int, address: UInt64, bytes: [UInt8], done: @escaping (Bool) -> Void)
    func setBreakpoint(_ address: UInt64, insert: Bool, done: @escaping (Bool) -> Void)
    /// A watchpoint at an address `hart` sees; on error, the reason (one line for standard error).
    func setWatchpoint(_ kind: WatchKind, address: UInt64, length: UInt64, insert: Bool, hart: Int,
                       done: @escaping (_ error: String?) -> Void)
    /// The stop the machine is at now (waits until the machine is stopped).
    func haltReason(done: @escaping (GDBStop) -> Void)
    /// Runs the machine on (`step`: until that hart has retired one more instruction), backwards with `reverse`.
    /// With `only`, the debugger resumed that thread alone: the other harts still run as the schedule says
    /// (they cannot wait: the schedule is the run), but their breakpoints and watchpoints do not stop.
    func resume(step hart: Int?, only: Int?, reverse: Bool)
    /// Ctrl-C: stop the machine as soon as possible.
    func interrupt()
    /// `monitor TEXT`: the text to print.
    func monitor(_ command: String, done: @escaping (String) -> Void)
    /// The debugger left: breakpoints and watchpoints go, the machine runs freely.
    func detach()
}

extension GDBTarget {
    func threadName(hart: Int) -> String { "hart \(hart)" }
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

/// A GDB remote-serial-protocol server on a TCP port of this host or a Unix socket
/// (`gdb-multiarch -ex 'target remote :PORT' prog.elf`), for one hart (`--gdb-hart N`, in that hart's
/// process) or every hart as a thread (in the sequencer). It reads and writes registers and memory (virtual
/// addresses, as the selected hart's supervisor sees them), sets breakpoints and watchpoints, continues,
/// single-steps, and runs backwards where its target can. A stopped machine holds its slice, so G does not
/// move, and nothing the guest does depends on the debugger (a replay debugged so still matches its
/// recording, unless the debugger writes registers or memory).
final class GDBServer {
    private weak var target: GDBTarget?
    private var listener: Listener?
    private var client: Connection?
    private var input: [UInt8] = []
    /// What the debugger sent: a packet's payload, or Ctrl-C.
    private enum Incoming { case packet(String), interrupt }
    /// Packets (and Ctrl-Cs after them) waiting while the answer to an earlier one is being gathered, or until the
    /// machine can answer.
    private var queued: [Incoming] = []
    /// The packet being answered, and since when (host nanoseconds), for `stateDescription`.
    private var answering: (packet: String, since: UInt64)?
    /// Debuggers that have gone away: an answer that comes after its asker left is dropped.
    private var clientsGone = 0
    /// Whether packets are answered yet (see `startAnswering`).
    private var answersPackets: Bool
    /// RRVM_GDB_TRACE=PATH: every packet in and out, timed, appended to that file (to see where a session hangs).
    private let trace: Int32?
    private let createdAt = EventLoop.monotonicNanoseconds()
    /// The thread `g`/`m`/`Z2` apply to (Hg) and the one `s` steps (Hc), as hart indexes.
    private var registerHart = 0
    private var stepHart: Int?
    /// Whether the machine runs on the debugger's behalf (a stop reply is owed).
    private var running = false
    /// The guest's exit status once the run is over (see `reportExit`).
    private var exitStatus: Int32?

    /// `answersAtOnce: false`: packets are taken (and acknowledged) but not answered before `startAnswering`, for a
    /// target that cannot answer yet (the cluster, until every hart has joined and stopped).
    init(loop: EventLoop, address: BusAddress, target: GDBTarget, answersAtOnce: Bool = true) throws {
        self.target = target
        answersPackets = answersAtOnce
        trace = ProcessInfo.processInfo.environment["RRVM_GDB_TRACE"].flatMap { path in
            // Appended to, created if missing; never through a symlink.
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            return descriptor < 0 ? nil : descriptor
        }
        // A Unix socket is born mode 0600 (connecting needs write permission): only this user reaches it.
        let savedMask = umask(0o177)
        defer { umask(savedMask) }
        listener = try Listener(loop: loop, address: address) { [unowned self] connection in
            self.accept(connection)
        }
    }

    deinit {
        if let trace { Glibc.close(trace) }
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

    /// Tells the debugger the machine has stopped (after a continue, a step or an interrupt).
    func reportStop(_ stop: GDBStop) {
        guard running else { return }
        running = false
        registerHart = stop.hart
        send(stopReply(stop))
    }

    /// Tells the debugger the run is over, with the guest's exit status: now if it waits for a stop reply, else as
    /// the answer to its next resume or `?`. (In gdb's all-stop protocol a `W` sent while the machine is stopped would
    /// be taken for the answer to whatever it asked meanwhile: "Invalid hex digit 87" for a memory read.)
    func reportExit(_ status: Int32) {
        exitStatus = status
        guard running else { return }
        running = false
        send(exitReply(status))
    }

    private func exitReply(_ status: Int32) -> String { "W" + hexadecimal(UInt8(truncatingIfNeeded: status)) }

    /// Text for the debugger's console (an `O` packet), e.g. why a command failed.
    func console(_ text: String) {
        send("O" + hexText(text))
    }

    var hasClient: Bool { client != nil }

    /// The target can answer from now on: the packets taken meanwhile are answered, in order.
    func startAnswering() {
        guard !answersPackets else { return }
        answersPackets = true
        traceLine("the target answers from now on")
        answerNext()
    }

    /// One line on where the conversation with the debugger stands (for a state dump).
    var stateDescription: String {
        guard client != nil else { return "gdb server: no debugger attached" }
        var text = "gdb server: a debugger attached"
        if !answersPackets { text += ", packets held until the machine is ready" }
        if let answering {
            let seconds = Double(EventLoop.monotonicNanoseconds() &- answering.since) / 1e9
            text += ", answering '\(Self.abridged(answering.packet))' for " + fixedPoint(seconds, decimals: 3) + " s"
        }
        text += ", \(queued.count) packets (or Ctrl-Cs) waiting"
        if !input.isEmpty { text += ", \(input.count) bytes of a packet not complete yet" }
        if running { text += ", a stop reply owed (the machine runs for the debugger)" }
        return text
    }

    private static func abridged(_ text: String) -> String { text.count > 120 ? String(text.prefix(120)) + "..." : text }

    private func traceLine(_ line: String) {
        guard let trace else { return }
        let seconds = Double(EventLoop.monotonicNanoseconds() &- createdAt) / 1e9
        let bytes = Array((fixedPoint(seconds, decimals: 6, width: 10) + " " + Self.abridged(line) + "\n").utf8)
        _ = bytes.withUnsafeBytes { writeWhole(trace, $0) }
    }

    private func stopReply(_ stop: GDBStop) -> String {
        let thread = "thread:\(String(stop.hart + 1, radix: 16));"
        switch stop.kind {
        case .trap: return "T05" + thread
        case .interrupt: return "T02" + thread
        case .historyBegin: return "T05replaylog:begin;" + thread
        case .watch(let kind, let address):
            let name = kind == .write ? "watch" : kind == .read ? "rwatch" : "awatch"
            return "T05\(name):\(String(address, radix: 16));" + thread
        }
    }

    private func accept(_ connection: Connection) {
        guard client == nil else {
            connection.close(.refused("a debugger is already attached"))
            return
        }
        client = connection
        connection.name = "gdb"
        traceLine("a debugger connected")
        connection.onBytes = { [unowned self] bytes in self.receive(bytes) }
        connection.onClose = { [unowned self] _ in
            // The debugger went away: forget its breakpoints and watchpoints and let the guest run.
            self.traceLine("the debugger went away")
            self.client = nil
            self.input = []
            self.queued = []
            // An answer still being gathered was for it: the next debugger is not kept waiting for it, nor given it.
            self.answering = nil
            self.clientsGone += 1
            self.running = false
            self.target?.detach()
        }
    }

    // MARK: Packets: $payload#checksum, acknowledged with +; a lone 0x03 is an interrupt.

    private func receive(_ bytes: [UInt8]) {
        input += bytes
        while let first = input.first {
            switch first {
            case 0x03:
                input.removeFirst()
                if queued.isEmpty && answering == nil {
                    interrupt()
                } else if case .interrupt? = queued.last {
                    break  // one waits already
                } else {
                    // After the packets before it: a continue still waiting is interrupted once it runs.
                    traceLine("<- Ctrl-C, after the packets waiting")
                    queued.append(.interrupt)
                }
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
                    traceLine("<- a packet with a wrong checksum: " + String(decoding: raw, as: UTF8.self))
                    client?.sendUnframed([UInt8(ascii: "-")])  // asks for the packet again
                    continue
                }
                client?.sendUnframed([UInt8(ascii: "+")])
                guard queued.count < 64 else {
                    client?.close(.malformedMessage("too many GDB packets waiting"))
                    return
                }
                let packet = String(decoding: unescape(raw), as: UTF8.self)
                traceLine("<- " + packet)
                queued.append(.packet(packet))
                answerNext()
            default:
                input.removeFirst()  // acknowledgements and noise
            }
        }
    }

    /// Answers queued packets in order, one at a time (an answer may come from the harts later). Before the machine
    /// can answer, those at the head of the queue that need no machine are answered already (see `needsTheMachine`).
    private func answerNext() {
        while answering == nil, client != nil, let next = queued.first, answersPackets || !Self.needsTheMachine(next) {
            guard case .packet(let packet) = queued.removeFirst() else {
                interrupt()
                continue
            }
            answering = (packet, EventLoop.monotonicNanoseconds())
            var answeredNow = true
            let asker = clientsGone
            handle(packet) { [weak self] answer in
                guard let self, self.clientsGone == asker else { return }
                if let answer { self.send(answer) }
                self.answering = nil
                if !answeredNow { self.answerNext() }
            }
            answeredNow = false
        }
    }

    /// Whether answering `incoming` involves the harts. The others (gdb's connect: qSupported, the target description,
    /// the thread list, which thread to use) are answered from the server's own state, so a slow start-up does not
    /// make gdb's connect fail: gdb waits 2 s for each packet, and the first that waits for the machine is then `?`.
    private static func needsTheMachine(_ incoming: Incoming) -> Bool {
        guard case .packet(let packet) = incoming, let command = packet.first else { return true }
        switch command {
        case "q": return packet.hasPrefix("qRcmd,")  // a monitor command goes to the machine
        case "v": return packet.hasPrefix("vCont;")
        case "H", "T", "Q", "!": return false
        default: return true
        }
    }

    /// Ctrl-C: stops the machine if it runs for the debugger (a stopped one has nothing to stop).
    private func interrupt() {
        traceLine("<- Ctrl-C" + (running ? "" : " (ignored: the machine is stopped)"))
        if running { target?.interrupt() }
    }

    private func send(_ payload: String) {
        traceLine("-> " + payload + (client == nil ? " (not sent: no debugger)" : ""))
        let bytes = Array(payload.utf8)
        let checksum = bytes.reduce(UInt8(0)) { $0 &+ $1 }
        client?.sendUnframed([UInt8(ascii: "$")] + bytes + Array(("#" + hexadecimal(checksum)).utf8))
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

    /// Answers one packet through `reply` (nil: no answer now; continue and step answer when the machine stops).
    private func handle(_ packet: String, reply: @escaping (String?) -> Void) {
        guard let target, let command = packet.first else { return reply("") }
        let arguments = String(packet.dropFirst())
        if let exitStatus, Self.needsTheMachine(.packet(packet)), command != "D", command != "k" {
            // The run is over: a resume, or the question why the machine stopped, learns it; nothing else is answered.
            let asksToGoOn = "?csb".contains(command) || packet.hasPrefix("vCont;")
            return reply(asksToGoOn ? exitReply(exitStatus) : "E01")
        }
        switch command {
        case "?":
            target.haltReason { [unowned self] stop in
                self.registerHart = stop.hart
                reply(self.stopReply(stop))
            }
        case "g":
            target.readRegisters(hart: registerHart) { values in
                guard let values, values.count == GDBServer.registerNumbers.count else { return reply("E01") }
                reply(zip(GDBServer.registerNumbers, values).map { hex($1, bytes: GDBServer.size(of: $0)) }.joined())
            }
        case "p":
            guard let number = Int(arguments, radix: 16), let position = GDBServer.registerNumbers.firstIndex(of: number) else {
                return reply("E01")
            }
            target.readRegisters(hart: registerHart) { values in
                guard let values, position < values.count else { return reply("E01") }
                reply(hex(values[position], bytes: GDBServer.size(of: number)))
            }
        case "P":
            let parts = arguments.split(separator: "=")
            guard parts.count == 2, let number = Int(parts[0], radix: 16), GDBServer.registerNumbers.contains(number),
                  let value = littleEndian(String(parts[1])) else { return reply("E01") }
            target.writeRegister(hart: registerHart, number: number, value: value) { reply($0 ? "OK" : "E01") }
        case "m":
            guard let (address, count) = addressAndLength(arguments), count <= 0x10000 else { return reply("E01") }
            target.readMemory(hart: registerHart, address: address, count: count) { bytes in
                reply(bytes.map { $0.map { hexadecimal($0) }.joined() } ?? "E01")
            }
        case "M":
            let parts = arguments.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let (address, count) = addressAndLength(String(parts[0])),
                  let bytes = hexBytes(String(parts[1])), bytes.count == count else { return reply("E01") }
            target.writeMemory(hart: registerHart, address: address, bytes: bytes) { reply($0 ? "OK" : "E01") }
        case "c", "s":
            running = true
            target.resume(step: command == "s" ? stepHart ?? registerHart : nil, only: stepHart, reverse: false)
            reply(nil)
        case "v":
            if packet == "vCont?" { return reply("vCont;c;C;s;S") }
            guard packet.hasPrefix("vCont;") else { return reply("") }
            // vCont;ACTION[:THREAD]...: a step names its thread; a continue with a thread resumes that one alone.
            var step: Int?
            var only: Int?
            var continuesAll = false
            for action in packet.dropFirst("vCont;".count).split(separator: ";") {
                let parts = action.split(separator: ":")
                let thread = parts.count > 1 ? Int(parts[1], radix: 16).flatMap { $0 > 0 ? $0 - 1 : nil } : nil
                switch parts.first?.first {
                case "s"?, "S"?: step = thread ?? registerHart
                case "c"?, "C"?: if let thread { only = thread } else { continuesAll = true }
                default: return reply("E01")
                }
            }
            running = true
            target.resume(step: step, only: continuesAll ? nil : step ?? only, reverse: false)
            reply(nil)
        case "b":
            guard arguments == "s" || arguments == "c" else { return reply("") }
            if let refusal = target.reverseRefusal {
                console(refusal + "\n")
                return reply("E01")
            }
            running = true
            target.resume(step: arguments == "s" ? stepHart ?? registerHart : nil, only: nil, reverse: true)
            reply(nil)
        case "Z", "z":
            insertOrRemove(arguments, insert: command == "Z", reply: reply)
        case "D", "k":
            // Detach (or kill, which here only detaches: the run belongs to rrctl): closing lets the guest run.
            send("OK")
            client?.close()
            reply(nil)
        case "H":
            // Hg: the thread registers and memory apply to; Hc: the thread `s` steps (-1 or 0: any).
            guard arguments.count >= 2, let id = Int(arguments.dropFirst(), radix: 16) else { return reply("E01") }
            if id > 0 && id > target.hartCount { return reply("E01") }
            if arguments.first == "g" {
                if id > 0 { registerHart = id - 1 }
            } else {
                stepHart = id > 0 ? id - 1 : nil
            }
            reply("OK")
        case "T":
            guard let id = Int(arguments, radix: 16), (1...target.hartCount).contains(id) else { return reply("E01") }
            reply("OK")
        case "q":
            query(packet, reply: reply)
        default:
            reply("")
        }
    }

    private func query(_ packet: String, reply: @escaping (String?) -> Void) {
        guard let target else { return reply("") }
        if packet.hasPrefix("qSupported") {
            return reply("PacketSize=4000;qXfer:features:read+;qXfer:threads:read+;vContSupported+;ReverseStep+;ReverseContinue+")
        }
        if packet.hasPrefix("qXfer:features:read:target.xml:") {
            return reply(chunk(GDBServer.targetDescription, String(packet.dropFirst("qXfer:features:read:target.xml:".count))))
        }
        if packet.hasPrefix("qXfer:threads:read::") {
            let threads = (0..<target.hartCount).map {
                "<thread id=\"\(String($0 + 1, radix: 16))\" name=\"\(target.threadName(hart: $0))\"/>"
            }
            return reply(chunk("<?xml version=\"1.0\"?><threads>" + threads.joined() + "</threads>",
                               String(packet.dropFirst("qXfer:threads:read::".count))))
        }
        if packet.hasPrefix("qThreadExtraInfo,") {
            guard let id = Int(packet.dropFirst("qThreadExtraInfo,".count), radix: 16), (1...target.hartCount).contains(id) else {
                return reply("E01")
            }
            return reply(hexText(target.threadName(hart: id - 1)))
        }
        if packet.hasPrefix("qRcmd,") {
            guard let bytes = hexBytes(String(packet.dropFirst("qRcmd,".count))) else { return reply("E01") }
            target.monitor(String(decoding: bytes, as: UTF8.self)) { [unowned self] text in
                if !text.isEmpty { self.console(text) }
                reply("OK")
            }
            return
        }
        switch packet {
        case "qAttached": reply("1")
        case "qC": reply("QC\(String(registerHart + 1, radix: 16))")
        case "qfThreadInfo": reply("m" + (1...target.hartCount).map { String($0, radix: 16) }.joined(separator: ","))
        case "qsThreadInfo": reply("l")
        default: reply("")
        }
    }

    /// Z0/Z1 (breakpoints: the harts check the pc, so both are the same) and Z2/Z3/Z4 (write, read and
    /// access watchpoints).
    private func insertOrRemove(_ arguments: String, insert: Bool, reply: @escaping (String?) -> Void) {
        guard let target else { return reply("") }
        let parts = arguments.split(separator: ",")
        guard parts.count >= 3, let type = Int(parts[0]), let address = UInt64(parts[1], radix: 16),
              let length = UInt64(parts[2], radix: 16) else { return reply("E01") }
        switch type {
        case 0, 1:
            target.setBreakpoint(address, insert: insert) { reply($0 ? "OK" : "E01") }
        case 2, 3, 4:
            let kind: WatchKind = type == 2 ? .write : type == 3 ? .read : .access
            target.setWatchpoint(kind, address: address, length: length, insert: insert, hart: registerHart) { error in
                guard let error else { return reply("OK") }
                // gdb takes no console text in answer to Z (it says "Could not insert hardware watchpoint"): the
                // reason goes to standard error.
                report("rrvm gdb server", error)
                reply("E01")
            }
        default:
            reply("")
        }
    }

    // gdb's RISC-V numbering: x0-x31 0-31, pc 32, f0-f31 33-64, then CSRs at 65 + number (fflags, frm, fcsr).
    static let registerNumbers = Array(0...64) + [66, 67, 68]
    private static func size(of number: Int) -> Int { number > 64 ? 4 : 8 }

    /// The registers of `registerNumbers`, in that order.
    static func registers(of hart: Hart) -> [UInt64] {
        registerNumbers.map { number in
            switch number {
            case 32: return hart.pc
            case 33...64: return hart.fpRegister(number - 33)
            case 65...: return hart.readCSR(UInt16(number - 65)) ?? 0
            default: return hart.register(number)
            }
        }
    }

    /// Registers gdb changes: integer, pc, floating point and the floating-point CSRs (no other CSR is shown).
    static func setRegister(_ number: Int, _ value: UInt64, of hart: Hart) {
        switch number {
        case 32: hart.pc = value
        case 33...64: hart.setFPRegister(number - 33, value)
        case 65...: _ = hart.debugWriteFloatingPointCSR(UInt16(number - 65), value)
        default: hart.setRegister(number, value)
        }
    }

    private func chunk(_ document: String, _ range: String) -> String {
        guard let (offset, length) = addressAndLength(range) else { return "E01" }
        let text = Array(document.utf8)
        let start = min(Int(clamping: offset), text.count)
        let end = min(start + length, text.count)
        return (end == text.count ? "l" : "m") + String(decoding: text[start..<end], as: UTF8.self)
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
}

// MARK: - Hex, as the protocol spells values

/// `bytes` bytes, least significant first, as the protocol sends registers.
private func hex(_ value: UInt64, bytes: Int = 8) -> String {
    (0..<bytes).map { hexadecimal(UInt8(truncatingIfNeeded: value >> (8 * $0))) }.joined()
}

private func hexText(_ text: String) -> String {
    text.utf8.map { hexadecimal($0) }.joined()
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
