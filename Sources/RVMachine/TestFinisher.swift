/// SiFive's test finisher (`sifive,test1`): one write-only register at offset 0. The low 16 bits select
/// the action (0x5555 pass, 0x3333 fail with the exit code in the high 16 bits, 0x7777 reset); any
/// other value is ignored. Reads return 0, which lets Linux's syscon-poweroff read-modify-write it.
public final class TestFinisher: DeviceModel {
    public let name: String
    public private(set) var lastExit: MachineExit?

    /// The values of the low 16 bits that power off (exit 0), fail (exit code in the high 16 bits), reset.
    static let powerOff: UInt32 = 0x5555, fail: UInt32 = 0x3333, reset: UInt32 = 0x7777

    public init(name: String = "finisher") { self.name = name }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        guard size == 2 || size == 4 else { return nil }
        return 0
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard size == 2 || size == 4 else { return false }
        guard offset == 0 else { return true }
        let exit: MachineExit?
        switch UInt32(value & 0xffff) {
        case TestFinisher.powerOff: exit = .powerOff(code: 0)
        case TestFinisher.fail: exit = .powerOff(code: Int32((value >> 16) & 0xffff))
        case TestFinisher.reset: exit = .reset
        default: exit = nil
        }
        if let exit {
            lastExit = exit
            effects.exit = exit
        }
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {}

    /// The last exit the guest asked for (it stays in the state hash).
    public struct State: Equatable {
        public var lastExit: MachineExit?
        public init(lastExit: MachineExit? = nil) { self.lastExit = lastExit }
    }

    public func saveState() throws -> DeviceState { .finisher(State(lastExit: lastExit)) }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .finisher(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        lastExit = state.lastExit
    }

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        switch lastExit {
        case nil: hasher.combine(0)
        case .powerOff(let code): hasher.combine(1); hasher.combine(code)
        case .reset: hasher.combine(2)
        }
        return hasher.value
    }
}
