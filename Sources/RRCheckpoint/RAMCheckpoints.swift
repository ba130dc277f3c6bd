#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import RRProto

/// Checkpoints of guest RAM that each keep only the pages changed since the previous checkpoint.
///
/// How changes are found: by comparing every page of RAM with the copy the previous checkpoint holds
/// (memcmp; an all-zero page is kept as no copy at all). That reads RAM once more per checkpoint, but it is
/// exact whoever wrote the page (any hart process, a DMA device, a debugger), needs no cooperation between
/// the processes that map RAM and costs nothing while the guest runs. The alternatives were worse here:
/// copy-on-write of a shared mapping needs every writer's page tables (fork or userfaultfd write-protect in
/// each hart and DMA process, and the harts' TLBs hold direct host pointers), and write tracking in the
/// harts puts a cost on the interpreter's store path and misses DMA unless every device reports too. Dirty
/// tracking by the harts (at store-TLB refills, so nothing per store) can later make the comparison skip
/// clean pages; the format would not change.
///
/// Unchanged pages are shared between checkpoints (reference-counted copies), so a checkpoint costs its
/// changed pages plus one reference per page of RAM. Restoring writes back only the pages that differ from
/// the checkpoint, so RAM pages that did not change stay untouched (and unfaulted on tmpfs).
public final class RAMCheckpoints {
    public static let pageSize = 4096

    /// One page's saved contents.
    final class Page {
        let bytes: UnsafeMutableRawPointer

        init(copying source: UnsafeRawPointer) {
            bytes = .allocate(byteCount: RAMCheckpoints.pageSize, alignment: RAMCheckpoints.pageSize)
            bytes.copyMemory(from: source, byteCount: RAMCheckpoints.pageSize)
        }

        deinit { bytes.deallocate() }
    }

    /// Guest RAM at one point. nil pages are all zero.
    public struct Checkpoint {
        public let id: UInt64
        let pages: [Page?]
        /// Pages copied by this checkpoint (changed since the previous one), and their bytes.
        public let changedPages: Int
        public var changedBytes: Int { changedPages * RAMCheckpoints.pageSize }
        /// Pages with non-zero contents (what a self-contained copy of this checkpoint holds).
        public let nonZeroPages: Int
    }

    public let ram: UnsafeMutableRawPointer
    public let size: Int
    public var pageCount: Int { size / RAMCheckpoints.pageSize }
    /// The checkpoint the next one is compared with.
    public private(set) var latest: Checkpoint?
    private var nextID: UInt64 = 1
    private let zeroPage: UnsafeMutableRawPointer

    /// Checkpoints of the `size` bytes at `ram` (a whole number of pages).
    public init(ram: UnsafeMutableRawPointer, size: Int) {
        precondition(size % RAMCheckpoints.pageSize == 0, "RAM must be a whole number of pages")
        self.ram = ram
        self.size = size
        zeroPage = .allocate(byteCount: RAMCheckpoints.pageSize, alignment: RAMCheckpoints.pageSize)
        zeroPage.initializeMemory(as: UInt8.self, repeating: 0, count: RAMCheckpoints.pageSize)
    }

    deinit { zeroPage.deallocate() }

    /// Saves RAM as it is now: pages equal to the latest checkpoint's are shared with it, changed ones copied.
    public func take() -> Checkpoint {
        let previous = latest?.pages ?? Array(repeating: nil, count: pageCount)
        var pages = previous
        var changed = 0
        var nonZero = 0
        for index in 0..<pageCount {
            let current = ram + index * RAMCheckpoints.pageSize
            let saved = previous[index]
            if memcmp(current, saved?.bytes ?? zeroPage, RAMCheckpoints.pageSize) != 0 {
                let isZero = saved != nil && memcmp(current, zeroPage, RAMCheckpoints.pageSize) == 0
                pages[index] = isZero ? nil : Page(copying: current)
                changed += 1
            }
            if pages[index] != nil { nonZero += 1 }
        }
        let checkpoint = Checkpoint(id: nextID, pages: pages, changedPages: changed, nonZeroPages: nonZero)
        nextID += 1
        latest = checkpoint
        return checkpoint
    }

    /// Puts RAM back as it was at `checkpoint`, writing only the pages that differ; returns how many it wrote.
    /// The checkpoint becomes the base the next `take` compares with.
    @discardableResult
    public func restore(_ checkpoint: Checkpoint) throws -> Int {
        try restoreUndoably(checkpoint).written
    }

    /// What a restore overwrote (the pages as they were) and the base before it: `undo` puts them back.
    public struct Undo {
        fileprivate let pages: [(index: Int, page: Page)]
        fileprivate let latest: Checkpoint?
        public var written: Int { pages.count }
    }

