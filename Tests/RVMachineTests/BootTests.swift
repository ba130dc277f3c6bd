import Foundation
import RVMachine
import XCTest

let openSBIPath = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
/// QEMU, the reference the device tree is compared with (installed by cluster/test.sh; never used by rrvm itself).
let qemuPath = "/usr/bin/qemu-system-riscv64"

func fdtget(_ dtb: URL, _ arguments: [String]) throws -> [String] {
    let output = try runTool("/usr/bin/fdtget", [dtb.path] + arguments)
    return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
}

final class DeviceTreeTests: XCTestCase {
    let config = MachineDescription(
        harts: 4, ramSize: 256 << 20, bootargs: "console=ttyS0 root=/dev/vda", initrd: 0x8820_0000..<0x8830_0000,
        mmuType: "riscv,sv48", devices: MachineDescription.standardDevices.union([.virtioBlock, .virtioEntropy]), entropySeed: 9)

    func writeTree(_ config: MachineDescription) throws -> URL {
        let url = try temporaryDirectory(self).appendingPathComponent("rrvm.dtb")
        try Data(DeviceTree.build(config)).write(to: url)
        return url
    }

    func testDecompilesWithDtcAndHasTheMachinesNodes() throws {
        let dtb = try writeTree(config)
        let output = try runTool("/usr/bin/dtc", ["-I", "dtb", "-O", "dts", "-q", dtb.path])
        let source = String(decoding: output, as: UTF8.self)
        XCTAssertTrue(source.contains("riscv,isa = \"rv64imafdc_zicsr_zifencei_zihintpause_sstc\";"), source)
        XCTAssertEqual(try fdtget(dtb, ["-l", "/cpus"]), ["cpu@0", "cpu@1", "cpu@2", "cpu@3", "cpu-map"])
        XCTAssertEqual(try fdtget(dtb, ["-l", "/cpus/cpu-map/cluster0"]), ["core0", "core1", "core2", "core3"])
        XCTAssertEqual(try fdtget(dtb, ["-l", "/soc"]), [
            "rtc@101000", "serial@10000000", "test@100000", "virtio_mmio@10001000", "virtio_mmio@10002000",
            "plic@c000000", "clint@2000000",
        ])
        XCTAssertEqual(try fdtget(dtb, ["/cpus/cpu@2", "mmu-type"]), ["riscv,sv48"])
        XCTAssertEqual(try fdtget(dtb, ["/cpus", "timebase-frequency"]), ["10000000"])
        XCTAssertEqual(try fdtget(dtb, ["-t", "x", "/memory@80000000", "reg"]), ["0 80000000 0 10000000"])
        XCTAssertEqual(try fdtget(dtb, ["/chosen", "bootargs"]), ["console=ttyS0 root=/dev/vda"])
        XCTAssertEqual(try fdtget(dtb, ["/chosen", "stdout-path"]), ["/soc/serial@10000000"])
        XCTAssertEqual(try fdtget(dtb, ["-t", "x", "/chosen", "linux,initrd-start"]), ["0 88200000"])
        XCTAssertEqual(try fdtget(dtb, ["-t", "x", "/chosen", "linux,initrd-end"]), ["0 88300000"])
        XCTAssertEqual(try fdtget(dtb, ["/soc/virtio_mmio@10002000", "interrupts"]), ["2"])
        XCTAssertEqual(try fdtget(dtb, ["/soc/serial@10000000", "clock-frequency"]), ["3686400"])
        XCTAssertEqual(try fdtget(dtb, ["/soc/plic@c000000", "riscv,ndev"]), ["96"])
        XCTAssertEqual(try fdtget(dtb, ["/poweroff", "value"]), ["21845"])
        // interrupts-extended: <intc 11 intc 9> per hart for the PLIC, <intc 3 intc 7> for the CLINT.
        let intc = try (0..<4).map { try fdtget(dtb, ["/cpus/cpu@\($0)/interrupt-controller", "phandle"])[0] }
        XCTAssertEqual(try fdtget(dtb, ["/soc/plic@c000000", "interrupts-extended"]),
                       [intc.map { "\($0) 11 \($0) 9" }.joined(separator: " ")])
        XCTAssertEqual(try fdtget(dtb, ["/soc/clint@2000000", "interrupts-extended"]),
                       [intc.map { "\($0) 3 \($0) 7" }.joined(separator: " ")])
        let plicPhandle = try fdtget(dtb, ["/soc/plic@c000000", "phandle"])
        XCTAssertEqual(try fdtget(dtb, ["/soc/serial@10000000", "interrupt-parent"]), plicPhandle)
        XCTAssertEqual(try fdtget(dtb, ["/reboot", "regmap"]), try fdtget(dtb, ["/soc/test@100000", "phandle"]))
    }

