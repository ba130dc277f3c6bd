import RVMachine
import XCTest

final class UART16550Tests: XCTestCase {
    // Register offsets and bits as Linux's serial_reg.h names them.
    let rx: UInt64 = 0, ier: UInt64 = 1, iir: UInt64 = 2, fcr: UInt64 = 2, lcr: UInt64 = 3
    let mcr: UInt64 = 4, lsr: UInt64 = 5, msr: UInt64 = 6, scr: UInt64 = 7
    let ierRDI: UInt64 = 0x01, ierTHRI: UInt64 = 0x02
    let iirNoInterrupt: UInt64 = 0x01

    func testTransmitGoesToConsoleAndTransmitterStaysEmpty() {
        var uart = DeviceProbe(UART16550())
        for byte in "hi\n".utf8 { uart.write(rx, UInt64(byte), size: 1) }
        XCTAssertEqual(uart.take().console, Array("hi\n".utf8))
        XCTAssertEqual(uart.read(lsr, size: 1), 0x60, "THRE and TEMT, no data")
    }

    /// serial8250_do_startup's test for UARTs that do not re-assert THRE (UART_BUG_THRE) and its
    /// TXEN test: both must see a THRE interrupt in IIR.
    func testTransmitterEmptyInterruptAsLinuxProbesIt() {
        var uart = DeviceProbe(UART16550())
        uart.write(fcr, 0x07, size: 1)  // enable and clear the FIFOs
        uart.write(ier, ierTHRI, size: 1)
        XCTAssertEqual(uart.take().sourceChanges, ["10=1"])
        let iir1 = uart.read(iir, size: 1)!
        XCTAssertEqual(iir1, 0xc2, "THRE interrupt, FIFOs enabled")
        XCTAssertEqual(uart.read(iir, size: 1), 0xc1, "reading IIR cleared THRE")
        XCTAssertEqual(uart.take().sourceChanges, ["10=0"])
        uart.write(ier, 0, size: 1)
        uart.write(ier, ierTHRI, size: 1)
        let iir2 = uart.read(iir, size: 1)!
        XCTAssertEqual(iir2 & iirNoInterrupt, 0, "THRE re-asserted when THRI is enabled again")
        uart.write(ier, 0, size: 1)
        XCTAssertEqual(uart.read(iir, size: 1), 0xc1)
    }

    func testEachTransmittedByteRaisesThreAgain() {
        var uart = DeviceProbe(UART16550())
        uart.write(ier, ierTHRI, size: 1)
        XCTAssertEqual(uart.read(iir, size: 1), 0x02)  // handler reads IIR: THRE, now cleared
        XCTAssertEqual(uart.take().sourceChanges, ["10=1", "10=0"])
        uart.write(rx, 0x41, size: 1)  // tx_chars writes a byte: THR empties at once
        XCTAssertEqual(uart.take().sourceChanges, ["10=1"])
        uart.write(ier, 0, size: 1)  // __stop_tx
        XCTAssertEqual(uart.take().sourceChanges, ["10=0"])
        uart.write(rx, 0x42, size: 1)
        XCTAssertEqual(uart.take().sourceChanges, [], "no THRE interrupt while THRI is off")
    }

