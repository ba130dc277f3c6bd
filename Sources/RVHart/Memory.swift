/// The outcome of resolving one access that stays within a page.
struct Resolution {
    /// 0 when the access may proceed; otherwise the exception cause.
    var fault: UInt64
    var paddr: UInt64
    /// RAM or ROM; nil for a device window (when `fault` is 0).
    var host: UnsafeMutableRawPointer?
}

extension Hart {
    // MARK: Physical memory

    /// RAM or ROM host address for `size` bytes at `paddr`, or nil.
    @inline(__always)
    func hostAddress(physical paddr: UInt64, size: UInt64) -> UnsafeMutableRawPointer? {
        if paddr >= ramBase && paddr &- ramBase < ramSize && ramSize &- (paddr &- ramBase) >= size {
            return ramHost + Int(paddr &- ramBase)
        }
        if paddr >= romBase && paddr &- romBase < romSize && romSize &- (paddr &- romBase) >= size {
            return romHost + Int(paddr &- romBase)
        }
        return nil
    }

    func isROM(_ paddr: UInt64) -> Bool {
        paddr >= romBase && paddr &- romBase < romSize
    }

    func isDevice(_ paddr: UInt64, size: UInt64) -> Bool {
        mmioRegions.contains { $0.contains(paddr, size: size) }
    }

    /// Whether some device window overlaps the 4 KiB page at `page`.
    func isDevicePage(_ page: UInt64) -> Bool {
        mmioRegions.contains { $0.base < page &+ 4096 && page < $0.base &+ $0.size }
    }

    // MARK: Resolving an access

