import RVPlatform

/// The goldfish RTC (`google,goldfish-rtc`), as Linux's rtc-goldfish drives it.
///
/// Time in ns = startWallTimeNs + offset + mtime * 1e9 / timebase, where the offset is what the guest
/// set. Reading TIME_LOW latches the high half for the following TIME_HIGH read. Writing either half of
/// TIME or ALARM replaces that half; writing ALARM_LOW arms the alarm (firing at once if the time has
/// passed). When the alarm fires, the interrupt becomes pending; the line is pending && IRQ_ENABLED.
/// The alarm is a wake-up request: `effects.wakeAt` carries the mtime at which it is due after every
/// call (nil when no alarm is armed).
public final class GoldfishRTC: DeviceModel {
    public enum Register: UInt64 {
        case timeLow = 0x00, timeHigh = 0x04, alarmLow = 0x08, alarmHigh = 0x0c
        case irqEnabled = 0x10, clearAlarm = 0x14, alarmStatus = 0x18, clearInterrupt = 0x1c
    }

    public let name: String
    public let source: UInt32
    private let startWallTimeNs: UInt64
    private let timebaseFrequency: UInt64
    private var offsetNs: UInt64 = 0  // two's complement: the guest may set the clock back
    private var latchedHigh: UInt32 = 0
    private var alarmNs: UInt64 = 0
    private var alarmArmed = false
    private var irqEnabled = false
    private var irqPending = false
    private var lineLevel = false

    public init(startWallTimeNs: UInt64, timebaseFrequency: UInt64 = Timebase.frequency, source: UInt32 = DeviceRegistry.type(of: .rtc).source,
                name: String = "rtc") {
        precondition(timebaseFrequency > 0)
        self.name = name
        self.source = source
        self.startWallTimeNs = startWallTimeNs
        self.timebaseFrequency = timebaseFrequency
    }

    /// The wall-clock time the guest reads at `mtime`, in ns.
    public func timeNs(mtime: UInt64) -> UInt64 { startWallTimeNs &+ offsetNs &+ elapsedNs(mtime: mtime) }

    /// The mtime at which the armed alarm is due, nil when none is armed.
    public var wakeMtime: UInt64? {
        guard alarmArmed else { return nil }
        let base = startWallTimeNs &+ offsetNs
        guard alarmNs > base else { return 0 }
        // The first tick whose time is >= the alarm: ceil(delta * timebase / 1e9).
        let delta = alarmNs - base
        let product = delta.multipliedFullWidth(by: timebaseFrequency)
        guard product.high < 1_000_000_000 else { return .max }
        let (quotient, remainder) = UInt64(1_000_000_000).dividingFullWidth(product)
        return remainder == 0 ? quotient : quotient &+ 1
    }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        guard size == 4, offset % 4 == 0 else { return nil }
        defer { effects.wakeAt = wakeMtime }
        switch Register(rawValue: offset) {
        case .timeLow:
            let now = timeNs(mtime: clock.mtime)
            latchedHigh = UInt32(truncatingIfNeeded: now >> 32)
            return now & 0xffff_ffff
        case .timeHigh: return UInt64(latchedHigh)
        case .alarmLow: return alarmNs & 0xffff_ffff
        case .alarmHigh: return alarmNs >> 32
        case .irqEnabled: return irqEnabled ? 1 : 0
        case .alarmStatus: return alarmArmed ? 1 : 0
        case .clearAlarm, .clearInterrupt, nil: return 0
        }
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard size == 4, offset % 4 == 0 else { return false }
        let value = value & 0xffff_ffff
        switch Register(rawValue: offset) {
        case .timeLow, .timeHigh:
            let now = timeNs(mtime: clock.mtime)
            let wanted = offset == Register.timeLow.rawValue
                ? (now & ~0xffff_ffff) | value : (now & 0xffff_ffff) | (value << 32)
            offsetNs = offsetNs &+ (wanted &- now)
        case .alarmHigh:
            alarmNs = (alarmNs & 0xffff_ffff) | (value << 32)
        case .alarmLow:
            alarmNs = (alarmNs & ~0xffff_ffff) | value
            alarmArmed = true
        case .irqEnabled:
            irqEnabled = value & 1 != 0
        case .clearAlarm:
            alarmArmed = false
        case .clearInterrupt:
            irqPending = false
        case .alarmStatus, nil:
            break
        }
        fireIfDue(clock: clock, effects: &effects)
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {
        fireIfDue(clock: clock, effects: &effects)
    }

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        hasher.combine(offsetNs)
        hasher.combine(latchedHigh)
        hasher.combine(alarmNs)
        hasher.combine(alarmArmed)
        hasher.combine(irqEnabled)
        hasher.combine(irqPending)
        return hasher.value
    }

    /// The guest's clock offset, the latched high half, the alarm and the interrupt state (the start time
    /// and the timebase are configuration).
    public struct State: Equatable {
        public var offsetNs: UInt64 = 0
        public var latchedHigh: UInt32 = 0
        public var alarmNs: UInt64 = 0
        public var alarmArmed = false
        public var irqEnabled = false
        public var irqPending = false
        public var lineLevel = false

        public init() {}
    }

    public func saveState() throws -> DeviceState {
        var state = State()
        state.offsetNs = offsetNs
        state.latchedHigh = latchedHigh
        state.alarmNs = alarmNs
        state.alarmArmed = alarmArmed
        state.irqEnabled = irqEnabled
        state.irqPending = irqPending
        state.lineLevel = lineLevel
        return .rtc(state)
    }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .rtc(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        offsetNs = state.offsetNs
        latchedHigh = state.latchedHigh
        alarmNs = state.alarmNs
        alarmArmed = state.alarmArmed
        irqEnabled = state.irqEnabled
        irqPending = state.irqPending
        lineLevel = state.lineLevel
    }

    private func elapsedNs(mtime: UInt64) -> UInt64 {
        let product = mtime.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < timebaseFrequency else { return .max }
        return timebaseFrequency.dividingFullWidth(product).quotient
    }

    private func fireIfDue(clock: DeviceClock, effects: inout DeviceEffects) {
        if alarmArmed && timeNs(mtime: clock.mtime) >= alarmNs {
            alarmArmed = false
            irqPending = true
        }
        let newLevel = irqPending && irqEnabled
        if newLevel != lineLevel {
            lineLevel = newLevel
            effects.sourceLevels.append((source, newLevel))
        }
        effects.wakeAt = wakeMtime
    }
}
