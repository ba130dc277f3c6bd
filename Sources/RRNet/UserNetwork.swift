import CSlirp
import RRBus
#if canImport(Glibc)
import Glibc
#endif

/// User-mode networking from libslirp, with QEMU's addresses: the guest 10.0.2.15 (offered by DHCP), the
/// host and gateway 10.0.2.2 (which reaches the host's 127.0.0.1), DNS 10.0.2.3; no IPv6.
///
/// Everything runs on one event loop: libslirp's sockets wake the loop through one epoll descriptor kept in
/// step with the descriptors libslirp asks to watch, its timers are loop timers, and its clock is the host's
/// monotonic clock. Nothing of it is deterministic, which is why only live runs start one, and why what it
/// sends towards the guest (`deliver`) must become a logged input before the guest sees it.
public final class UserNetwork {
    public static let guestAddress = "10.0.2.15"
    public static let gatewayAddress = "10.0.2.2"
    public static let nameServerAddress = "10.0.2.3"

    public let options: UserNetworkOptions
    private let loop: EventLoop
    private let deliver: ([UInt8]) -> Void
    private let library: SlirpLibrary
    private var slirp: OpaquePointer?
    private let epoll: Int32
    private var watcher: ReadinessWatcher?
    private var wakeUp: LoopTimer?
    private var timers: [ObjectIdentifier: SlirpTimer] = [:]
    private var pollDescriptors: [pollfd] = []
    private var cycling = false
    private var cycleAgain = false

    /// Starts libslirp on `loop`; every frame it sends to the guest is passed to `deliver`. Throws (one line)
    /// when a forwarded host port cannot be listened on.
    public init(loop: EventLoop, options: UserNetworkOptions, deliver: @escaping ([UInt8]) -> Void) throws {
        self.loop = loop
        self.options = options
        self.deliver = deliver
        library = try SlirpLibrary.load()
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw NodeError("user network: epoll_create1: \(String(cString: strerror(errno)))") }

