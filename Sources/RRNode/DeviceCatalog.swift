import Foundation
import RRBus
import RRProto
import RVMachine

/// Builds the device model a DeviceSpec names.
enum DeviceCatalog {
    static func make(spec: Rrvm_DeviceSpec, config: Rrvm_MachineConfig, memory: GuestMemory?) throws -> DeviceModel {
        let harts = Int(config.harts)
        switch spec.kind {
        case "uart": return UART16550(source: spec.irq)
        case "plic": return PLIC(harts: harts)
        case "clint": return CLINT(harts: harts)
        case "finisher": return TestFinisher()
        case "rtc": return GoldfishRTC(startWallTimeNs: UInt64(max(0, config.startWallTimeNs)))
        case "virtio-blk":
            guard let memory else { throw NodeError("virtio-blk needs guest RAM (dma)") }
            let disk = try DiskImage(path: spec.path, mode: spec.overlay ? .overlay : .readWrite)
            return VirtioMMIO(backend: VirtioBlock(disk: disk), memory: memory, source: spec.irq, name: "virtio-blk")
        case "virtio-rng":
            guard let memory else { throw NodeError("virtio-rng needs guest RAM (dma)") }
            return VirtioMMIO(backend: VirtioRNG(seed: config.entropySeed), memory: memory, source: spec.irq,
                              name: "virtio-rng")
        default:
            throw NodeError("unknown device kind '\(spec.kind)'")
        }
    }
}