    /// Every node and property rrvm emits exists in QEMU's own tree for the same machine, with the same
    /// values (phandle numbers and the random seed aside).
    func testMatchesQEMUsVirtTree() throws {
        let directory = try temporaryDirectory(self)
        let qemuTree = directory.appendingPathComponent("qemu.dtb")
        let kernel = directory.appendingPathComponent("kernel.bin")
        try Data([0x6f, 0, 0, 0]).write(to: kernel)
        try runTool(qemuPath, [
            "-M", "virt,dumpdtb=\(qemuTree.path)", "-smp", "4", "-m", "256M",
            "-bios", "none", "-kernel", kernel.path, "-append", config.bootargs, "-nographic",
        ])
        var withoutInitrd = config
        withoutInitrd.initrd = nil
        let ours = try writeTree(withoutInitrd)
        let skipped: Set<String> = ["phandle", "interrupt-parent", "regmap", "cpu", "interrupts-extended", "rng-seed",
                                    "model", "riscv,isa"]
        let mine = try decompile(ours), theirs = try decompile(qemuTree)
        XCTAssertGreaterThan(mine.count, 20)
        for (path, properties) in mine {
            guard let qemuProperties = theirs[path] else {
                XCTFail("QEMU has no node \(path)")
                continue
            }
            for (name, value) in properties where !skipped.contains(name) {
                XCTAssertEqual(value, qemuProperties[name], "\(path) \(name)")
            }
        }
    }