        var config = SlirpConfig()
        config.version = 4
        config.restricted = options.restricted ? 1 : 0
        config.in_enabled = true
        config.vnetwork = UserNetwork.address("10.0.2.0")
        config.vnetmask = UserNetwork.address("255.255.255.0")
        config.vhost = UserNetwork.address(UserNetwork.gatewayAddress)
        config.in6_enabled = false
        config.vdhcp_start = UserNetwork.address(UserNetwork.guestAddress)
        config.vnameserver = UserNetwork.address(UserNetwork.nameServerAddress)
        config.disable_host_loopback = false
        slirp = library.new(&config, UserNetwork.callbacks, Unmanaged.passUnretained(self).toOpaque())
        guard slirp != nil else {
            close(epoll)
            throw NodeError("user network: libslirp refused its configuration")
        }
        do {
            for forward in options.hostForwards {
                errno = 0
                let status = library.addHostForward(slirp, forward.udp ? 1 : 0, UserNetwork.address("127.0.0.1"),
                                               Int32(forward.hostPort), UserNetwork.address(UserNetwork.guestAddress),
                                               Int32(forward.guestPort))
                guard status >= 0 else {
                    let reason = errno == 0 ? "refused" : String(cString: strerror(errno))
                    throw NodeError("--net user: cannot forward \(forward.udp ? "udp" : "tcp") port \(forward.hostPort) "
                                    + "of 127.0.0.1 (\(reason)): is it in use?")
                }
            }
            watcher = try ReadinessWatcher(loop: loop, descriptor: epoll) { [unowned self] in self.cycle() }
        } catch {
            shutDown()
            throw error
        }
        wakeUp = LoopTimer(loop: loop)
        cycle()
    }

    deinit { shutDown() }

    /// A frame the guest sent.
    public func send(frame: [UInt8]) {
        guard let slirp else { return }
        frame.withUnsafeBufferPointer { library.input(slirp, $0.baseAddress, Int32($0.count)) }
        cycle()
    }

    /// Stops libslirp: its sockets close, its timers go, and nothing calls `deliver` any more.
    public func shutDown() {
        if let slirp {
            library.cleanup(slirp)
            self.slirp = nil
            close(epoll)
        }
        watcher?.close()
        watcher = nil
        wakeUp?.close()
        wakeUp = nil
        for timer in timers.values { timer.timer.close() }
        timers.removeAll()
    }

    // MARK: - Driving libslirp

    /// Lets libslirp serve whatever of its sockets is ready and its due timeouts, then watches the sockets
    /// it now cares about and wakes up again when it asks to.
    private func cycle() {
        guard let slirp else { return }
        guard !cycling else {
            cycleAgain = true
            return
        }
        cycling = true
        defer { cycling = false }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        var rounds = 0
        repeat {
            cycleAgain = false
            var timeout: UInt32 = 1000
            pollDescriptors.removeAll(keepingCapacity: true)
            library.pollfdsFill(slirp, &timeout, UserNetwork.addPoll, opaque)
            let ready = poll(&pollDescriptors, nfds_t(pollDescriptors.count), 0)
            library.pollfdsPoll(slirp, ready < 0 ? 1 : 0, UserNetwork.returnedEvents, opaque)
            rounds += 1
        } while cycleAgain && rounds < 16 && self.slirp != nil
        guard self.slirp != nil else { return }
        var timeout: UInt32 = 1000
        pollDescriptors.removeAll(keepingCapacity: true)
        library.pollfdsFill(slirp, &timeout, UserNetwork.addPoll, opaque)
        watchDescriptors()
        wakeUp?.start(milliseconds: UInt64(cycleAgain ? 0 : timeout)) { [unowned self] in self.cycle() }
    }

    /// A cycle soon, from the loop (libslirp asks from inside its own calls).
    private func requestCycle() {
        if cycling {
            cycleAgain = true
        } else {
            wakeUp?.start(milliseconds: 0) { [unowned self] in self.cycle() }
        }
    }

    /// Keeps the epoll set equal to the descriptors of the last fill. A descriptor number libslirp closed and
    /// reused is registered again (MOD fails with ENOENT, then ADD).
    private var watched: Set<Int32> = []
    private func watchDescriptors() {
        var wanted: [Int32: UInt32] = [:]
        for entry in pollDescriptors {
            var events = UInt32(EPOLLERR.rawValue | EPOLLHUP.rawValue)
            if entry.events & Int16(POLLIN) != 0 { events |= EPOLLIN.rawValue }
            if entry.events & Int16(POLLOUT) != 0 { events |= EPOLLOUT.rawValue }
            if entry.events & Int16(POLLPRI) != 0 { events |= EPOLLPRI.rawValue }
            wanted[entry.fd, default: 0] |= events
        }
        for descriptor in watched where wanted[descriptor] == nil {
            epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
        }
        for (descriptor, events) in wanted {
            var event = epoll_event()
            event.events = events
            event.data.fd = descriptor
            if epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event) != 0 && errno == ENOENT {
                epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
            }
        }
        watched = Set(wanted.keys)
    }

    private static func address(_ text: String) -> in_addr {
        var address = in_addr()
        let parsed = inet_pton(AF_INET, text, &address)
        precondition(parsed == 1, "\(text) is not an IPv4 address")
        return address
    }

    private static func network(_ opaque: UnsafeMutableRawPointer?) -> UserNetwork {
        Unmanaged<UserNetwork>.fromOpaque(opaque!).takeUnretainedValue()
    }

    private static let addPoll: SlirpAddPollCb = { descriptor, events, opaque in
        let network = UserNetwork.network(opaque)
        var wanted: Int16 = 0
        if events & Int32(SLIRP_POLL_IN) != 0 { wanted |= Int16(POLLIN) }
        if events & Int32(SLIRP_POLL_OUT) != 0 { wanted |= Int16(POLLOUT) }
        if events & Int32(SLIRP_POLL_PRI) != 0 { wanted |= Int16(POLLPRI) }
        network.pollDescriptors.append(pollfd(fd: descriptor, events: wanted, revents: 0))
        return Int32(network.pollDescriptors.count - 1)
    }

    private static let returnedEvents: SlirpGetREventsCb = { index, opaque in
        let network = UserNetwork.network(opaque)
        guard index >= 0, Int(index) < network.pollDescriptors.count else { return 0 }
        let returned = network.pollDescriptors[Int(index)].revents
        var events: Int32 = 0
        if returned & Int16(POLLIN) != 0 { events |= Int32(SLIRP_POLL_IN) }
        if returned & Int16(POLLOUT) != 0 { events |= Int32(SLIRP_POLL_OUT) }
        if returned & Int16(POLLPRI) != 0 { events |= Int32(SLIRP_POLL_PRI) }
        if returned & Int16(POLLERR) != 0 { events |= Int32(SLIRP_POLL_ERR) }
        if returned & Int16(POLLHUP) != 0 { events |= Int32(SLIRP_POLL_HUP) }
        return events
    }

    /// libslirp keeps the pointer: one table for every instance, never freed.
    private static let callbacks: UnsafeMutablePointer<SlirpCb> = {
        let table = UnsafeMutablePointer<SlirpCb>.allocate(capacity: 1)
        table.initialize(to: SlirpCb())
        table.pointee.send_packet = { buffer, length, opaque in
            guard let buffer else { return -1 }
            let network = UserNetwork.network(opaque)
            network.deliver([UInt8](UnsafeRawBufferPointer(start: buffer, count: length)))
            return length
        }
        table.pointee.guest_error = { message, _ in
            guard let message else { return }
            fputs("rrvm: user network: guest error: \(String(cString: message))\n", stderr)
        }
        table.pointee.clock_get_ns = { _ in Int64(clamping: EventLoop.monotonicNanoseconds()) }
        table.pointee.timer_new = { callback, callbackOpaque, opaque in
            let network = UserNetwork.network(opaque)
            let timer = SlirpTimer(loop: network.loop, callback: callback, opaque: callbackOpaque)
            network.timers[ObjectIdentifier(timer)] = timer
            return Unmanaged.passUnretained(timer).toOpaque()
        }
        table.pointee.timer_free = { pointer, opaque in
            guard let pointer else { return }
            let timer = Unmanaged<SlirpTimer>.fromOpaque(pointer).takeUnretainedValue()
            timer.timer.close()
            UserNetwork.network(opaque).timers[ObjectIdentifier(timer)] = nil
        }
        table.pointee.timer_mod = { pointer, expireMilliseconds, _ in
            guard let pointer else { return }
            let timer = Unmanaged<SlirpTimer>.fromOpaque(pointer).takeUnretainedValue()
            let now = Int64(clamping: EventLoop.monotonicNanoseconds() / 1_000_000)
            timer.timer.start(milliseconds: UInt64(max(0, expireMilliseconds - now))) { timer.fire() }
        }
        table.pointee.register_poll_fd = { _, _ in }
        table.pointee.unregister_poll_fd = { _, _ in }
        table.pointee.notify = { opaque in UserNetwork.network(opaque).requestCycle() }
        return table
    }()
}

/// One of libslirp's timers on the loop.
private final class SlirpTimer {
    let timer: LoopTimer
    let callback: SlirpTimerCb?
    let opaque: UnsafeMutableRawPointer?

    init(loop: EventLoop, callback: SlirpTimerCb?, opaque: UnsafeMutableRawPointer?) {
        timer = LoopTimer(loop: loop)
        self.callback = callback
        self.opaque = opaque
    }

    func fire() { callback?(opaque) }
}
