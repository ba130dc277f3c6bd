import Foundation
import RRCheckpoint
import RRProto
import XCTest

final class RAMCheckpointTests: XCTestCase {
    let size = 64 * RAMCheckpoints.pageSize

    func makeRAM() -> UnsafeMutableRawPointer {
        let ram = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        ram.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        addTeardownBlock { ram.deallocate() }
        return ram
    }

    func contents(_ ram: UnsafeMutableRawPointer) -> [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: ram, count: size))
    }

    func testKeepsOnlyChangedPagesAndRestoresExactly() throws {
        let ram = makeRAM()
        let store = RAMCheckpoints(ram: ram, size: size)
        (ram + 5 * 4096 + 7).storeBytes(of: 0xaa, as: UInt8.self)
        (ram + 9 * 4096).storeBytes(of: 0x1234_5678, as: UInt32.self)
        let first = store.take()
        XCTAssertEqual(first.changedPages, 2)
        XCTAssertEqual(first.nonZeroPages, 2)
        let atFirst = contents(ram)

        (ram + 9 * 4096 + 100).storeBytes(of: 1, as: UInt8.self)   // changed page
        (ram + 20 * 4096 + 4095).storeBytes(of: 2, as: UInt8.self) // new page
        (ram + 5 * 4096 + 7).storeBytes(of: 0, as: UInt8.self)     // back to zero
        let second = store.take()
        XCTAssertEqual(second.changedPages, 3)
        XCTAssertEqual(second.nonZeroPages, 2)
        let atSecond = contents(ram)
        XCTAssertEqual(store.take().changedPages, 0, "nothing changed since the last checkpoint")

        (ram + 33 * 4096).initializeMemory(as: UInt8.self, repeating: 0x5a, count: 4096)
        XCTAssertEqual(try store.restore(first), 4, "pages 5, 9, 20 and 33 differ from the first checkpoint")
        XCTAssertEqual(contents(ram), atFirst)
        XCTAssertEqual(try store.restore(second), 3)
        XCTAssertEqual(contents(ram), atSecond)
        XCTAssertEqual(try store.restore(second), 0)
    }

    /// A restore that must be taken back (a process refused its state): RAM and the base of the next
    /// checkpoint are as before it.
    func testAnUndoneRestoreLeavesRAMAndTheBaseAsBefore() throws {
        let ram = makeRAM()
        let store = RAMCheckpoints(ram: ram, size: size)
        (ram + 3 * 4096).storeBytes(of: 0x11, as: UInt8.self)
        let first = store.take()
        (ram + 3 * 4096).storeBytes(of: 0x22, as: UInt8.self)
        (ram + 40 * 4096 + 9).storeBytes(of: 0x33, as: UInt8.self)
        let second = store.take()
        (ram + 41 * 4096).storeBytes(of: 0x44, as: UInt8.self)  // since the last checkpoint
        let present = contents(ram)

        let undo = try store.restoreUndoably(first)
        XCTAssertEqual(undo.written, 3, "pages 3, 40 and 41")
        XCTAssertEqual((ram + 3 * 4096).load(as: UInt8.self), 0x11)
        store.undo(undo)
        XCTAssertEqual(contents(ram), present)
        XCTAssertEqual(store.latest?.id, second.id, "the next checkpoint compares with the second again")
        XCTAssertEqual(store.take().changedPages, 1, "page 41 alone changed since the second")
    }

    func testMessagesRoundTripThroughBytesAloneAndAsDeltas() throws {
        let ram = makeRAM()
        let store = RAMCheckpoints(ram: ram, size: size)
        for page in [0, 3, 63] { (ram + page * 4096 + page).storeBytes(of: UInt8(page + 1), as: UInt8.self) }
        let first = store.take()
        let atFirst = contents(ram)
        (ram + 3 * 4096).initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        (ram + 4 * 4096).storeBytes(of: 0xff, as: UInt8.self)
        let second = store.take()
        let atSecond = contents(ram)

        let whole = try Rrvm_RamState(serializedBytes: try store.message(second).serializedData())
        XCTAssertEqual(whole.pages.map(\.index), [0, 4, 63], "a self-contained message holds the non-zero pages")
        let delta = try Rrvm_RamState(serializedBytes: try store.message(second, relativeTo: first).serializedData())
        XCTAssertEqual(delta.pages.map(\.index), [3, 4])
        XCTAssertEqual(delta.pages[0].data.count, 0, "page 3 became a zero page")

        // Another process (another host) rebuilds both from the bytes alone.
        let otherRAM = makeRAM()
        let other = RAMCheckpoints(ram: otherRAM, size: size)
        let firstThere = try other.checkpoint(from: try Rrvm_RamState(serializedBytes: store.message(first).serializedData()))
        let secondThere = try other.checkpoint(from: delta, base: firstThere)
        try other.restore(secondThere)
        XCTAssertEqual(contents(otherRAM), atSecond)
        try other.restore(firstThere)
        XCTAssertEqual(contents(otherRAM), atFirst)
        try other.restore(try other.checkpoint(from: whole))
        XCTAssertEqual(contents(otherRAM), atSecond)
    }

    func testRefusesMessagesThatDoNotFit() throws {
        let ram = makeRAM()
        let store = RAMCheckpoints(ram: ram, size: size)
        let checkpoint = store.take()
        var message = store.message(checkpoint)
        message.ramSize = UInt64(2 * size)
        XCTAssertThrowsError(try store.checkpoint(from: message)) { XCTAssertTrue("\($0)".contains("does not fit")) }
        message = store.message(checkpoint)
        message.pages = [.with { $0.index = 64; $0.data = Data(count: 4096) }]
        XCTAssertThrowsError(try store.checkpoint(from: message)) { XCTAssertTrue("\($0)".contains("out of range")) }
        message.pages = [.with { $0.index = 2; $0.data = Data(count: 4096) }, .with { $0.index = 1 }]
        XCTAssertThrowsError(try store.checkpoint(from: message)) { XCTAssertTrue("\($0)".contains("out of order")) }
        message.pages = [.with { $0.index = 1; $0.data = Data(count: 100) }]
        XCTAssertThrowsError(try store.checkpoint(from: message)) { XCTAssertTrue("\($0)".contains("100 bytes")) }
        message = store.message(checkpoint)
        message.baseID = 7
        XCTAssertThrowsError(try store.checkpoint(from: message)) { XCTAssertTrue("\($0)".contains("relative to")) }
    }
}