    func testLineStatusIsDeclaredStableWithItsCurrentValue() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        XCTAssertEqual(device.stableReads(), [StableRead(offset: 5, size: 1, value: 0x60, keptByWritesTo: [0, 7],
                                                         outputWritesTo: [0]),
                                              StableRead(offset: 6, size: 1, value: 0xb0, keptByWritesTo: [0, 7])],
                       "LSR: THRE|TEMT; MSR: DCD|DSR|CTS")
        device.receive([0x41], clock: clockZero, effects: &uart.effects)
        XCTAssertEqual(device.stableReads().first?.value, 0x61, "data ready")
        XCTAssertEqual(uart.read(5, size: 1), 0x61, "the declared value is what a read returns")
    }

    /// MSR is declared while no modem status change is latched (a read would clear it): Linux's 8250 interrupt
    /// handler reads it on every interrupt. A change (here MCR's loopback) is read once from the device, with its
    /// deltas, and is declared again after that read.
    func testModemStatusIsDeclaredWhileNoChangeIsLatched() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        let msr = { device.stableReads().first { $0.offset == 6 } }
        XCTAssertEqual(msr()?.value, uart.read(6, size: 1), "declared = read")
        uart.write(4, 0x10 | 0x03, size: 1)  // loopback with DTR and RTS: DSR and CTS stay, DCD drops
        XCTAssertNil(msr(), "a delta is latched: the read has a side effect")
        XCTAssertEqual(uart.read(6, size: 1), 0x30 | 0x08, "DSR|CTS and delta DCD")
        XCTAssertEqual(msr()?.value, 0x30)
        XCTAssertEqual(msr()?.keptByWritesTo, [7], "in loopback a THR write changes LSR")
        XCTAssertEqual(uart.read(6, size: 1), 0x30)
    }

    func testATHRWriteDeclaredOutputOnlyChangesNothingButTheConsole() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        let hash = device.stateHash()
        XCTAssertEqual(device.stableReads().first?.outputWritesTo, [0])
        uart.write(0, 0x41, size: 1)
        XCTAssertEqual(device.stateHash(), hash, "the hart may keep such a write from the device")
        XCTAssertEqual(uart.take().console, [0x41])
        uart.write(1, 0x02, size: 1)  // IER.ETBEI: a THR write now raises THRE
        XCTAssertEqual(device.stableReads().first?.outputWritesTo, [])
        uart.write(1, 0, size: 1)
        uart.write(4, 0x10, size: 1)  // loopback: THR feeds the receive FIFO
        XCTAssertEqual(device.stableReads().first?.outputWritesTo, [])
    }

    func testWritesDeclaredToKeepLineStatusDoKeepIt() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        let before = device.stableReads()
        uart.write(0, 0x41, size: 1)  // THR
        uart.write(7, 0x55, size: 1)  // SCR
        XCTAssertEqual(device.stableReads(), before)
        XCTAssertEqual(uart.take().console, [0x41])

        uart.write(4, 0x10, size: 1)  // MCR loopback: a transmitted byte now lands in the receive FIFO
        XCTAssertEqual(device.stableReads().first?.keptByWritesTo, [7])
        uart.write(0, 0x42, size: 1)
        XCTAssertEqual(device.stableReads().first?.value, 0x61, "data ready: THR did change LSR")
    }

    func testReceiveFifoTriggerTimeoutAndNoLoss() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        uart.write(fcr, 0xc7, size: 1)  // FIFO on, trigger level 14
        uart.write(ier, ierRDI, size: 1)
        XCTAssertTrue(uart.take().sourceLevels.isEmpty)

        let input = (0..<100).map { UInt8($0) }
        device.receive(input, clock: clockZero, effects: &uart.effects)
        XCTAssertEqual(uart.take().sourceChanges, ["10=1"])
        XCTAssertEqual(uart.read(iir, size: 1), 0xc4, "16 bytes visible, at or above the trigger level")
        var received: [UInt8] = []
        for _ in 0..<90 { received.append(UInt8(uart.read(rx, size: 1)!)) }
        // 10 left: below the trigger, reported as a character timeout.
        XCTAssertEqual(uart.read(iir, size: 1), 0xcc)
        while uart.read(lsr, size: 1)! & 0x01 != 0 { received.append(UInt8(uart.read(rx, size: 1)!)) }
        XCTAssertEqual(received, input)
        XCTAssertEqual(uart.read(iir, size: 1), 0xc1)
        XCTAssertEqual(uart.take().sourceChanges, ["10=0"])
        XCTAssertEqual(device.pendingInputCount, 0)
    }

    func testReceiveWithoutFifoHoldsOneByteAtATime() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        device.receive([1, 2, 3], clock: clockZero, effects: &uart.effects)
        XCTAssertEqual(uart.take().sourceChanges, [], "no interrupt before IER.RDI")
        uart.write(ier, ierRDI, size: 1)
        XCTAssertEqual(uart.take().sourceChanges, ["10=1"])
        XCTAssertEqual(uart.read(iir, size: 1), 0x04)
        XCTAssertEqual(device.pendingInputCount, 3)
        XCTAssertEqual([uart.read(rx, size: 1), uart.read(rx, size: 1), uart.read(rx, size: 1)], [1, 2, 3])
        XCTAssertEqual(uart.read(lsr, size: 1)! & 0x01, 0)
    }

    func testClearingTheReceiveFifoDropsOnlyVisibleBytes() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        uart.write(fcr, 0x01, size: 1)
        device.receive(Array(0..<20), clock: clockZero, effects: &uart.effects)
        uart.write(fcr, 0x03, size: 1)  // clear RX: the 16 bytes in the FIFO go, the queued 4 come in
        XCTAssertEqual(device.pendingInputCount, 4)
        XCTAssertEqual(uart.read(rx, size: 1), 16)
    }

    func testDivisorLatchScratchAndLineControl() {
        var uart = DeviceProbe(UART16550())
        uart.write(ier, 0x05, size: 1)
        uart.write(lcr, 0x83, size: 1)  // DLAB, 8N1
        uart.write(rx, 0x01, size: 1)
        uart.write(ier, 0x02, size: 1)
        XCTAssertEqual(uart.read(rx, size: 1), 0x01)
        XCTAssertEqual(uart.read(ier, size: 1), 0x02)
        uart.write(lcr, 0x03, size: 1)
        XCTAssertEqual(uart.read(ier, size: 1), 0x05, "IER untouched by divisor latch writes")
        XCTAssertEqual(uart.take().console, [], "a divisor write is not a transmitted byte")
        uart.write(scr, 0xa5, size: 1)
        XCTAssertEqual(uart.read(scr, size: 1), 0xa5)
        XCTAssertEqual(uart.read(lcr, size: 1), 0x03)
        uart.write(ier, 0xff, size: 1)
        XCTAssertEqual(uart.read(ier, size: 1), 0x0f, "IER keeps its four defined bits")
    }

    /// The 8250 autoconfig loopback test: MCR = LOOP | RTS | OUT2 must read back as CTS | DCD in MSR.
    func testLoopback() {
        let device = UART16550()
        var uart = DeviceProbe(device)
        XCTAssertEqual(uart.read(msr, size: 1)! & 0xf0, 0xb0, "DCD, DSR and CTS outside loopback")
        uart.write(mcr, 0x1a, size: 1)
        XCTAssertEqual(uart.read(msr, size: 1)! & 0xf0, 0x90)
        uart.write(rx, 0x55, size: 1)
        XCTAssertEqual(uart.take().console, [])
        XCTAssertEqual(uart.read(lsr, size: 1)! & 0x01, 0x01)
        XCTAssertEqual(uart.read(rx, size: 1), 0x55)
        uart.write(mcr, 0x0b, size: 1)
        device.receive([7], clock: clockZero, effects: &uart.effects)
        XCTAssertEqual(uart.read(rx, size: 1), 7)
    }

    func testStateHashIsDeterministicAndTracksState() {
        func run(_ input: [UInt8]) -> UInt64 {
            let device = UART16550()
            var uart = DeviceProbe(device)
            uart.write(fcr, 0x01, size: 1)
            device.receive(input, clock: clockZero, effects: &uart.effects)
            _ = uart.read(rx, size: 1)
            return device.stateHash()
        }
        XCTAssertEqual(run([1, 2, 3]), run([1, 2, 3]))
        XCTAssertNotEqual(run([1, 2, 3]), run([1, 2, 4]))
    }
}
