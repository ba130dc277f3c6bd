import CLibUV
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RRBus

import RRProto
import XCTest

/// The real hub (an rrvm-sequencer process) with test peers joining it over its Unix socket.
final class HubTests: XCTestCase {
    private var hub: HubFixture!
    private let loop = EventLoop()
    /// Whether `joinBoth` asks for shared lanes (see `withEachTransport`).
    private var sharedLanes = true

    override func setUpWithError() throws {
        hub = try HubFixture()
    }

    override func tearDown() {
        hub?.stop()
    }

    func testHundredThousandSmallFramesArriveInOrder() throws {
        try withEachTransport {
            let (hart, device) = try joinBoth()
            let count = 100_000
            var received = 0
            var outOfOrder = 0
            hart.onEnvelope { envelope in
                guard case .echo(let echo)? = envelope.body else { return }
                if echo.id != UInt64(received) || echo.payload.count != 8 { outOfOrder += 1 }
                received += 1
            }
            for id in 0..<count {
                device.send(echoEnvelope(id: UInt64(id), payload: Data(count: 8), to: Endpoint.hart(0)))
            }
            run(seconds: 60) { received == count }
            XCTAssertEqual(received, count)
            XCTAssertEqual(outOfOrder, 0)
        }
    }

    /// As rrctl starts it (`--cpu N`), the hub keeps to that CPU as a batch process, polls only for 30 µs after
    /// each message (yielding the CPU), and rings its doorbells only as its loop comes round; with peers that
    /// defer theirs too, a ping-pong where every message finds its receiver asleep loses no wake-up (this
    /// test's loop has two lanes, so it sleeps on both doorbells at once).
    func testAHubKeptToOneCPUWithDeferredDoorbellsLosesNoWakeUp() throws {
        hub.stop()
        let cpu = HostCPU.current ?? 0
        hub = try HubFixture(arguments: ["--cpu", String(cpu)])
        loop.defersDoorbells = true
        defer { loop.defersDoorbells = false }
        let (hart, device) = try joinBoth()
        let status = try String(contentsOfFile: "/proc/\(hub.pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Cpus_allowed_list:\t\(cpu)\n"), "the hub keeps to CPU \(cpu)")
        let rounds = 2_000
        var received = 0
        hart.onEnvelope { [unowned self] envelope in
            guard case .echo(let echo)? = envelope.body, echo.id == UInt64(received) else { return }
            received += 1
            if received < rounds { device.send(self.echoEnvelope(id: UInt64(received), payload: Data(), to: Endpoint.hart(0))) }
        }
        device.send(echoEnvelope(id: 0, payload: Data(), to: Endpoint.hart(0)))
        run(seconds: 60) { received == rounds }
        XCTAssertEqual(received, rounds)
    }

    /// A doorbell is only a hint: a peer may store anything in the words it can write (the sequencer's doorbell,
    /// which every peer maps, and its own lane's). With another thread storing random values into all of them and
    /// waking their sleepers throughout, the kept-to-one-CPU hub's ping-pong still delivers every frame, intact
    /// and in order (a false ring only makes a process look at its rings and find them as they are).
    func testDoorbellsHoldingAnyValueOnlyCauseALook() throws {
        hub.stop()
        hub = try HubFixture(arguments: ["--cpu", String(HostCPU.current ?? 0)])
        loop.defersDoorbells = true
        defer { loop.defersDoorbells = false }
        let (hart, device) = try joinBoth()
        let words = try ["lane-bell", "lane-1", "lane-2"].map { name -> UInt in
            let fd = open(hub.directory.path + "/" + name, O_RDWR)
            XCTAssertGreaterThanOrEqual(fd, 0, "\(name) is in the run directory")
            defer { close(fd) }
            guard let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), page != MAP_FAILED else {
                throw BusError.io("cannot map \(name)")
            }
            return UInt(bitPattern: page + 64)  // the doorbell word, in the lane's and in the bell's file
        }
        let scribbling = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        scribbling.initialize(to: true)
        defer { scribbling.deallocate() }
        let stopped = expectation(description: "the scribbler stops")
        let flag = UInt(bitPattern: scribbling)
        Thread.detachNewThread {
            let running = UnsafeMutablePointer<Bool>(bitPattern: flag)!
            var stores = 0
            while running.pointee {
                let word = UnsafeMutablePointer<UInt32>(bitPattern: words[stores % words.count])!
                word.pointee = UInt32.random(in: 1...UInt32.max)
                _ = rrvm_futex_wake(word)
                stores += 1
                usleep(20)
            }
            stopped.fulfill()
        }
        let rounds = 2_000
        var received = 0
        var damaged = 0
        hart.onEnvelope { [unowned self] envelope in
            guard case .echo(let echo)? = envelope.body, echo.id == UInt64(received) else { return }
            if echo.payload != Data(repeating: UInt8(truncatingIfNeeded: echo.id), count: 100) { damaged += 1 }
            received += 1
            if received < rounds {
                device.send(self.echoEnvelope(id: UInt64(received), payload: Data(repeating: UInt8(truncatingIfNeeded: received), count: 100),
                                              to: Endpoint.hart(0)))
            }
        }
        device.send(echoEnvelope(id: 0, payload: Data(repeating: 0, count: 100), to: Endpoint.hart(0)))
        run(seconds: 60) { received == rounds }
        scribbling.pointee = false
        wait(for: [stopped], timeout: 5)
        for word in words { munmap(UnsafeMutableRawPointer(bitPattern: word - 64), 4096) }
        XCTAssertEqual(received, rounds)
        XCTAssertEqual(damaged, 0)
    }

    /// A loop asleep on its lanes' doorbells still hears a socket it began watching in a callback (libuv adds such
    /// a descriptor to its epoll set only at its next poll, which must come before the sleep): a connection
    /// accepted here, whose first frame arrives once the loop sleeps, is read at once, not at the next timer.
    func testALoopWithLanesHearsASocketItBeganWatchingMeanwhile() throws {
        _ = try joinBoth()
        let path = hub.directory.path + "/test-listener"
        var received: [UInt8]?
        var accepted: Connection?
        let listener = try Listener(loop: loop, address: .unix(path: path)) { connection in
            accepted = connection
            connection.onFrame = { received = $0 }
        }
        defer { listener.close() }
        Thread.detachNewThread {
            let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8.prefix($0.count - 1)) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else { return }
            usleep(300_000)  // the loop has accepted the connection and gone back to sleep
            let frame = FrameCodec.encode([1, 2, 3])
            _ = frame.withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            usleep(3_500_000)
            close(socket)
        }
        var timedOut = false
        loop.after(milliseconds: 3_000) { timedOut = true }
        while received == nil && !timedOut { loop.runOnce() }
        XCTAssertNotNil(accepted)
        XCTAssertEqual(received, [1, 2, 3])
        XCTAssertFalse(timedOut, "the frame waited for the next timer")
        accepted?.close()
    }

    func testOneMebibyteFramesPassIntact() throws {
        var generator = SystemRandomNumberGenerator()
        let payloads = (0..<8).map { _ in Data((0..<(1 << 17)).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }) }
        try withEachTransport {
            let (hart, device) = try joinBoth()
            var received: [Data] = []
            hart.onEnvelope { envelope in
                if case .echo(let echo)? = envelope.body { received.append(echo.payload) }
            }
            for (index, payload) in payloads.enumerated() {
                device.send(echoEnvelope(id: UInt64(index), payload: payload, to: Endpoint.hart(0)))
            }
            run(seconds: 30) { received.count == payloads.count }
            XCTAssertEqual(received, payloads)
        }
    }

    func testDisconnectingPeerStopsTheRunAtOnceNamingIt() throws {
        try withEachTransport {
            let (hart, device) = try joinBoth()
            var shutdown: Rrvm_Shutdown?
            hart.onEnvelope { envelope in
                if case .shutdown(let message)? = envelope.body { shutdown = message }
            }
            device.close()
            run(seconds: 5) { shutdown != nil }
            XCTAssertEqual(shutdown?.exitCode, 1)
            XCTAssertTrue(shutdown?.reason.contains("device 0") ?? false, shutdown?.reason ?? "no shutdown")
            XCTAssertEqual(hub.waitForExit(), 1, "the hub ends with a status, not a crash")
        }
    }

    func testMalformedFrameFromAMemberStopsTheRunCleanly() throws {
        try withEachTransport {
            let (hart, device) = try joinBoth()
            var shutdown: Rrvm_Shutdown?
            hart.onEnvelope { envelope in
                if case .shutdown(let message)? = envelope.body { shutdown = message }
            }
            device.send([0xFF, 0xFF, 0xFF, 0x01, 0x02])  // not a protobuf Envelope
            run(seconds: 5) { shutdown != nil }
            XCTAssertTrue(shutdown?.reason.contains("malformed") ?? false, shutdown?.reason ?? "no shutdown")
            XCTAssertEqual(hub.waitForExit(), 1)
            XCTAssertTrue(hub.errorOutput.contains("malformed"), hub.errorOutput)
        }
    }

    func testOversizedFrameFromAMemberStopsTheRunCleanly() throws {
        try withEachTransport {
            let (hart, device) = try joinBoth()
            var shutdown: Rrvm_Shutdown?
            hart.onEnvelope { envelope in
                if case .shutdown(let message)? = envelope.body { shutdown = message }
            }
            device.sendUnframed([0xF0, 0xFF, 0xFF, 0xFF])  // announces a frame of almost 4 GiB
            run(seconds: 5) { shutdown != nil }
            XCTAssertTrue(shutdown?.reason.contains("exceeds") ?? false, shutdown?.reason ?? "no shutdown")
            XCTAssertEqual(hub.waitForExit(), 1)
        }
    }

    func testStrangerSendingGarbageIsDroppedWithoutStoppingTheRun() throws {
        let (hart, _) = try joinBoth()
        var shutdown: Rrvm_Shutdown?
        hart.onEnvelope { envelope in
            if case .shutdown(let message)? = envelope.body { shutdown = message }
        }
        var stranger: Connection?
        connect(loop: loop, to: hub.directory.busAddress, name: "stranger") { result in
            stranger = try? result.get()
        }
        run(seconds: 5) { stranger != nil }
        var strangerClosed = false
        stranger?.onClose = { _ in strangerClosed = true }
        stranger?.send(Array(repeating: 0xAB, count: 16))
        run(seconds: 5) { strangerClosed }
        XCTAssertTrue(strangerClosed, "a peer that has not joined and sends garbage is dropped")
        run(seconds: 0.2) { false }
        XCTAssertNil(shutdown, "a stranger cannot stop the run")
        XCTAssertTrue(hub.isRunning)
    }

    func testWrongProtocolVersionAndWrongSecretAreRefusedClearly() throws {
        var credentials = try hub.directory.credentials()
        var refusal: BusError?
        joinRaw(version: protocolVersion + 98, credentials: credentials) { refusal = $0 }
        run(seconds: 5) { refusal != nil }
        XCTAssertEqual(refusal, .refused("protocol version \(protocolVersion + 98) is not this sequencer's version \(protocolVersion)"))

        credentials.secret[0] ^= 0xFF
        refusal = nil
        joinRaw(version: protocolVersion, credentials: credentials) { refusal = $0 }
        run(seconds: 5) { refusal != nil }
        XCTAssertEqual(refusal, .refused("wrong secret"))
        XCTAssertTrue(hub.isRunning, "refusing a peer never stops the hub")
        _ = try joinBoth()
    }

    func testTCPCarriesFramesAndAnOccupiedPortIsAClearError() throws {
        var received: [UInt8]?
        var server: Connection?
        // A port the host has not handed to another socket (from 32768 on it hands them to outgoing connections).
        var found: (BusAddress, Listener)?
        for attempt in 0..<20 where found == nil {
            let address = BusAddress.tcp(host: "127.0.0.1", port: UInt16(40_000 + (Int(getpid()) + 997 * attempt) % 20_000))
            found = (try? Listener(loop: loop, address: address) { connection in
                server = connection
                connection.onFrame = { received = $0 }
            }).map { (address, $0) }
        }
        let (address, listener) = try XCTUnwrap(found, "no free port among 20")
        defer { listener.close() }
        XCTAssertThrowsError(try Listener(loop: loop, address: address) { _ in }) { error in
            XCTAssertTrue("\(error)".contains("already in use"), "\(error)")
        }
        var client: Connection?
        connect(loop: loop, to: address, name: "tcp client") { client = try? $0.get() }
        run(seconds: 5) { client != nil }
        client?.send([1, 2, 3, 4, 5])
        run(seconds: 5) { received != nil }
        XCTAssertEqual(received, [1, 2, 3, 4, 5])
        client?.close()
        server?.close()
    }

    // MARK: - Shared lanes

    func testLocalPeersMoveToASharedLaneUnlessTheyAskNotTo() throws {
        let (hart, device) = try joinBoth()
        for connection in [hart, device] {
            let path = try XCTUnwrap(connection.sharedLanePath)
            XCTAssertTrue(path.hasPrefix(hub.directory.path + "/"), "the lane lives in the private run directory")
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        }
        hub.stop()
        hub = try HubFixture()
        sharedLanes = false  // as over TCP, or with RRVM_SHARED_LANES=0
        let (socketHart, _) = try joinBoth()
        XCTAssertNil(socketHart.sharedLanePath)
    }

    func testCorruptLaneCountersStopTheRunNamingThePeer() throws {
        let (hart, device) = try joinBoth()
        var shutdown: Rrvm_Shutdown?
        hart.onEnvelope { envelope in
            if case .shutdown(let message)? = envelope.body { shutdown = message }
        }
        // The device's side claims to have read bytes the hub never wrote (ring 1's read counter).
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: try XCTUnwrap(device.sharedLanePath)))
        try file.seek(toOffset: UInt64(4096 + 256 + SharedLane.defaultCapacity + 128))
        file.write(Data([0, 0, 0, 0, 0, 0, 0, 1]))
        try file.close()
        hart.send(echoEnvelope(id: 1, payload: Data(count: 8), to: Endpoint.device(0)))
        run(seconds: 5) { shutdown != nil }
        XCTAssertEqual(shutdown?.exitCode, 1)
        XCTAssertTrue(shutdown?.reason.contains("device 0") ?? false, shutdown?.reason ?? "no shutdown")
        XCTAssertTrue(shutdown?.reason.contains("shared lane counters are inconsistent") ?? false,
                      shutdown?.reason ?? "no shutdown")
        XCTAssertEqual(hub.waitForExit(), 1, "the hub ends with a status, not a crash")
    }

    // MARK: - Helpers

    /// Runs `body` with the frames in shared lanes, then again (with a new hub) over the sockets alone.
    /// As rrctl starts a one-hart cluster (`--start-cpu`: the sequencer and the devices start aside).
    private static var devicesStartAside: [String] {
        let cpu = HostCPU.current ?? 0
        return ["--cpu", String(cpu), "--start-cpu", String(HostCPU.other(than: cpu) ?? cpu)]
    }

    /// Where the devices start aside, the run begins as soon as the hart has joined; a device access made before
    /// the device has joined waits for it, and the device gets it, in its place, as it joins. Elsewhere the run
    /// waits for the device.
    func testTheRunBeginsWithTheHartsAndADeviceJoiningLaterGetsWhatWaitedForIt() throws {
        var runs = 0
        let waiting = try joinOne(.hart) { _, envelope in if case .run? = envelope.body { runs += 1 } }
        run(seconds: 0.2) { runs > 0 }
        XCTAssertEqual(runs, 0, "without --start-cpu the run waits for the device")
        XCTAssertTrue(waiting.isOpen && hub.isRunning)
        try withEachTransport(hubArguments: Self.devicesStartAside) {
            var runs = 0
            var reply: Rrvm_MmioReply?
            let hart = try joinOne(.hart) { _, envelope in
                if case .run? = envelope.body { runs += 1 }
                if case .mmioReply(let answer)? = envelope.body { reply = answer }
            }
            run(seconds: 10) { runs > 0 }
            XCTAssertEqual(runs, 1, "the hart is given its slice without the device")
            var request = Rrvm_Envelope()
            request.body = .mmioRequest(.with { $0.address = 0x1000_0005; $0.size = 1; $0.executed = 7 })
            hart.send(request)
            run(seconds: 0.2) { reply != nil }
            XCTAssertNil(reply, "no answer before the device has joined")
            var accesses: [Rrvm_DeviceAccess] = []
            let device = try joinOne(.device) { device, envelope in
                guard case .deviceAccess(let access)? = envelope.body else { return }
                accesses.append(access)
                var done = Rrvm_Envelope()
                done.g = envelope.g
                done.body = .deviceDone(.with { $0.value = 0x60 })
                device.send(done)
            }
            run(seconds: 10) { reply != nil }
            XCTAssertEqual(accesses.map(\.offset), [5], "the access that waited, once")
            XCTAssertEqual(reply?.value, 0x60)
            XCTAssertTrue(hub.isRunning)
            withExtendedLifetime(device) {}
        }
    }

    /// A run that ends before a device has joined (here the sequencer stops at a hart's bad message) waits for it,
    /// and tells it to stop as it joins, rather than leaving it to be killed.
    func testADeviceJoiningAfterTheRunEndedIsToldToStop() throws {
        hub.stop()
        hub = try HubFixture(arguments: Self.devicesStartAside)
        var runs = 0
        let hart = try joinOne(.hart) { _, envelope in if case .run? = envelope.body { runs += 1 } }
        run(seconds: 10) { runs > 0 }
        var stray = Rrvm_Envelope()
        stray.body = .deviceDone(Rrvm_DeviceDone())
        hart.send(stray)
        run(seconds: 0.2) { false }
        XCTAssertTrue(hub.isRunning, "the hub waits for the device that has not joined")
        var shutdown: Rrvm_Shutdown?
        let device = try joinOne(.device) { _, envelope in if case .shutdown(let message)? = envelope.body { shutdown = message } }
        run(seconds: 5) { shutdown != nil }
        withExtendedLifetime(device) {}
        XCTAssertEqual(shutdown?.exitCode, 1)
        XCTAssertTrue(shutdown?.reason.contains("unexpected answer from hart 0") ?? false, shutdown?.reason ?? "no shutdown")
        XCTAssertEqual(hub.waitForExit(), 1)
    }

    /// Joins as `role` 0, `receive` taking what comes from the Welcome on (the sequencer may send at once).
    private func joinOne(_ role: Rrvm_Role, receive: @escaping (Connection, Rrvm_Envelope) -> Void) throws -> Connection {
        var joined: Result<Connection, BusError>?
        join(loop: loop, address: hub.directory.busAddress, role: role, index: 0, credentials: try hub.directory.credentials(),
             name: "\(role)", sharedLane: sharedLanes) { result in
            if case .success(let (connection, _)) = result {
                connection.onEnvelope { [unowned connection] envelope in receive(connection, envelope) }
            }
            joined = result.map(\.0)
        }
        run(seconds: 10) { joined != nil }
        guard let joined else { throw BusError.io("join timed out") }
        return try joined.get()
    }

    /// `body` with shared lanes, then over the socket alone, each with a new hub when `hubArguments` are given.
    private func withEachTransport(hubArguments: [String] = [], _ body: () throws -> Void) throws {
        for sharedLanes in [true, false] {
            if !sharedLanes || !hubArguments.isEmpty {
                hub.stop()
                hub = try HubFixture(arguments: hubArguments)
            }
            self.sharedLanes = sharedLanes
            try body()
        }
    }

    private func joinBoth() throws -> (hart: Connection, device: Connection) {
        (try joinOne(.hart) { _, _ in }, try joinOne(.device) { _, _ in })
    }

    private func joinRaw(version: UInt32, credentials: Credentials, completion: @escaping (BusError?) -> Void) {
        connect(loop: loop, to: hub.directory.busAddress, name: "raw") { result in
            guard let connection = try? result.get() else { return completion(.io("connect failed")) }
            connection.onEnvelope { envelope in
                if case .refused(let refused)? = envelope.body { completion(.refused(refused.reason)) }
                else { completion(nil) }
            }
            var envelope = Rrvm_Envelope()
            envelope.body = .hello(.with {
                $0.protocolVersion = version
                $0.role = .hart
                $0.clusterID = credentials.clusterID
                $0.secret = Data(credentials.secret)
            })
            connection.send(envelope)
        }
    }

    private func echoEnvelope(id: UInt64, payload: Data, to endpoint: UInt32) -> Rrvm_Envelope {
        var envelope = Rrvm_Envelope()
        envelope.body = .echo(.with { $0.id = id; $0.payload = payload; $0.to = endpoint })
        return envelope
    }

    private func run(seconds: Double, until condition: @escaping () -> Bool) {
        loop.run(seconds: seconds, until: condition)
    }
}

