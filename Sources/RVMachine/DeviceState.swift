/// A device model's state as a plain value: what a checkpoint keeps of a device process.
///
/// Each model declares its own `State` next to the fields it mirrors (so that they stay private to the
/// model and a new field is visible in the same file), and this enum gathers them so that a device process
/// can save and restore whatever model it runs. RVMachine knows nothing of protobuf: the mapping to the
/// checkpoint messages of proto/rrvm.proto lives in one place, RRCheckpoint. Configuration (a device's
/// base address, its interrupt source, the machine's hart count, the entropy seed, the disk image file) is
/// not state: a model is rebuilt from its configuration, then its state is restored into it.
public enum DeviceState: Equatable {
    case uart(UART16550.State)
    case plic(PLIC.State)
    case clint(CLINT.State)
    case rtc(GoldfishRTC.State)
    case finisher(TestFinisher.State)
    case virtio(VirtioMMIO.State)

    /// The kind as device specs name it ("uart", "virtio"...), for messages.
    public var kind: String {
        switch self {
        case .uart: return "uart"
        case .plic: return "plic"
        case .clint: return "clint"
        case .rtc: return "rtc"
        case .finisher: return "finisher"
        case .virtio: return "virtio"
        }
    }
}

/// A state that cannot be saved or does not fit the model it is restored into.
public struct DeviceStateError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func wrongKind(_ state: DeviceState, into name: String) -> DeviceStateError {
        DeviceStateError("a \(state.kind) state cannot be restored into \(name)")
    }
}