    /// The nodes of a tree as dtc prints them: path -> property name -> value text.
    func decompile(_ dtb: URL) throws -> [String: [String: String]] {
        let output = try runTool("/usr/bin/dtc", ["-I", "dtb", "-O", "dts", "-q", dtb.path])
        let source = String(decoding: output, as: UTF8.self)
        var nodes: [String: [String: String]] = [:]
        var path: [String] = []
        for rawLine in source.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("{") {
                let name = line.dropLast().trimmingCharacters(in: .whitespaces)
                path.append(name == "/" ? "" : name)
                nodes["/" + path.dropFirst().joined(separator: "/"), default: [:]] = [:]
            } else if line == "};" {
                path.removeLast()
            } else if line.hasSuffix(";"), !path.isEmpty {
                let body = line.dropLast()
                let parts = body.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                let node = "/" + path.dropFirst().joined(separator: "/")
                nodes[node, default: [:]][parts[0]] = parts.count > 1 ? parts[1] : ""
            }
        }
        return nodes
    }

    func testDevicesLeftOutAreNotInTheTree() throws {
        let minimal = MachineDescription(harts: 1, devices: [.uart, .clint, .plic, .virtioEntropy])
        let dtb = try writeTree(minimal)
        XCTAssertEqual(try fdtget(dtb, ["-l", "/soc"]),
                       ["serial@10000000", "virtio_mmio@10002000", "plic@c000000", "clint@2000000"])
        XCTAssertEqual(try fdtget(dtb, ["-l", "/"]), ["chosen", "memory@80000000", "cpus", "soc"])
    }

    /// OpenSBI's generic platform reads this tree and reports the machine it describes; a tiny S-mode
    /// payload at 0x8020_0000 then powers off through the finisher.
    func testOpenSBIBootsFourHartsWithThisTree() throws {
        guard FileManager.default.fileExists(atPath: openSBIPath) else { throw XCTSkip("opensbi is not installed") }
        // Run under timeout(1), which runTool's own check for a missing tool does not see through.
        guard FileManager.default.isExecutableFile(atPath: qemuPath) else { throw XCTSkip("\(qemuPath) is not installed") }
        let directory = try temporaryDirectory(self)
        let dtb = try writeTree(config)
        let source = directory.appendingPathComponent("payload.S")
        try """
        .globl _start
        _start:
          li t0, 0x100000
          li t1, 0x5555
          sw t1, 0(t0)
        1: j 1b
        """.write(to: source, atomically: true, encoding: .utf8)
        let elf = directory.appendingPathComponent("payload.elf")
        let payload = directory.appendingPathComponent("payload.bin")
        try runTool("/usr/bin/riscv64-unknown-elf-gcc",
                    ["-nostdlib", "-Wl,-Ttext=0x80200000", "-o", elf.path, source.path])
        try runTool("/usr/bin/riscv64-unknown-elf-objcopy", ["-O", "binary", elf.path, payload.path])
        let output = String(decoding: try runTool("/usr/bin/timeout", [
            "30", qemuPath, "-M", "virt", "-smp", "4", "-m", "256M", "-nographic",
            "-bios", openSBIPath, "-kernel", payload.path, "-dtb", dtb.path,
        ]), as: UTF8.self)
        XCTAssertTrue(output.contains("Platform Name             : riscv-virtio,rrvm"), output)
        XCTAssertTrue(output.contains("Platform HART Count       : 4"), output)
        XCTAssertTrue(output.contains("Platform Console Device   : uart8250"), output)
        XCTAssertTrue(output.contains("Platform Shutdown Device  : sifive_test"), output)
        XCTAssertTrue(output.contains("aclint-mtimer @ 10000000Hz"), output)
    }
}

final class BootROMTests: XCTestCase {
    func testDisassemblesToTheResetVector() throws {
        let rom = BootROM.build(entry: 0x8000_0000, fdtAddress: 0x8fe0_0000)
        XCTAssertEqual(rom.count, 40)
        XCTAssertEqual(Array(rom[24..<32]), [0, 0, 0, 0x80, 0, 0, 0, 0])
        XCTAssertEqual(Array(rom[32..<40]), [0, 0, 0xe0, 0x8f, 0, 0, 0, 0])
        let url = try temporaryDirectory(self).appendingPathComponent("rom.bin")
        try Data(rom.prefix(24)).write(to: url)
        let listing = String(decoding: try runTool("/usr/bin/riscv64-unknown-elf-objdump", [
            "-D", "-b", "binary", "-m", "riscv:rv64", "-M", "no-aliases", url.path,
        ]), as: UTF8.self)
        let instructions = listing.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: "\t")
            guard fields.count >= 3 else { return nil }
            let text = fields[2...].joined(separator: " ")
            return String(text.split(separator: "#")[0]).trimmingCharacters(in: .whitespaces)
        }
        XCTAssertEqual(instructions, [
            "auipc t0,0x0", "csrrs a0,mhartid,zero", "ld a1,32(t0)", "ld t0,24(t0)", "addi a2,zero,0",
            "jalr zero,0(t0)",
        ])
    }
}

final class ImageLoaderTests: XCTestCase {
    func fakeLinuxImage(size: Int = 8192) -> [UInt8] { makeFakeLinuxImage(size: size) }

    func openSBI() throws -> BootImage {
        guard FileManager.default.fileExists(atPath: openSBIPath) else { throw XCTSkip("opensbi is not installed") }
        return try BootImage.read(path: openSBIPath)
    }

