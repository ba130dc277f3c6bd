#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RVPlatform

public struct DiskError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A disk image file. `.readWrite` writes in place; `.overlay` keeps every write in a copy-on-write
/// overlay in memory so that the file (whose hash a log records) never changes; `.readOnly` refuses
/// writes (the device then offers VIRTIO_BLK_F_RO).
public final class DiskImage {
    public enum Mode: Equatable { case readWrite, readOnly, overlay }

    public static let sectorSize: UInt64 = 512
    static let chunkSize: UInt64 = 4096

    public let path: String
    public let mode: Mode
    /// The usable size in bytes: the file's size rounded down to whole sectors.
    public let size: UInt64
    private let descriptor: Int32
    private var overlay: [UInt64: [UInt8]] = [:]  // chunk index -> chunkSize bytes
    /// A digest of every write in order (sector and contents), for state hashes.
    public private(set) var writeDigest = StateHasher()

    public init(path: String, mode: Mode) throws {
        self.path = path
        self.mode = mode
        let descriptor = open(path, mode == .readWrite ? O_RDWR : O_RDONLY)
        guard descriptor >= 0 else { throw DiskError("cannot open disk image \(path): \(errnoText())") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = errnoText()
            close(descriptor)
            throw DiskError("cannot inspect disk image \(path): \(reason)")
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else {
            close(descriptor)
            throw DiskError("disk image \(path) is not a regular file or block device")
        }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else {
            let reason = errnoText()
            close(descriptor)
            throw DiskError("cannot size disk image \(path): \(reason)")
        }
        self.descriptor = descriptor
        size = UInt64(end) / DiskImage.sectorSize * DiskImage.sectorSize
    }

    deinit { close(descriptor) }

    public var overlayBytes: Int { overlay.count * Int(DiskImage.chunkSize) }

    /// Reads [offset, offset + count) into `buffer`; false on an I/O error or a range past the end.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawPointer, count: Int) -> Bool {
        guard inRange(offset, count) else { return false }
        guard mode == .overlay, !overlay.isEmpty else { return readBase(at: offset, into: buffer, count: count) }
        var done = 0
        while done < count {
            let position = offset + UInt64(done)
            let chunk = position / DiskImage.chunkSize
            let within = Int(position % DiskImage.chunkSize)
            let length = min(count - done, Int(DiskImage.chunkSize) - within)
            if let data = overlay[chunk] {
                data.withUnsafeBytes { (buffer + done).copyMemory(from: $0.baseAddress! + within, byteCount: length) }
            } else if !readBase(at: position, into: buffer + done, count: length) {
                return false
            }
            done += length
        }
        return true
    }

    /// Writes [offset, offset + count) from `buffer`; false on an I/O error, a range past the end or a
    /// read-only image.
    public func write(at offset: UInt64, from buffer: UnsafeRawPointer, count: Int) -> Bool {
        guard mode != .readOnly, inRange(offset, count) else { return false }
        writeDigest.combine(offset)
        writeDigest.combine(bytes: UnsafeRawBufferPointer(start: buffer, count: count))
        guard mode == .overlay else { return writeBase(at: offset, from: buffer, count: count) }
        var done = 0
        while done < count {
            let position = offset + UInt64(done)
            let chunk = position / DiskImage.chunkSize
            let within = Int(position % DiskImage.chunkSize)
            let length = min(count - done, Int(DiskImage.chunkSize) - within)
            var data: [UInt8]
            if let existing = overlay[chunk] {
                data = existing
            } else {
                data = [UInt8](repeating: 0, count: Int(DiskImage.chunkSize))
                let chunkStart = chunk * DiskImage.chunkSize
                let available = Int(min(DiskImage.chunkSize, size - chunkStart))
                let loaded = data.withUnsafeMutableBytes {
                    readBase(at: chunkStart, into: $0.baseAddress!, count: available)
                }
                guard loaded else { return false }
            }
            overlay[chunk] = nil  // keep the array uniquely referenced while it changes
            data.withUnsafeMutableBytes {
                ($0.baseAddress! + within).copyMemory(from: buffer + done, byteCount: length)
            }
            overlay[chunk] = data
            done += length
        }
        return true
    }

    /// The overlay's chunks (`chunkSize` bytes each, by chunk index) and the write digest: all a
    /// checkpoint needs of an image that is never written in place. Arrays share storage until written, so
    /// saving costs one reference per chunk, not a copy.
    public struct Overlay: Equatable {
        public var chunks: [UInt64: [UInt8]]
        public var writeDigest: UInt64

        public init(chunks: [UInt64: [UInt8]], writeDigest: UInt64) {
            self.chunks = chunks
            self.writeDigest = writeDigest
        }
    }

