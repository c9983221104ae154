import Testing

@testable import ElasticSim

struct AlignedArrayTests {
    /// The address of element `i`.
    private func address<T>(of array: AlignedArray<T>, at i: Int) -> UInt {
        array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress! + i) }
    }

    /// Every group record lies in one cache line, however far the arrays grew (small buffers and
    /// ones large enough for huge pages): a record split over two lines costs a rate change two
    /// cache misses.
    @Test(arguments: [1, 17, 5000, 200_000])
    func recordsStayWithinOneCacheLine(count: Int) {
        #expect(MemoryLayout<FlowGroup>.stride == AlignedArray<FlowGroup>.lineSize)
        #expect(AlignedArray<GroupInfo>.lineSize % MemoryLayout<GroupInfo>.stride == 0)
        #expect(MemoryLayout<Simulation.SitePool>.stride == AlignedArray<Simulation.SitePool>.lineSize)
        var groups = AlignedArray<FlowGroup>()
        var infos = AlignedArray<GroupInfo>()
        for i in 0..<count {
            groups.append(FlowGroup(rate: Double(i), cap: 1, limit: .infinity, linkStart: 0, linkEnd: 0, owner: -1))
            infos.append(GroupInfo())
        }
        let line = UInt(AlignedArray<FlowGroup>.lineSize)
        for i in [0, count / 2, count - 1] {
            let g = address(of: groups, at: i)
            #expect(g % line == 0)
            #expect(g / line == (g + UInt(MemoryLayout<FlowGroup>.stride) - 1) / line)
            let info = address(of: infos, at: i)
            #expect(info / line == (info + UInt(MemoryLayout<GroupInfo>.stride) - 1) / line)
        }
        #expect((0..<count).allSatisfy { groups[$0].rate == Double($0) })
    }

    /// A copy keeps its values when the original changes or grows, and the other way round.
    @Test func copiesAreIndependent() {
        var a = AlignedArray<Int>()
        for i in 0..<100 { a.append(i) }
        var b = a
        a[3] = -3
        b.append(100)
        b[5] = -5
        #expect(a.count == 100 && b.count == 101)
        #expect(a[3] == -3 && a[5] == 5)
        #expect(b[3] == 3 && b[5] == -5 && b[100] == 100)
        #expect(Array(a.indices.map { a[$0] }) == (0..<100).map { $0 == 3 ? -3 : $0 })
    }

    /// Elements that own memory are kept alive by the array and released with it.
    @Test func ownsItsElements() {
        final class Token {}
        weak var watched: Token?
        do {
            var a = AlignedArray<Token>()
            for _ in 0..<40 { a.append(Token()) }
            watched = a[39]
            #expect(watched != nil)
        }
        #expect(watched == nil)
    }
}