    func testFirmwareKernelAndInitrdWhereQEMUPutsThem() throws {
        let firmware = try openSBI()
        let kernel = BootImage(path: "Image", bytes: fakeLinuxImage())
        let initrd = BootImage(path: "initrd.cpio", bytes: (0..<5000).map { UInt8(truncatingIfNeeded: $0) })
        let config = MachineDescription(harts: 4, ramSize: 256 << 20, bootargs: "console=ttyS0")
        let plan = try ImageLoader.plan(config: config, firmware: firmware, kernel: kernel, initrd: initrd)
        XCTAssertEqual(plan.entry, 0x8000_0000)
        XCTAssertEqual(plan.kernelEntry, 0x8020_0000)
        XCTAssertEqual(plan.initrd, 0x8820_0000..<(0x8820_0000 + 5000), "kernel + 128 MiB, as QEMU")
        XCTAssertEqual(plan.fdtAddress, 0x8fe0_0000, "the last 2 MiB boundary where the tree fits")
        XCTAssertEqual(plan.config.initrd, plan.initrd)
        XCTAssertEqual(plan.bootROM, BootROM.build(entry: 0x8000_0000, fdtAddress: 0x8fe0_0000))

        let ram = FakeRAM(size: 256 << 20)
        try plan.load(into: ram.memory)
        XCTAssertEqual(ram.memory.read(0x8000_0000, count: firmware.bytes.count), firmware.bytes)
        XCTAssertEqual(ram.memory.read(0x8020_0000, count: kernel.bytes.count), kernel.bytes)
        XCTAssertEqual(ram.memory.read(0x8820_0000, count: 5000), initrd.bytes)
        XCTAssertEqual(ram.memory.read(0x8fe0_0000, count: plan.deviceTree.count), plan.deviceTree)
        let dtb = try temporaryDirectory(self).appendingPathComponent("loaded.dtb")
        try Data(ram.memory.read(0x8fe0_0000, count: plan.deviceTree.count)!).write(to: dtb)
        XCTAssertEqual(try fdtget(dtb, ["-t", "x", "/chosen", "linux,initrd-start"]), ["0 88200000"])
        XCTAssertEqual(try fdtget(dtb, ["-t", "x", "/chosen", "linux,initrd-end"]), ["0 88201388"])
    }