    /// `restore`, keeping what it overwrote: e.g. to go back when a process then refuses its own state.
    public func restoreUndoably(_ checkpoint: Checkpoint) throws -> Undo {
        guard checkpoint.pages.count == pageCount else {
            throw CheckpointError("a RAM checkpoint of \(checkpoint.pages.count) pages cannot be restored into "
                                  + "\(pageCount) pages of RAM")
        }
        var overwritten: [(index: Int, page: Page)] = []
        for (index, page) in checkpoint.pages.enumerated() {
            let current = ram + index * RAMCheckpoints.pageSize
            let target = page?.bytes ?? zeroPage
            if memcmp(current, target, RAMCheckpoints.pageSize) != 0 {
                overwritten.append((index, Page(copying: current)))
                current.copyMemory(from: target, byteCount: RAMCheckpoints.pageSize)
            }
        }
        let undo = Undo(pages: overwritten, latest: latest)
        latest = checkpoint
        return undo
    }

    /// Puts back what `restoreUndoably` overwrote (nothing else may have written RAM since).
    public func undo(_ undo: Undo) {
        for (index, page) in undo.pages {
            (ram + index * RAMCheckpoints.pageSize).copyMemory(from: page.bytes, byteCount: RAMCheckpoints.pageSize)
        }
        latest = undo.latest
    }

    /// Memory `checkpoints` hold together: each saved page once (pages are shared between checkpoints) and
    /// each checkpoint's page table.
    public static func memoryBytes(of checkpoints: [Checkpoint]) -> Int {
        var seen = Set<ObjectIdentifier>()
        var tables = 0
        for checkpoint in checkpoints {
            tables += checkpoint.pages.count * MemoryLayout<Page?>.stride
            for case let page? in checkpoint.pages { seen.insert(ObjectIdentifier(page)) }
        }
        return seen.count * pageSize + tables
    }

    // MARK: Messages

    /// The message for `checkpoint`: the pages that differ from `base` (by the pages' identity, which
    /// `take` preserves for unchanged pages), or every non-zero page when `base` is nil.
    public func message(_ checkpoint: Checkpoint, relativeTo base: Checkpoint? = nil) -> Rrvm_RamState {
        var message = Rrvm_RamState()
        message.id = checkpoint.id
        message.baseID = base?.id ?? 0
        message.ramSize = UInt64(size)
        message.pageSize = UInt32(RAMCheckpoints.pageSize)
        for (index, page) in checkpoint.pages.enumerated() {
            let old = base?.pages[index]
            guard page !== old else { continue }
            message.pages.append(.with {
                $0.index = UInt64(index)
                if let page { $0.data = Data(bytes: page.bytes, count: RAMCheckpoints.pageSize) }
            })
        }
        return message
    }

    /// The checkpoint a message describes, on top of `base` (which must be the checkpoint its base_id
    /// names; nil for a self-contained message). Refuses a message for other RAM, pages out of order or of
    /// the wrong size, changing nothing.
    public func checkpoint(from message: Rrvm_RamState, base: Checkpoint? = nil) throws -> Checkpoint {
        guard message.ramSize == UInt64(size), message.pageSize == UInt32(RAMCheckpoints.pageSize) else {
            throw CheckpointError("RAM state of \(message.ramSize) bytes in pages of \(message.pageSize) does not "
                                  + "fit \(size) bytes of RAM in pages of \(RAMCheckpoints.pageSize)")
        }
        guard message.baseID == (base?.id ?? 0) else {
            throw CheckpointError("RAM state \(message.id) is relative to checkpoint \(message.baseID), "
                                  + "given \(base.map { "checkpoint \($0.id)" } ?? "none")")
        }
        var pages = base?.pages ?? Array(repeating: nil, count: pageCount)
        var changed = 0
        var previousIndex: UInt64?
        for page in message.pages {
            guard page.index < UInt64(pageCount), previousIndex.map({ page.index > $0 }) ?? true else {
                throw CheckpointError("RAM state \(message.id): page \(page.index) is out of range or out of order")
            }
            previousIndex = page.index
            switch page.data.count {
            case 0: pages[Int(page.index)] = nil
            case RAMCheckpoints.pageSize:
                pages[Int(page.index)] = page.data.withUnsafeBytes { Page(copying: $0.baseAddress!) }
            default:
                throw CheckpointError("RAM state \(message.id): page \(page.index) holds \(page.data.count) bytes")
            }
            changed += 1
        }
        nextID = max(nextID, message.id + 1)
        return Checkpoint(id: message.id, pages: pages, changedPages: changed,
                          nonZeroPages: pages.reduce(0) { $0 + ($1 == nil ? 0 : 1) })
    }
}
