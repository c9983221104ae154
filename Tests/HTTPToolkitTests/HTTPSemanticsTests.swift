import HTTPToolkit
import Testing

struct HTTPSemanticsTests {
    @Test("RFC 9110 §5.6.7: HTTP-date is formatted as IMF-fixdate")
    func formatsDates() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
    }

    @Test("RFC 9110 §5.6.7: recipients accept IMF-fixdate, RFC 850 and asctime")
    func parsesDates() {
        #expect(HTTPDate.parse(Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)) == 784_111_777)
        #expect(HTTPDate.parse(Array("Sunday, 06-Nov-94 08:49:37 GMT".utf8)) == 784_111_777)
        #expect(HTTPDate.parse(Array("Sun Nov  6 08:49:37 1994".utf8)) == 784_111_777)
        #expect(HTTPDate.parse(Array("yesterday".utf8)) == nil)
        #expect(HTTPDate.parse(Array("Sun, 06 Nov 1994 25:49:37 GMT".utf8)) == nil)
        for t: Int64 in [0, 1, 86399, 1_700_000_000, 4_102_444_800] {
            #expect(HTTPDate.parse(Array(HTTPDate.format(t).utf8)) == t)
        }
    }

    @Test("RFC 9110 §14.1.2: byte range forms a-b, a- and -n")
    func rangeForms() {
        let r = { (s: String) in ByteRanges.resolve(Array(s.utf8), length: 100) }
        #expect(r("bytes=0-9") == .ranges([0..<10]))
        #expect(r("bytes=90-") == .ranges([90..<100]))
        #expect(r("bytes=-10") == .ranges([90..<100]))
        #expect(r("bytes=-200") == .ranges([0..<100]))
        #expect(r("bytes=95-200") == .ranges([95..<100]))
        #expect(r("bytes=0-0,-1") == .ranges([0..<1, 99..<100]))
        #expect(r("Bytes=0-1") == .ranges([0..<2]))
    }

    @Test("RFC 9110 §14.2: invalid range syntax is ignored; unsatisfiable ranges give 416")
    func invalidAndUnsatisfiable() {
        let r = { (s: String) in ByteRanges.resolve(Array(s.utf8), length: 100) }
        #expect(r("bytes=9-1") == .whole)
        #expect(r("items=0-1") == .whole)
        #expect(r("bytes=a-b") == .whole)
        #expect(r("bytes=100-") == .unsatisfiable)
        #expect(r("bytes=-0") == .unsatisfiable)
        #expect(ByteRanges.resolve(Array("bytes=0-".utf8), length: 0) == .unsatisfiable)
        // Overlapping ranges are served whole rather than amplified.
        #expect(r("bytes=0-50,10-20") == .whole)
    }

    @Test("RFC 9110 §13.2.2: precondition order and outcomes")
    func preconditions() {
        let etag = Array("abc".utf8)
        func eval(
            ifMatch: String? = nil,
            ius: String? = nil,
            inm: String? = nil,
            ims: String? = nil
        ) -> Preconditions.Outcome {
            Preconditions.evaluate(
                ifMatch: ifMatch.map { [Array($0.utf8)] },
                ifUnmodifiedSince: ius.map { Array($0.utf8) },
                ifNoneMatch: inm.map { [Array($0.utf8)] },
                ifModifiedSince: ims.map { Array($0.utf8) },
                etag: etag,
                lastModified: 784_111_777
            )
        }
        #expect(eval(inm: "\"abc\"") == .notModified)
        #expect(eval(inm: "W/\"abc\"") == .notModified)
        #expect(eval(inm: "\"x\", \"abc\"") == .notModified)
        #expect(eval(inm: "*") == .notModified)
        #expect(eval(inm: "\"x\"") == .proceed)
        #expect(eval(ims: "Sun, 06 Nov 1994 08:49:37 GMT") == .notModified)
        #expect(eval(ims: "Sun, 06 Nov 1994 08:49:36 GMT") == .proceed)
        // If-None-Match takes precedence over If-Modified-Since.
        #expect(eval(inm: "\"x\"", ims: "Sun, 06 Nov 1994 08:49:37 GMT") == .proceed)
        #expect(eval(ifMatch: "\"x\"") == .preconditionFailed)
        #expect(eval(ifMatch: "W/\"abc\"") == .preconditionFailed)
        #expect(eval(ifMatch: "\"abc\"") == .proceed)
        #expect(eval(ifMatch: "*") == .proceed)
        #expect(eval(ius: "Sun, 06 Nov 1994 08:49:36 GMT") == .preconditionFailed)
        #expect(eval(ius: "Sun, 06 Nov 1994 08:49:37 GMT") == .proceed)
    }

    @Test("RFC 9110 §13.1.5: If-Range needs a strong entity-tag match or the exact Last-Modified")
    func ifRange() {
        let etag = Array("abc".utf8)
        #expect(Preconditions.ifRangeHolds(Array("\"abc\"".utf8), etag: etag, lastModified: 784_111_777))
        #expect(!Preconditions.ifRangeHolds(Array("W/\"abc\"".utf8), etag: etag, lastModified: 784_111_777))
        #expect(!Preconditions.ifRangeHolds(Array("\"x\"".utf8), etag: etag, lastModified: 784_111_777))
        #expect(Preconditions.ifRangeHolds(Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8), etag: etag, lastModified: 784_111_777))
        #expect(!Preconditions.ifRangeHolds(Array("Sun, 06 Nov 1994 08:49:38 GMT".utf8), etag: etag, lastModified: 784_111_777))
    }
}
