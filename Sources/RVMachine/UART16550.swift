import RVPlatform

/// An NS16550A UART with byte-wide registers (reg-shift 0), as QEMU's virt has it at 0x1000_0000.
///
/// The transmitter is infinitely fast: a THR write goes straight to `effects.console` and THR/TSR are
/// empty again at once, so LSR.THRE and LSR.TEMT always read 1. The THRE interrupt follows the 16550
/// (and what Linux's 8250 driver tests at startup): it is raised when THR becomes empty or when IER.ETBEI
/// goes from 0 to 1, and cleared by a THR write, by clearing ETBEI, or by reading IIR while IIR reports it.
///
/// Receive: host input queues and enters a 16-byte FIFO (1 byte with the FIFO off) as the guest drains it, so
/// nothing is lost; the queue is kept short by the sequencer, which delivers more only as the guest reads (its
/// answers carry `pendingInputCount`). With no time base for the 4-character timeout, the character
/// timeout interrupt (IIR 0xc) is reported at once while the FIFO holds fewer bytes than the trigger
/// level, the data-available interrupt (IIR 0x4) from the trigger level on.
///
/// MCR loopback routes THR into the receive FIFO (overrun sets LSR.OE) and MCR's outputs to MSR's inputs.
/// Outside loopback MSR reads DCD | DSR | CTS, as QEMU's. The interrupt line is not gated by MCR.OUT2.
/// Accesses of any size address the byte register at the offset (the value is its zero-extended byte);
/// offsets 8...0xff read 0 and ignore writes.
public final class UART16550: DeviceModel {
    // Register offsets.
    static let rbrThr: UInt64 = 0, ier: UInt64 = 1, iirFcr: UInt64 = 2, lcr: UInt64 = 3
    static let mcr: UInt64 = 4, lsr: UInt64 = 5, msr: UInt64 = 6, scr: UInt64 = 7

    // IER bits.
    static let ierReceivedData: UInt8 = 0x01, ierTransmitterEmpty: UInt8 = 0x02
    static let ierLineStatus: UInt8 = 0x04, ierModemStatus: UInt8 = 0x08
    // IIR values.
    static let iirNoInterrupt: UInt8 = 0x01, iirModemStatus: UInt8 = 0x00, iirTransmitterEmpty: UInt8 = 0x02
    static let iirReceivedData: UInt8 = 0x04, iirLineStatus: UInt8 = 0x06, iirCharacterTimeout: UInt8 = 0x0c
    static let iirFifosEnabled: UInt8 = 0xc0
    // LSR bits.
    static let lsrDataReady: UInt8 = 0x01, lsrOverrun: UInt8 = 0x02, lsrBreak: UInt8 = 0x10
    static let lsrTransmitterHoldingEmpty: UInt8 = 0x20, lsrTransmitterEmpty: UInt8 = 0x40
    // MCR and MSR bits.
    static let mcrLoopback: UInt8 = 0x10
    static let msrCTS: UInt8 = 0x10, msrDSR: UInt8 = 0x20, msrRI: UInt8 = 0x40, msrDCD: UInt8 = 0x80

    static let fifoSize = 16
    static let triggerLevels = [1, 4, 8, 14]

    public let name: String
    public let source: UInt32

    private var interruptEnable: UInt8 = 0
    private var lineControl: UInt8 = 0
    private var modemControl: UInt8 = 0
    private var scratch: UInt8 = 0
    private var divisor: UInt16 = 0
    private var fifoEnabled = false
    private var triggerLevel = 1
    private var transmitterEmptyInterrupt = false
    private var lineErrors: UInt8 = 0  // OE/BI until LSR is read
    private var modemStatusDelta: UInt8 = 0
    private var receiveFifo: [UInt8] = []
    private var hostInput: [UInt8] = []  // not yet in the FIFO; consumed from hostInputStart
    private var hostInputStart = 0
    private var lineLevel = false

    /// The input clock, in the device tree as QEMU writes it.
    static let clockFrequency: UInt32 = 3_686_400

    public init(source: UInt32 = DeviceRegistry.type(of: .uart).source, name: String = "uart") {
        self.name = name
        self.source = source
    }

