#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto
import RVMachine
import RVPlatform

/// The device registry on the wire: the DeviceSpecs of a machine, filled from the registry's entries, and
/// the model a DeviceSpec names.
public enum DeviceCatalog {
    /// The specs of a machine's device processes, in the registry's order; `disk` backs the virtio-blk device,
    /// `net` (a --net option) tells the virtio-net device's process which backend to start.
    public static func specs(for machine: MachineDescription, disk: String? = nil, overlay: Bool = false,
                             net: String = "") -> [Rrvm_DeviceSpec] {
        machine.deviceTypes.map { type in
            .with {
                $0.kind = Rrvm_DeviceKind(type.kind)
                $0.base = type.base
                $0.size = type.size
                $0.irq = type.source
                $0.dma = type.dma
                $0.writesWait = type.writesWait
                if type.kind == .virtioBlock, let disk {
                    $0.path = disk
                    $0.overlay = overlay
                }
                if type.kind == .virtioNet {
                    $0.net = net
                    $0.mac = Data(VirtioNet.defaultMAC)
                }
            }
        }
    }

    /// Builds the model `spec` names; `memory` is guest RAM for a device with DMA.
    public static func make(spec: Rrvm_DeviceSpec, config: Rrvm_MachineConfig, memory: GuestMemory?) throws -> DeviceModel {
        guard let kind = spec.kind.platformKind else { throw DeviceError("unknown device kind \(spec.kind.rawValue) (a configuration from another version of rrvm?)") }
        let context = DeviceContext(
            harts: Int(config.harts), source: spec.irq, memory: memory, entropySeed: config.entropySeed,
            startWallTimeNs: UInt64(max(0, config.startWallTimeNs)), backingFile: spec.path, overlay: spec.overlay,
            macAddress: spec.mac.isEmpty ? VirtioNet.defaultMAC : [UInt8](spec.mac))
        return try DeviceRegistry.type(of: kind).make(context)
    }
}