extension EventLoop {
    /// Runs the loop until `condition` holds or `seconds` pass.
    func run(seconds: Double, until condition: @escaping () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        let timer = LoopTimer(loop: self)
        timer.start(milliseconds: 1, repeatMilliseconds: 1) { [unowned self] in
            if condition() || Date() > deadline { self.stop() }
        }
        run()
        timer.close()
    }
}

/// An rrvm-sequencer process serving a 1-hart, 1-device machine whose members are the test's peers.
final class HubFixture {
    let directory: RunDirectory
    private let process = Process()
    private let errors = Pipe()
    private var collected = Data()

    /// `arguments` go to rrvm-sequencer after its run directory (e.g. `--cpu N`).
    init(arguments: [String] = []) throws {
        directory = try RunDirectory.create()
        var config = Rrvm_MachineConfig()
        config.harts = 1
        config.ramSize = 1 << 20
        config.quantum = 1000
        config.icountShift = 4
        config.devices = [.with { $0.kind = .uart; $0.base = 0x1000_0000; $0.size = 0x100 }]
        try directory.writeConfig(config)
        process.executableURL = URL(fileURLWithPath: TestBinaries.directory + "/rrvm-sequencer")
        process.arguments = ["--run-dir", directory.path] + arguments
        process.standardError = errors
        try process.run()
        // Ready once its socket listens: the file exists from bind() on, before listen(), and a connection in between
        // is refused. /proc/net/unix marks a listening socket with the flag __SO_ACCEPTCON (0x10000).
        let deadline = Date().addingTimeInterval(10)
        while !Self.isListening(directory.socketPath) && Date() < deadline { usleep(5_000) }
    }

    private static func isListening(_ path: String) -> Bool {
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return false }
        return table.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.last.map(String.init) == path && fields.count > 3 && fields[3] == "00010000"
        }
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    var errorOutput: String {
        collected += errors.fileHandleForReading.availableData
        return String(decoding: collected, as: UTF8.self)
    }

    /// The hub's exit status (-1 if it had to be killed after 10 s).
    func waitForExit() -> Int32 {
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.interrupt(); return -1 }
        return process.terminationReason == .exit ? process.terminationStatus : -1
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        directory.remove()
    }
}

/// Where the executables under test are: RRVM_BIN_DIR (the release build, as cluster/test.sh sets it),
/// else next to the test bundle.
enum TestBinaries {
    static var directory: String {
        if let explicit = ProcessInfo.processInfo.environment["RRVM_BIN_DIR"] { return explicit }
        // The executables are built beside the test bundle (or in its parent, depending on the platform).
        let bundle = Bundle(for: HubFixture.self).bundleURL
        let candidates = [bundle.path, bundle.deletingLastPathComponent().path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/rrvm-sequencer") } ?? bundle.path
    }
}