    /// The written state, or nil for an image written in place (`.readWrite`), whose past contents are gone.
    public var savedOverlay: Overlay? {
        mode == .readWrite ? nil : Overlay(chunks: overlay, writeDigest: writeDigest.value)
    }

    /// Puts back a saved overlay; refuses chunks of the wrong size or beyond the image, and any chunk for a
    /// read-only image, changing nothing.
    public func restore(_ saved: Overlay) throws {
        guard mode != .readWrite else {
            throw DiskError("disk image \(path) is written in place: it has no overlay to restore")
        }
        guard mode == .overlay || saved.chunks.isEmpty else {
            throw DiskError("disk image \(path) is read-only: a saved overlay cannot hold writes")
        }
        let chunkCount = (size + DiskImage.chunkSize - 1) / DiskImage.chunkSize
        for (index, data) in saved.chunks where data.count != Int(DiskImage.chunkSize) || index >= chunkCount {
            throw DiskError("disk image \(path): saved chunk \(index) does not fit the image")
        }
        overlay = saved.chunks
        writeDigest = StateHasher(value: saved.writeDigest)
    }

    public func flush() -> Bool { mode != .readWrite || fsync(descriptor) == 0 }

    private func inRange(_ offset: UInt64, _ count: Int) -> Bool {
        count >= 0 && offset <= size && UInt64(count) <= size - offset
    }

    private func readBase(at offset: UInt64, into buffer: UnsafeMutableRawPointer, count: Int) -> Bool {
        transferWhole(count) { pread(descriptor, buffer + $0, count - $0, off_t(offset) + off_t($0)) }
    }