    /// Resolves an access of `size` bytes (within one page) at `vaddr`: TLB, translation, physical map and
    /// PMP; refills the TLB when the whole page allows the access.
    func resolve(_ vaddr: UInt64, size: UInt64, kind: AccessKind) -> Resolution {
        let table = kind == .fetch ? fetchTLB : kind == .load ? loadTLB : storeTLB
        let index = Int((vaddr >> 12) & TLBLayout.indexMask)
        let page = vaddr & ~0xfff
        let entry = table[index]
        if entry.tag & ~TLBEntry.markers == page {
            if entry.tag & TLBEntry.deviceMarker != 0 {
                // PMP allowed the whole page when it was filled; the access must lie in a device's window.
                let paddr = vaddr &+ entry.hostOffset
                return Resolution(fault: isDevice(paddr, size: size) ? 0 : Hart.accessFault(kind), paddr: paddr, host: nil)
            }
            let host = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: vaddr &+ entry.hostOffset))!
            let paddr = physicalAddress(ofHost: host)
            if entry.tag & TLBEntry.watchMarker != 0 && watchpointFires(paddr, size: size, store: kind == .store) {
                return Resolution(fault: Hart.watchFault, paddr: paddr, host: nil)
            }
            if entry.tag & TLBEntry.codeMarker != 0 { noteStore(physical: paddr, size: size) }
            return Resolution(fault: 0, paddr: paddr, host: host)
        }
        counters.tlbMisses[kind.rawValue] &+= 1
        let set = (table - tlb) / TLBLayout.setStride
        let privilege = TLBLayout.setPrivilege[set]
        let (paddr, pageFault, pageMask) = translate(vaddr, kind: kind, set: set)
        if pageFault != 0 { return Resolution(fault: pageFault, paddr: 0, host: nil) }
        let accessFault = Hart.accessFault(kind)
        guard pmpAllows(paddr, size: size, kind: kind, privilege: privilege) else {
            return Resolution(fault: accessFault, paddr: paddr, host: nil)
        }
        let physicalPage = paddr & ~0xfff
        guard let host = hostAddress(physical: paddr, size: size) else {
            guard kind != .fetch && isDevice(paddr, size: size) else {
                return Resolution(fault: accessFault, paddr: paddr, host: nil)
            }
            if pmpAllows(physicalPage, size: 4096, kind: kind, privilege: privilege) {
                refill(table, index, tag: page | TLBEntry.deviceMarker, hostOffset: physicalPage &- page, pageMask: pageMask)
            }
            return Resolution(fault: 0, paddr: paddr, host: nil)
        }
        if kind == .store && isROM(paddr) { return Resolution(fault: accessFault, paddr: paddr, host: nil) }
        let watched = !watchedPages.isEmpty && kind != .fetch && watchedPages.contains(physicalPage)
        if watched && watchpointFires(paddr, size: size, store: kind == .store) {
            return Resolution(fault: Hart.watchFault, paddr: paddr, host: nil)
        }
        if kind == .store { noteStore(physical: paddr, size: size) }
        if pmpAllows(physicalPage, size: 4096, kind: kind, privilege: privilege) {
            var tag = page
            if kind == .store && isCodePage(paddr) { tag |= TLBEntry.codeMarker }
            if watched { tag |= TLBEntry.watchMarker }
            let hostPage = UInt64(UInt(bitPattern: host)) & ~0xfff
            refill(table, index, tag: tag, hostOffset: hostPage &- page, pageMask: pageMask)
            if kind == .store, let code = codeIndex(paddr) { storeEntryEpochs[code] = storeEpoch }
        }
        return Resolution(fault: 0, paddr: paddr, host: host)
    }

    /// Fills slot `index` of `table` (a kind's entries of one set) from a leaf with offset mask `pageMask`.
    private func refill(_ table: UnsafeMutablePointer<TLBEntry>, _ index: Int, tag: UInt64, hostOffset: UInt64,
                        pageMask: UInt64) {
        table[index] = TLBEntry(tag: tag, hostOffset: hostOffset)
        tlbPageMasks[table - tlb + index] = pageMask
        if table - tlb >= TLBLayout.setStride { noteLeaf(tag & ~0xfff, pageMask) }
        counters.tlbRefills &+= 1
    }

    static func accessFault(_ kind: AccessKind) -> UInt64 {
        kind == .fetch ? Cause.fetchAccess : kind == .load ? Cause.loadAccess : Cause.storeAccess
    }

    func physicalAddress(ofHost host: UnsafeMutableRawPointer) -> UInt64 {
        let ramOffset = UInt64(UInt(bitPattern: host)) &- UInt64(UInt(bitPattern: ramHost))
        if ramOffset < ramSize { return ramBase &+ ramOffset }
        return romBase &+ (UInt64(UInt(bitPattern: host)) &- UInt64(UInt(bitPattern: romHost)))
    }

    // MARK: Slow loads and stores

    func raise(_ cause: UInt64, _ value: UInt64) {
        if cause == Hart.watchFault {
            stop = .watch
            return
        }
        stop = .trap
        trapCause = cause
        trapValue = value
    }

    /// A load the TLB could not serve: translation, page-crossing, devices. Returns the zero-extended
    /// value; on a trap or a device access sets `stop`. `executed`: instructions of this run before this one.
    @inline(never)
    func loadSlow(_ vaddr: UInt64, size: UInt64, destination: Int, kind: MMIOLoadKind, step: UInt64,
                  executed: UInt64) -> UInt64 {
        let first = 4096 - (vaddr & 0xfff)
        if size <= first {
            let r = resolve(vaddr, size: size, kind: .load)
            if r.fault != 0 {
                raise(r.fault, vaddr)
                return 0
            }
            if let host = r.host { return readLittleEndian(host, size: size) }
            if vaddr & (size - 1) != 0 {
                raise(Cause.loadMisaligned, vaddr)
                return 0
            }
            if let value = deviceShortcut.read(r.paddr, size: size, retired: retired &+ executed) { return value }
            pendingAccess = MMIOAccess(address: r.paddr, size: Int(size), isWrite: false, value: 0)
            pendingVirtualAddress = vaddr
            mmioDestination = destination
            mmioKind = kind
            mmioStep = step
            stop = .mmio
            return 0
        }
        let low = resolve(vaddr, size: first, kind: .load)
        if low.fault != 0 {
            raise(low.fault, vaddr)
            return 0
        }
        let high = resolve(vaddr &+ first, size: size - first, kind: .load)
        if high.fault != 0 {
            raise(high.fault, vaddr &+ first)
            return 0
        }
        guard let lowHost = low.host, let highHost = high.host else {
            raise(Cause.loadMisaligned, vaddr)
            return 0
        }
        return readLittleEndian(lowHost, size: first) | readLittleEndian(highHost, size: size - first) << (8 * first)
    }

    @inline(never)
    func storeSlow(_ vaddr: UInt64, size: UInt64, value: UInt64, step: UInt64, executed: UInt64) {
        let first = 4096 - (vaddr & 0xfff)
        if size <= first {
            let r = resolve(vaddr, size: size, kind: .store)
            if r.fault != 0 {
                raise(r.fault, vaddr)
                return
            }
            if let host = r.host {
                writeLittleEndian(host, size: size, value: value)
                return
            }
            if vaddr & (size - 1) != 0 {
                raise(Cause.storeMisaligned, vaddr)
                return
            }
            if deviceShortcut.write(r.paddr, size: size, value: value, retired: retired &+ executed) { return }
            let mask: UInt64 = size == 8 ? .max : (1 << (8 * size)) - 1
            pendingAccess = MMIOAccess(address: r.paddr, size: Int(size), isWrite: true, value: value & mask)
            pendingVirtualAddress = vaddr
            mmioKind = .store
            mmioStep = step
            stop = .mmio
            return
        }
        let low = resolve(vaddr, size: first, kind: .store)
        if low.fault != 0 {
            raise(low.fault, vaddr)
            return
        }
        let high = resolve(vaddr &+ first, size: size - first, kind: .store)
        if high.fault != 0 {
            raise(high.fault, vaddr &+ first)
            return
        }
        guard let lowHost = low.host, let highHost = high.host else {
            raise(Cause.storeMisaligned, vaddr)
            return
        }
        writeLittleEndian(lowHost, size: first, value: value)
        writeLittleEndian(highHost, size: size - first, value: value >> (8 * first))
    }

    /// The host address for an LR/SC/AMO of `size` bytes (aligned, RAM only), or nil with a trap raised.
    @inline(never)
    func atomicAddress(_ vaddr: UInt64, size: UInt64, kind: AccessKind) -> UnsafeMutableRawPointer? {
        if vaddr & (size - 1) != 0 {
            raise(kind == .load ? Cause.loadMisaligned : Cause.storeMisaligned, vaddr)
            return nil
        }
        let r = resolve(vaddr, size: size, kind: kind)
        if r.fault != 0 {
            raise(r.fault, vaddr)
            return nil
        }
        guard let host = r.host else {
            raise(kind == .load ? Cause.loadAccess : Cause.storeAccess, vaddr)
            return nil
        }
        return host
    }

    @inline(__always)
    func readLittleEndian(_ host: UnsafeMutableRawPointer, size: UInt64) -> UInt64 {
        switch size {
        case 1: return UInt64(host.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: host.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: host.loadUnaligned(as: UInt32.self)))
        case 8: return UInt64(littleEndian: host.loadUnaligned(as: UInt64.self))
        default:
            var value: UInt64 = 0
            for index in 0..<Int(size) { value |= UInt64(host.load(fromByteOffset: index, as: UInt8.self)) << (8 * index) }
            return value
        }
    }

    @inline(__always)
    func writeLittleEndian(_ host: UnsafeMutableRawPointer, size: UInt64, value: UInt64) {
        switch size {
        case 1: host.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: host.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 4: host.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        case 8: host.storeBytes(of: value.littleEndian, as: UInt64.self)
        default:
            for index in 0..<Int(size) {
                host.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * index)), toByteOffset: index, as: UInt8.self)
            }
        }
    }
}