    func testElfFirmwareIsLoadedByPhysicalAddress() throws {
        let path = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("opensbi is not installed") }
        let plan = try ImageLoader.plan(config: MachineDescription(), firmwarePath: path, kernelPath: nil, initrdPath: nil)
        XCTAssertEqual(plan.entry, 0x8000_0000)
        XCTAssertNil(plan.kernelEntry)
        let firmware = try XCTUnwrap(plan.regions.first { $0.name.contains("fw_jump.elf") })
        XCTAssertEqual(firmware.address, 0x8000_0000)
        XCTAssertGreaterThan(firmware.size, UInt64(firmware.data.count), "the segment's .bss is part of the region")
        let raw = try BootImage.read(path: openSBIPath)
        XCTAssertEqual(Array(firmware.data.prefix(4096)), Array(raw.bytes.prefix(4096)), "same code as fw_jump.bin")
    }

    func testLargeInitrdGoesBelowTheDeviceTree() throws {
        let config = MachineDescription(ramSize: 64 << 20)
        let initrd = BootImage(path: "big.cpio", bytes: [UInt8](repeating: 1, count: 40 << 20))
        let kernel = BootImage(path: "Image", bytes: fakeLinuxImage())
        let plan = try ImageLoader.plan(config: config, firmware: nil, kernel: kernel, initrd: initrd)
        XCTAssertEqual(plan.kernelEntry, 0x8000_0000, "-bios none: a raw kernel at the RAM base")
        XCTAssertEqual(plan.fdtAddress, 0x83e0_0000)
        XCTAssertEqual(plan.initrd, (0x83e0_0000 - (40 << 20))..<0x83e0_0000)
        let tooBig = BootImage(path: "huge.cpio", bytes: [UInt8](repeating: 1, count: 63 << 20))
        XCTAssertThrowsError(try ImageLoader.plan(config: config, firmware: nil, kernel: kernel, initrd: tooBig)) {
            XCTAssertTrue("\($0)".contains("huge.cpio"), "\($0)")
        }
    }

    /// fw_jump copies the device tree to 0x8220_0000 before it starts Linux: with 64 MiB of RAM that is where QEMU's
    /// rule (kernel + RAM / 2) puts the initrd, which the copy overwrote (init crashed); below 36 MiB the copy went
    /// outside RAM and the machine hung without a word.
    func testTheDeviceTreeCopyOfFwJumpIsKeptClear() throws {
        let firmware = try openSBI()
        let kernel = BootImage(path: "Image", bytes: fakeLinuxImage())
        let initrd = BootImage(path: "initrd.cpio", bytes: [UInt8](repeating: 7, count: 5000))
        let config = MachineDescription(ramSize: 64 << 20)
        let plan = try ImageLoader.plan(config: config, firmware: firmware, kernel: kernel, initrd: initrd)
        let copy = try XCTUnwrap(ImageLoader.deviceTreeCopy(firmware: firmware))
        XCTAssertEqual(copy.lowerBound, 0x8220_0000)
        let placed = try XCTUnwrap(plan.initrd)
        XCTAssertFalse(placed.overlaps(copy), "initrd at \(placed)")
        XCTAssertTrue(placed.upperBound <= plan.fdtAddress && plan.fdtAddress - placed.upperBound < 4096,
                      "just below the device tree instead: \(placed), tree at \(plan.fdtAddress)")
        XCTAssertFalse(plan.regions.contains { $0.range.overlaps(copy) })

        // Another firmware keeps QEMU's place, and so does fw_jump where the copy is not in the way.
        let other = BootImage(path: "/boot/my-firmware.bin", bytes: firmware.bytes)
        XCTAssertNil(ImageLoader.deviceTreeCopy(firmware: other))
        XCTAssertEqual(try ImageLoader.plan(config: config, firmware: other, kernel: kernel, initrd: initrd).initrd?.lowerBound,
                       0x8220_0000)
        XCTAssertEqual(try ImageLoader.plan(config: MachineDescription(ramSize: 256 << 20), firmware: firmware,
                                            kernel: kernel, initrd: initrd).initrd?.lowerBound, 0x8820_0000)

        for small: UInt64 in [16, 32, 36] {
            XCTAssertThrowsError(try ImageLoader.plan(config: MachineDescription(ramSize: small << 20), firmware: firmware,
                                                      kernel: kernel, initrd: nil), "\(small) MiB") {
                XCTAssertTrue("\($0)".contains("fw_jump.bin") && "\($0)".contains("more RAM"), "\($0)")
            }
        }
        let bigKernel = BootImage(path: "Big", bytes: fakeLinuxImage(size: 33 << 20))
        XCTAssertThrowsError(try ImageLoader.plan(config: MachineDescription(ramSize: 128 << 20), firmware: firmware,
                                                  kernel: bigKernel, initrd: nil)) {
            XCTAssertTrue("\($0)".contains("kernel Big overlaps 0x82200000"), "\($0)")
        }
    }

    func testBareElfIsTheEntryAndBssIsZeroed() throws {
        let directory = try temporaryDirectory(self)
        let source = directory.appendingPathComponent("bare.S")
        try """
        .option norvc
        .section .text
        .globl _start
        _start: j _start
        .section .data
        .dword 0x1122334455667788
        .section .bss
        .space 256
        """.write(to: source, atomically: true, encoding: .utf8)
        let elfURL = directory.appendingPathComponent("bare.elf")
        try runTool("/usr/bin/riscv64-unknown-elf-gcc", [
            "-nostdlib", "-Wl,-Ttext=0x80000000", "-Wl,-Tdata=0x80001000", "-Wl,--no-relax", "-Wl,-z,noseparate-code",
            "-Wl,--build-id=none", "-Wl,-N", "-o", elfURL.path, source.path,
        ])
        let elf = try BootImage.read(path: elfURL.path)
        let plan = try ImageLoader.plan(config: MachineDescription(), firmware: nil, kernel: elf, initrd: nil)
        XCTAssertEqual(plan.entry, 0x8000_0000)
        let ram = FakeRAM(size: 128 << 20)
        ram.memory.fill(0x8000_0000, count: 0x4000, with: 0xee)
        try plan.load(into: ram.memory)
        XCTAssertEqual(ram.memory.load(UInt64.self, at: 0x8000_1000), 0x1122_3344_5566_7788)
        XCTAssertEqual(ram.memory.read(0x8000_1008, count: 256), [UInt8](repeating: 0, count: 256), ".bss zeroed")
        XCTAssertEqual(ram.memory.load(UInt32.self, at: 0x8000_0000), 0x0000_006f, "j _start")
    }

    func testAnImageIsReadWholeFromAPipeAndADirectoryIsAClearError() throws {
        let directory = try temporaryDirectory(self)
        XCTAssertThrowsError(try BootImage.read(path: directory.path)) { error in
            XCTAssertEqual("\(error)", "cannot read \(directory.path): Is a directory")
        }
        // A pipe has no size to read up to, and its writer's pieces come one at a time: all of them must arrive,
        // past the reader's 64 KiB chunks.
        let fifo = directory.appendingPathComponent("image.fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let expected = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let written = expectation(description: "the writer is done")
        DispatchQueue.global().async {
            let descriptor = open(fifo, O_WRONLY)
            for start in stride(from: 0, to: expected.count, by: 7_001) {
                let piece = Array(expected[start..<min(start + 7_001, expected.count)])
                _ = piece.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
            }
            close(descriptor)
            written.fulfill()
        }
        XCTAssertEqual(try BootImage.read(path: fifo).bytes, expected)
        wait(for: [written], timeout: 10)
    }

    func testRefusesWhatIsNotARISCVImageNamingThePath() throws {
        let directory = try temporaryDirectory(self)
        let text = directory.appendingPathComponent("notes.txt")
        try "This is not firmware at all, just some text that was passed by mistake.\n"
            .write(to: text, atomically: true, encoding: .utf8)
        let empty = directory.appendingPathComponent("empty.bin")
        try Data().write(to: empty)
        let gzip = directory.appendingPathComponent("Image.gz")
        try Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).write(to: gzip)
        var cases = [(text.path, "text"), (empty.path, "empty"), (gzip.path, "gzip"),
                     ("/nonexistent/fw.bin", "cannot open")]
        if FileManager.default.fileExists(atPath: "/bin/true") { cases.append(("/bin/true", "machine 62")) }
        for (path, reason) in cases {
            XCTAssertThrowsError(try ImageLoader.plan(config: MachineDescription(), firmwarePath: path, kernelPath: nil,
                                                      initrdPath: nil)) { error in
                XCTAssertTrue("\(error)".contains(path), "\(error)")
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
    }

    func testRefusesImagesOutsideRAMOrOverlapping() throws {
        let config = MachineDescription(ramSize: 16 << 20)
        let big = BootImage(path: "big.bin", bytes: fakeLinuxImage(size: 17 << 20))
        XCTAssertThrowsError(try ImageLoader.plan(config: config, firmware: nil, kernel: big, initrd: nil)) {
            XCTAssertTrue("\($0)".contains("big.bin") && "\($0)".contains("outside RAM"), "\($0)")
        }
        // A 3 MiB firmware pushes the kernel to 0x8040_0000; an ELF kernel at 0x8010_0000 overlaps it.
        let firmware = BootImage(path: "fw.bin", bytes: fakeLinuxImage(size: 3 << 20))
        let elfKernel = BootImage(path: "k.elf", bytes: try minimalElf(at: 0x8010_0000))
        XCTAssertThrowsError(try ImageLoader.plan(config: config, firmware: firmware, kernel: elfKernel, initrd: nil)) {
            XCTAssertTrue("\($0)".contains("overlaps"), "\($0)")
        }
        XCTAssertThrowsError(try ImageLoader.plan(config: config, firmware: nil, kernel: nil, initrd: nil))
        XCTAssertThrowsError(try ImageLoader.plan(config: config, firmware: firmware, kernel: nil,
                                                  initrd: BootImage(path: "i.cpio", bytes: [1]))) {
            XCTAssertTrue("\($0)".contains("needs a kernel"), "\($0)")
        }
    }

    /// An ELF64 RISC-V executable with one 16-byte PT_LOAD segment at `address`, built by hand.
    func minimalElf(at address: UInt64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64 + 56 + 16)
        func put(_ value: UInt64, at offset: Int, size: Int) {
            for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        bytes.replaceSubrange(0..<7, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])
        put(2, at: 16, size: 2); put(243, at: 18, size: 2); put(1, at: 20, size: 4)
        put(address, at: 24, size: 8); put(64, at: 32, size: 8); put(64, at: 52, size: 2)
        put(56, at: 54, size: 2); put(1, at: 56, size: 2)
        put(1, at: 64, size: 4); put(120, at: 64 + 8, size: 8); put(address, at: 64 + 16, size: 8)
        put(address, at: 64 + 24, size: 8); put(16, at: 64 + 32, size: 8); put(16, at: 64 + 40, size: 8)
        _ = try ElfImage(bytes: bytes)
        return bytes
    }
}