    private func writeBase(at offset: UInt64, from buffer: UnsafeRawPointer, count: Int) -> Bool {
        transferWhole(count) { pwrite(descriptor, buffer + $0, count - $0, off_t(offset) + off_t($0)) }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// virtio-blk (device id 2) with one request queue: IN, OUT, FLUSH and GET_ID.
///
/// A request is [16-byte header (type, reserved, sector)] [data] [status byte], readable parts first.
/// Requests that are well formed but cannot be served get VIRTIO_BLK_S_IOERR: data outside RAM, a
/// length that is not whole sectors, a range past the end of the disk, a write to a read-only disk, data
/// buffers of the wrong direction, or a host I/O error. Unknown types get VIRTIO_BLK_S_UNSUPP. A chain
/// whose header or status byte is missing or outside RAM cannot be answered at all: the queue is broken
/// (DEVICE_NEEDS_RESET), as QEMU treats it.
public final class VirtioBlock: VirtioBackend {
    public static let requestIn: UInt32 = 0, requestOut: UInt32 = 1, requestFlush: UInt32 = 4, requestGetID: UInt32 = 8
    public static let statusOK: UInt8 = 0, statusIOError: UInt8 = 1, statusUnsupported: UInt8 = 2
    public static let featureSegmentMax: UInt64 = 1 << 2, featureReadOnly: UInt64 = 1 << 5
    public static let featureBlockSize: UInt64 = 1 << 6, featureFlush: UInt64 = 1 << 9
    public static let idBytes = 20
    static let headerSize: UInt64 = 16

    public let disk: DiskImage
    public let serial: String
    public let maxQueueSize: UInt16
    public var deviceID: UInt32 { 2 }
    public var queueCount: Int { 1 }
    public private(set) var requestCount: UInt64 = 0
    public let configSpace: [UInt8]

    public var deviceFeatures: UInt64 {
        var features = VirtioBlock.featureSegmentMax | VirtioBlock.featureBlockSize | VirtioBlock.featureFlush
        if disk.mode == .readOnly { features |= VirtioBlock.featureReadOnly }
        return features
    }

    public init(disk: DiskImage, serial: String = "rrvm-disk0", maxQueueSize: UInt16 = 256) {
        self.disk = disk
        self.serial = serial
        self.maxQueueSize = maxQueueSize
        // struct virtio_blk_config: capacity (sectors) at 0, seg_max at 12, blk_size at 20.
        var config = [UInt8](repeating: 0, count: 0x3c)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            for index in 0..<MemoryLayout<T>.size {
                config[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
            }
        }
        put(disk.size / DiskImage.sectorSize, at: 0)
        put(UInt32(maxQueueSize) - 2, at: 12)
        put(UInt32(DiskImage.sectorSize), at: 20)
        configSpace = config
    }

    public convenience init(path: String, mode: DiskImage.Mode, serial: String = "rrvm-disk0") throws {
        self.init(disk: try DiskImage(path: path, mode: mode), serial: serial)
    }

    public func handle(queue: Int, chain: [VirtqBuffer], memory: GuestMemory) throws -> UInt32 {
        requestCount += 1
        let readable = ScatterList(chain.filter { !$0.deviceWritable })
        let writable = ScatterList(chain.filter { $0.deviceWritable })
        guard let header = readable.read(from: 0, count: VirtioBlock.headerSize, memory: memory) else {
            throw VirtqueueFault("virtio-blk request without a readable 16-byte header in RAM")
        }
        guard let statusPointer = lastByte(of: writable, memory: memory) else {
            throw VirtqueueFault("virtio-blk request without a writable status byte in RAM")
        }
        let type = header.littleEndian(UInt32.self, at: 0)
        let sector = header.littleEndian(UInt64.self, at: 8)
        let readableData = readable.totalLength - VirtioBlock.headerSize
        let writableData = writable.totalLength - 1

        var status = VirtioBlock.statusOK
        var used: UInt32 = 1
        switch type {
        case VirtioBlock.requestIn:
            var position = sector &* DiskImage.sectorSize
            let done = readableData == 0 && inDisk(sector: sector, count: writableData)
                && writable.forEachPiece(from: 0, count: writableData, memory: memory) { pointer, length in
                    defer { position += UInt64(length) }
                    return disk.read(at: position, into: pointer, count: length)
                }
            if done { used = UInt32(truncatingIfNeeded: writableData + 1) } else { status = VirtioBlock.statusIOError }
        case VirtioBlock.requestOut:
            var position = sector &* DiskImage.sectorSize
            let done = writableData == 0 && disk.mode != .readOnly && inDisk(sector: sector, count: readableData)
                && readable.forEachPiece(from: VirtioBlock.headerSize, count: readableData,
                                         memory: memory) { pointer, length in
                    defer { position += UInt64(length) }
                    return disk.write(at: position, from: pointer, count: length)
                }
            if !done { status = VirtioBlock.statusIOError }
        case VirtioBlock.requestFlush:
            if !disk.flush() { status = VirtioBlock.statusIOError }
        case VirtioBlock.requestGetID:
            var id = Array(serial.utf8.prefix(VirtioBlock.idBytes))
            id += [UInt8](repeating: 0, count: VirtioBlock.idBytes - id.count)
            let count = min(UInt64(VirtioBlock.idBytes), writableData)
            var copied = 0
            let done = writable.forEachPiece(from: 0, count: count, memory: memory) { pointer, length in
                id[copied..<(copied + length)].withUnsafeBytes {
                    pointer.copyMemory(from: $0.baseAddress!, byteCount: length)
                }
                copied += length
                return true
            }
            if done { used = UInt32(count) + 1 } else { status = VirtioBlock.statusIOError }
        default:
            status = VirtioBlock.statusUnsupported
        }
        statusPointer.storeBytes(of: status, as: UInt8.self)
        return used
    }

    public func reset() {}

    /// The request count and the disk's overlay. A disk written in place cannot be checkpointed: run with an
    /// overlay (as recordings and replays do) or a read-only image.
    public struct State: Equatable {
        public var requestCount: UInt64
        public var overlay: DiskImage.Overlay

        public init(requestCount: UInt64, overlay: DiskImage.Overlay) {
            self.requestCount = requestCount
            self.overlay = overlay
        }
    }

    public func saveBackendState() throws -> VirtioBackendState {
        guard let overlay = disk.savedOverlay else {
            throw DeviceStateError("virtio-blk: disk image \(disk.path) is written in place, so it cannot be "
                                   + "checkpointed (use an overlay)")
        }
        return .block(State(requestCount: requestCount, overlay: overlay))
    }

    public func restoreBackendState(_ state: VirtioBackendState) throws {
        guard case .block(let saved) = state else {
            throw DeviceStateError("only a virtio-blk state restores into virtio-blk")
        }
        do {
            try disk.restore(saved.overlay)
        } catch {
            throw DeviceStateError("virtio-blk: \(error)")
        }
        requestCount = saved.requestCount
    }

    public func hashState(into hasher: inout StateHasher) {
        hasher.combine(requestCount)
        hasher.combine(disk.writeDigest.value)
    }

    /// Whether `count` bytes at `sector` are whole sectors inside the disk.
    private func inDisk(sector: UInt64, count: UInt64) -> Bool {
        let sectors = disk.size / DiskImage.sectorSize
        return count % DiskImage.sectorSize == 0 && sector <= sectors
            && count / DiskImage.sectorSize <= sectors - sector
    }

    /// The host address of the last byte of a stream, nil when the stream is empty or that byte is outside RAM.
    private func lastByte(of list: ScatterList, memory: GuestMemory) -> UnsafeMutableRawPointer? {
        guard let last = list.segments.last else { return nil }
        let (address, overflow) = last.address.addingReportingOverflow(last.length - 1)
        return overflow ? nil : memory.pointer(address, length: 1)
    }
}