    /// Host input not yet read by the guest (FIFO plus queue).
    public var pendingInputCount: Int { receiveFifo.count + hostInput.count - hostInputStart }

    /// Whether the UART currently asserts its PLIC source.
    public var interruptLevel: Bool { lineLevel }

    /// Queues host input (console bytes, stamped by the sequencer) behind anything not yet received.
    public func receive(_ bytes: [UInt8], clock: DeviceClock, effects: inout DeviceEffects) {
        hostInput.append(contentsOf: bytes)
        refillReceiveFifo()
        updateLine(&effects)
    }

    public func read(offset: UInt64, size: Int, clock: DeviceClock, effects: inout DeviceEffects) -> UInt64? {
        guard size >= 1 && size <= 8 else { return nil }
        let value: UInt8
        switch offset {
        case UART16550.rbrThr where divisorLatchAccess: value = UInt8(truncatingIfNeeded: divisor)
        case UART16550.rbrThr: value = readReceiveBuffer()
        case UART16550.ier where divisorLatchAccess: value = UInt8(truncatingIfNeeded: divisor >> 8)
        case UART16550.ier: value = interruptEnable
        case UART16550.iirFcr:
            value = interruptIdentification
            if value & 0x0f == UART16550.iirTransmitterEmpty { transmitterEmptyInterrupt = false }
        case UART16550.lcr: value = lineControl
        case UART16550.mcr: value = modemControl
        case UART16550.lsr:
            value = lineStatus
            lineErrors = 0
        case UART16550.msr:
            value = modemStatusInputs | modemStatusDelta
            modemStatusDelta = 0
        case UART16550.scr: value = scratch
        default: value = 0
        }
        updateLine(&effects)
        return UInt64(value)
    }

    public func write(offset: UInt64, size: Int, value: UInt64, clock: DeviceClock,
                      effects: inout DeviceEffects) -> Bool {
        guard size >= 1 && size <= 8 else { return false }
        let byte = UInt8(truncatingIfNeeded: value)
        switch offset {
        case UART16550.rbrThr where divisorLatchAccess: divisor = (divisor & 0xff00) | UInt16(byte)
        case UART16550.rbrThr: transmit(byte, effects: &effects)
        case UART16550.ier where divisorLatchAccess: divisor = (divisor & 0x00ff) | UInt16(byte) << 8
        case UART16550.ier: setInterruptEnable(byte & 0x0f)
        case UART16550.iirFcr: setFifoControl(byte)
        case UART16550.lcr: lineControl = byte
        case UART16550.mcr: setModemControl(byte & 0x1f)
        case UART16550.scr: scratch = byte
        default: break  // LSR and MSR are read-only
        }
        updateLine(&effects)
        return true
    }

    public func tick(clock: DeviceClock, effects: inout DeviceEffects) {}

    public func stateHash() -> UInt64 {
        var hasher = StateHasher()
        for register in [interruptEnable, lineControl, modemControl, scratch, lineErrors, modemStatusDelta] {
            hasher.combine(register)
        }
        hasher.combine(divisor)
        hasher.combine(fifoEnabled)
        hasher.combine(triggerLevel)
        hasher.combine(transmitterEmptyInterrupt)
        hasher.combine(lineLevel)
        hasher.combine(bytes: receiveFifo)
        hasher.combine(bytes: hostInput[hostInputStart...])
        return hasher.value
    }

    // MARK: - Checkpoints

    /// Everything the UART holds (host input not yet in the FIFO included).
    public struct State: Equatable {
        public var interruptEnable: UInt8 = 0
        public var lineControl: UInt8 = 0
        public var modemControl: UInt8 = 0
        public var scratch: UInt8 = 0
        public var divisor: UInt16 = 0
        public var fifoEnabled = false
        public var triggerLevel = 1
        public var transmitterEmptyInterrupt = false
        public var lineErrors: UInt8 = 0
        public var modemStatusDelta: UInt8 = 0
        public var receiveFifo: [UInt8] = []
        public var hostInput: [UInt8] = []
        public var lineLevel = false

        public init() {}
    }