/// A RISC-V Linux Image header (code0 c.li s4,-13 "MZ", code1 j, ..., magic2 "RSC\x05" at 56) and a body.
func makeFakeLinuxImage(size: Int = 8192) -> [UInt8] {
    var image = [UInt8](repeating: 0x13, count: size)
    image.replaceSubrange(0..<4, with: [0x4d, 0x5a, 0x6f, 0x00])
    image.replaceSubrange(48..<56, with: Array("RISCV\0\0\0".utf8))
    image.replaceSubrange(56..<60, with: [0x52, 0x53, 0x43, 0x05])
    return image
}

final class RISCVImageCheckTests: XCTestCase {
    func testAcceptsOpenSBIAndLinuxImages() throws {
        guard FileManager.default.fileExists(atPath: openSBIPath) else { throw XCTSkip("opensbi is not installed") }
        XCTAssertNil(RISCVImageCheck.problem(withRawImage: try BootImage.read(path: openSBIPath).bytes))
        XCTAssertNil(RISCVImageCheck.problem(withRawImage: makeFakeLinuxImage()))
    }

    func testRefusesDataThatIsNotCode() {
        XCTAssertNotNil(RISCVImageCheck.problem(withRawImage: [UInt8](repeating: 0, count: 4096)))
        XCTAssertNotNil(RISCVImageCheck.problem(withRawImage: [UInt8](repeating: 0xff, count: 4096)))
        let deviceTree: [UInt8] = [0xd0, 0x0d, 0xfe, 0xed] + [UInt8](repeating: 0, count: 60)
        XCTAssertNotNil(RISCVImageCheck.problem(withRawImage: deviceTree))
        XCTAssertNotNil(RISCVImageCheck.problem(withRawImage: Array("070701000000".utf8)))
        let png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d] + Array("IHDR".utf8)
            + [0, 0, 1, 0, 0, 0, 1, 0, 8, 6, 0, 0, 0]
        XCTAssertNotNil(RISCVImageCheck.problem(withRawImage: png))
        var random = DeterministicRandom(seed: 3)
        var accepted = 0
        for _ in 0..<1000 {
            let blob = (0..<256).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if RISCVImageCheck.problem(withRawImage: blob) == nil { accepted += 1 }
        }
        XCTAssertLessThan(accepted, 10, "random bytes rarely decode as 64 bytes of valid instructions")
    }
}
