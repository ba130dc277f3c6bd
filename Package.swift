// swift-tools-version:6.1
import Foundation
import PackageDescription

// Every process of a cluster is single-threaded around its own event loop, so the Swift 5 language
// mode is used: strict Sendable checking would add annotations without catching anything real here.
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]
// The modules every bus message passes through, several times per slice hand-over and per device access:
// without the run-time exclusivity checks (swift_beginAccess, about a tenth of the sequencer's own time on
// the bus benchmark), as in RVHart. The compiler still rejects the static violations.
let messagePath: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "rrvm",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rrctl", targets: ["rrctl"]),
        .executable(name: "rrvm-sequencer", targets: ["rrvm-sequencer"]),
        .executable(name: "rrvm-hart", targets: ["rrvm-hart"]),
        .executable(name: "rrvm-device", targets: ["rrvm-device"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Without the BinaryDelimitedStreams trait (Foundation's streams, unused here): no module the cluster's
        // processes link imports Foundation itself, only FoundationEssentials, so Foundation's internationalisation
        // layer (ICU and its 34 MB of data) stays out of them and each process starts in less time.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.30.0", traits: ["FieldMaskUtilities"]),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
    ],
    targets: [
        // libuv from Debian's libuv1-dev; only RRBus imports it.
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        // libslirp from Debian's libslirp-dev (user-mode networking); only RRNet imports it. Not through
        // pkg-config: slirp.pc requires glib-2.0's development files, which its header does not need.
        .systemLibrary(name: "CSlirp", providers: [.apt(["libslirp-dev"])]),
        // Host calls glibc declares only for C with _GNU_SOURCE (memfd_create): a header, no library.
        .systemLibrary(name: "CHostCalls"),
        // The numbers every process must agree on (mip bits, memory map, timebase, device kinds...): no
        // dependencies at all, so that every module, the hart included, can use it.
        .target(name: "RVPlatform", swiftSettings: strict),
        // The RV64GC core: no Foundation, no bus. The LLVM options let the optimiser copy the dispatch
        // jump into each instruction handler instead of merging them into one shared jump (threaded
        // dispatch): measured on cpu-mix, 380-500 MIPS without them, 470-505 with them. With LLVM 21 (Swift
        // 6.3) they apply only because the loop's dispatch is one branch-free block (see Hart.execute).
        // Every function starts on a 64-byte line, so that the interpreter's loop sits the same way in every binary
        // (rrvm-hart, rrvm-bench, rrctl): where the linker happened to put it moved cpu-mix by about 5% between
        // binaries built from the same core.
        .target(name: "RVHart", dependencies: ["CHostCalls", "RVPlatform"], swiftSettings: strict + [.unsafeFlags([
            "-enforce-exclusivity=unchecked", "-Xllvm", "-tail-dup-size=40", "-Xllvm", "-enable-tail-merge=false",
            "-Xllvm", "-align-all-functions=6",
        ])]),
        // Device models, memory map, device tree writer, boot ROM, image loaders.
        .target(name: "RVMachine", dependencies: ["RVPlatform"], swiftSettings: strict),
        // Messages and log records generated from proto/rrvm.proto.
        .target(name: "RRProto", dependencies: ["RVPlatform", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: messagePath),
        // libuv transport: loop, connections, framing, handshake, shared-memory lanes.
        .target(name: "RRBus", dependencies: ["CHostCalls", "CLibUV", "RRProto", "RVPlatform", .product(name: "Atomics", package: "swift-atomics")],
                swiftSettings: messagePath),
        // User-mode networking for virtio-net: libslirp driven from a bus event loop, and the --net options.
        .target(name: "RRNet", dependencies: ["CSlirp", "RRBus"], swiftSettings: strict),
        // G, schedule, virtual time, event queue, log writer/reader, replay.
        .target(name: "RRSequencer", dependencies: ["RRProto", "RVPlatform", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: messagePath),
        // Checkpoint state: hart, device and sequencer state to and from proto messages, guest RAM checkpoints.
        .target(name: "RRCheckpoint", dependencies: ["RRProto", "RVHart", "RVMachine"], swiftSettings: strict),
        // The hart's and the devices' side of a cluster as pure logic behind transport protocols (as the
        // Sequencer is), and the in-process machine that joins them with the sequencer in memory.
        .target(name: "RRRoles", dependencies: ["RRCheckpoint", "RRProto", "RRSequencer", "RVHart", "RVMachine", "RVPlatform",
                                              .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: messagePath),
        // The process roles: the above on the libuv bus.
        .target(name: "RRNode", dependencies: ["RRBus", "RRNet", "RRProto", "RRRoles", "RRSequencer", "RVHart", "RVMachine", "RVPlatform"],
                swiftSettings: messagePath),
        // rrctl's commands.
        .target(name: "RRCtl", dependencies: [
            "RRNode", "RRBus", "RRNet", "RRProto", "RRRoles", "RRSequencer", "RVMachine", "RVPlatform",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "rrctl", dependencies: ["RRCtl"], swiftSettings: strict),
        .executableTarget(name: "rrvm-sequencer", dependencies: ["RRNode"], swiftSettings: strict),
        .executableTarget(name: "rrvm-hart", dependencies: ["RRNode"], swiftSettings: strict),
        .executableTarget(name: "rrvm-device", dependencies: ["RRNode"], swiftSettings: strict),
        .executableTarget(name: "rrvm-bench", dependencies: ["RRNode", "RRBus", "RRCheckpoint", "RRProto", "RRRoles", "RVHart",
                                                             "RVMachine"],
                          path: "Benchmarks/rrvm-bench", swiftSettings: strict),

        // What several test targets share (the seeded generator of the fuzz-style tests); only tests use it.
        .target(name: "RRTestSupport", path: "Tests/RRTestSupport", swiftSettings: strict),
        .testTarget(name: "RVHartTests", dependencies: ["RVHart", "RRRoles", "RVMachine"]),
        .testTarget(name: "RVMachineTests", dependencies: ["RVMachine", "RVPlatform", "RRTestSupport"]),
        .testTarget(name: "RRRolesTests", dependencies: ["RRRoles", "RRProto", "RRSequencer", "RVMachine", "RVPlatform"]),
        .testTarget(name: "RRBusTests", dependencies: ["RRBus", "RRProto", "RRTestSupport"]),
        .testTarget(name: "RRNetTests", dependencies: ["RRNet", "RRBus"]),
        .testTarget(name: "RRSequencerTests", dependencies: ["RRSequencer", "RRProto", "RRTestSupport", "RVPlatform"]),
        .testTarget(name: "RRCheckpointTests", dependencies: ["RRCheckpoint", "RRProto", "RRRoles", "RVHart", "RVMachine",
                                                             "RVPlatform"]),
        .testTarget(name: "EndToEndTests", dependencies: ["RRSequencer", "RRProto"]),
        .testTarget(name: "RRCtlTests", dependencies: ["RRCtl", "RRNode"]),
    ],
    swiftLanguageModes: [.v5]
)

// libFuzzer over the frame decoder and the log reader: only Benchmarks/fuzz/run.sh sets RRVM_FUZZ=1 (and
// builds with -sanitize=fuzzer), so the default build never sees these targets.
if ProcessInfo.processInfo.environment["RRVM_FUZZ"] == "1" {
    package.targets += [
        .systemLibrary(name: "CFuzzDriver", path: "Benchmarks/fuzz/CFuzzDriver"),
        .executableTarget(name: "rrvm-fuzz", dependencies: ["CFuzzDriver", "RRBus", "RRSequencer"],
                          path: "Benchmarks/fuzz/rrvm-fuzz", swiftSettings: strict),
    ]
    package.products.append(.executable(name: "rrvm-fuzz", targets: ["rrvm-fuzz"]))
}