    public func saveState() throws -> DeviceState {
        var state = State()
        state.interruptEnable = interruptEnable
        state.lineControl = lineControl
        state.modemControl = modemControl
        state.scratch = scratch
        state.divisor = divisor
        state.fifoEnabled = fifoEnabled
        state.triggerLevel = triggerLevel
        state.transmitterEmptyInterrupt = transmitterEmptyInterrupt
        state.lineErrors = lineErrors
        state.modemStatusDelta = modemStatusDelta
        state.receiveFifo = receiveFifo
        state.hostInput = Array(hostInput[hostInputStart...])
        state.lineLevel = lineLevel
        return .uart(state)
    }

    public func restoreState(_ saved: DeviceState) throws {
        guard case .uart(let state) = saved else { throw DeviceStateError.wrongKind(saved, into: name) }
        guard state.receiveFifo.count <= (state.fifoEnabled ? UART16550.fifoSize : 1),
              UART16550.triggerLevels.contains(state.triggerLevel),
              state.interruptEnable & 0xf0 == 0, state.modemControl & 0xe0 == 0 else {
            throw DeviceStateError("\(name): saved registers out of range")
        }
        interruptEnable = state.interruptEnable
        lineControl = state.lineControl
        modemControl = state.modemControl
        scratch = state.scratch
        divisor = state.divisor
        fifoEnabled = state.fifoEnabled
        triggerLevel = state.triggerLevel
        transmitterEmptyInterrupt = state.transmitterEmptyInterrupt
        lineErrors = state.lineErrors
        modemStatusDelta = state.modemStatusDelta
        receiveFifo = state.receiveFifo
        hostInput = state.hostInput
        hostInputStart = 0
        lineLevel = state.lineLevel
    }

    // MARK: - Registers

    private var divisorLatchAccess: Bool { lineControl & 0x80 != 0 }
    private var loopback: Bool { modemControl & UART16550.mcrLoopback != 0 }
    private var receiveCapacity: Int { fifoEnabled ? UART16550.fifoSize : 1 }

    private var interruptIdentification: UInt8 {
        let fifoBits = fifoEnabled ? UART16550.iirFifosEnabled : 0
        return fifoBits | pendingInterrupt
    }

    /// The highest-priority pending, enabled interrupt, in the 16550's order.
    private var pendingInterrupt: UInt8 {
        if interruptEnable & UART16550.ierLineStatus != 0 && lineErrors != 0 { return UART16550.iirLineStatus }
        if interruptEnable & UART16550.ierReceivedData != 0 && !receiveFifo.isEmpty {
            return fifoEnabled && receiveFifo.count < triggerLevel
                ? UART16550.iirCharacterTimeout : UART16550.iirReceivedData
        }
        if interruptEnable & UART16550.ierTransmitterEmpty != 0 && transmitterEmptyInterrupt {
            return UART16550.iirTransmitterEmpty
        }
        if interruptEnable & UART16550.ierModemStatus != 0 && modemStatusDelta != 0 { return UART16550.iirModemStatus }
        return UART16550.iirNoInterrupt
    }

    /// LSR, while no line error is latched (reading it clears errors): the console driver polls it
    /// before every character, so answering it without a round trip halves the cost of console output.
    /// Outside loopback a transmitted byte leaves at once, so writes to THR (or DLL) and SCR keep it; with
    /// the THRE interrupt off (and not pending) and DLAB clear, a THR write does nothing but output its byte.
    /// MSR too, while no modem status change is latched (reading it clears the deltas): Linux's 8250 interrupt
    /// handler reads it after LSR on every interrupt. Writes to THR and SCR never change it.
    public func stableReads() -> [StableRead] {
        guard lineErrors == 0 else { return [] }
        let outputOnly = !loopback && !divisorLatchAccess && !transmitterEmptyInterrupt
            && interruptEnable & UART16550.ierTransmitterEmpty == 0
        let kept = loopback ? [UART16550.scr] : [UART16550.rbrThr, UART16550.scr]
        var reads = [StableRead(offset: UART16550.lsr, size: 1, value: UInt64(lineStatus), keptByWritesTo: kept,
                                outputWritesTo: outputOnly ? [UART16550.rbrThr] : [])]
        if modemStatusDelta == 0 {
            reads.append(StableRead(offset: UART16550.msr, size: 1, value: UInt64(modemStatusInputs), keptByWritesTo: kept))
        }
        return reads
    }

