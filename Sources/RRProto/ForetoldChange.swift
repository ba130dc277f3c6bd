/// What the answer to a foretold write (DeviceAccess.foretold) holds besides the device's state hash, as the device's
/// declaration foretells it: the register the write sets holds the value written (masked), and the line the register
/// drives follows it, a timer compare always reported, another line only when its level changes; nothing else.
/// The sequencer applies it at the write's turn; the device runner holds its model's answer to it.
public enum ForetoldChange: Equatable {
    case none
    case timerCompare(hart: UInt32, mtimecmp: UInt64)
    case line(hart: UInt32, mipBit: UInt32, level: Bool)

    /// The change a write of `written` makes through `register`, as declared before the write.
    public init(writing written: UInt64, to register: DeclaredRegister) {
        let value = written & register.setByWriteMask
        if register.lineIsTimerCompare {
            self = .timerCompare(hart: register.lineHart, mtimecmp: value)
        } else if register.lineMipBit != 0 && (register.value != 0) != (value != 0) {
            self = .line(hart: register.lineHart, mipBit: register.lineMipBit, level: value != 0)
        } else {
            self = .none
        }
    }

    /// What `done` holds if it is a foretold write's answer (nil: it holds more, or more than one change), read field
    /// by field: building the foretold answer to compare with cost allocations on every foretold write.
    public init?(_ done: Rrvm_DeviceDone) {
        guard done.isEmptyApartFromStateHashAndHartChanges else { return nil }
        switch (done.hartLines.count, done.timerCompares.count) {
        case (0, 0):
            self = .none
        case (0, 1):
            let compare = done.timerCompares[0]
            guard compare.unknownFields.data.isEmpty else { return nil }
            self = .timerCompare(hart: compare.hart, mtimecmp: compare.mtimecmp)
        case (1, 0):
            let line = done.hartLines[0]
            guard line.unknownFields.data.isEmpty else { return nil }
            self = .line(hart: line.hart, mipBit: line.mipBit, level: line.level)
        default:
            return nil
        }
    }

    /// The answer foretold (its state hash left at 0).
    public var answer: Rrvm_DeviceDone {
        var answer = Rrvm_DeviceDone()
        switch self {
        case .none: break
        case .timerCompare(let hart, let mtimecmp):
            answer.timerCompares = [.with { $0.hart = hart; $0.mtimecmp = mtimecmp }]
        case .line(let hart, let mipBit, let level):
            answer.hartLines = [.with { $0.hart = hart; $0.mipBit = mipBit; $0.level = level }]
        }
        return answer
    }
}