    private var lineStatus: UInt8 {
        var status = UART16550.lsrTransmitterHoldingEmpty | UART16550.lsrTransmitterEmpty | lineErrors
        if !receiveFifo.isEmpty { status |= UART16550.lsrDataReady }
        return status
    }

    /// MSR's upper nibble: in loopback, DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD; otherwise a connected line.
    private var modemStatusInputs: UInt8 {
        guard loopback else { return UART16550.msrDCD | UART16550.msrDSR | UART16550.msrCTS }
        return Self.modemInputs(fromControl: modemControl)
    }

    private static func modemInputs(fromControl control: UInt8) -> UInt8 {
        var inputs: UInt8 = 0
        if control & 0x01 != 0 { inputs |= msrDSR }
        if control & 0x02 != 0 { inputs |= msrCTS }
        if control & 0x04 != 0 { inputs |= msrRI }
        if control & 0x08 != 0 { inputs |= msrDCD }
        return inputs
    }

    private func readReceiveBuffer() -> UInt8 {
        guard !receiveFifo.isEmpty else { return 0 }
        let byte = receiveFifo.removeFirst()
        refillReceiveFifo()
        return byte
    }

    private func transmit(_ byte: UInt8, effects: inout DeviceEffects) {
        if loopback {
            if receiveFifo.count < receiveCapacity {
                receiveFifo.append(byte)
            } else {
                lineErrors |= UART16550.lsrOverrun
            }
        } else {
            effects.console.append(byte)
        }
        // The byte left at once: THR is empty again, which is a new THRE event.
        transmitterEmptyInterrupt = interruptEnable & UART16550.ierTransmitterEmpty != 0
    }

    private func setInterruptEnable(_ value: UInt8) {
        let changed = interruptEnable ^ value
        interruptEnable = value
        // Enabling ETBEI with THR empty raises THRE even if an IIR read had cleared it (Linux relies on it).
        if changed & UART16550.ierTransmitterEmpty != 0 {
            transmitterEmptyInterrupt = value & UART16550.ierTransmitterEmpty != 0
        }
    }

    private func setFifoControl(_ value: UInt8) {
        let enable = value & 0x01 != 0
        if enable != fifoEnabled {
            fifoEnabled = enable
            receiveFifo.removeAll()
        }
        guard enable else {
            refillReceiveFifo()
            return
        }
        if value & 0x02 != 0 {
            receiveFifo.removeAll()
            lineErrors &= ~UART16550.lsrOverrun
        }
        // Bit 2 clears the transmit FIFO, which is always empty here.
        triggerLevel = UART16550.triggerLevels[Int(value >> 6)]
        refillReceiveFifo()
    }

    private func setModemControl(_ value: UInt8) {
        let before = modemStatusInputs
        modemControl = value
        let after = modemStatusInputs
        let changed = before ^ after
        if changed & UART16550.msrCTS != 0 { modemStatusDelta |= 0x01 }
        if changed & UART16550.msrDSR != 0 { modemStatusDelta |= 0x02 }
        if before & UART16550.msrRI != 0 && after & UART16550.msrRI == 0 { modemStatusDelta |= 0x04 }
        if changed & UART16550.msrDCD != 0 { modemStatusDelta |= 0x08 }
        refillReceiveFifo()
    }

    /// Moves queued host input into the FIFO; in loopback the line is disconnected from the host.
    private func refillReceiveFifo() {
        guard !loopback else { return }
        while receiveFifo.count < receiveCapacity && hostInputStart < hostInput.count {
            receiveFifo.append(hostInput[hostInputStart])
            hostInputStart += 1
        }
        if hostInputStart == hostInput.count {
            hostInput.removeAll(keepingCapacity: true)
            hostInputStart = 0
        } else if hostInputStart >= 4096 && hostInputStart >= hostInput.count / 2 {
            // Moving what is left only once half is read keeps a long queue (input from an old log) linear.
            hostInput.removeFirst(hostInputStart)
            hostInputStart = 0
        }
    }

    private func updateLine(_ effects: inout DeviceEffects) {
        let newLevel = pendingInterrupt != UART16550.iirNoInterrupt
        if newLevel != lineLevel {
            lineLevel = newLevel
            effects.sourceLevels.append((source, newLevel))
        }
    }
}
