import HTTPToolkit
import Testing

struct HTTPDateTests {
    // Sun, 06 Nov 1994 08:49:37 GMT
    static let example: Int64 = 784_111_777

    @Test("RFC 9110 §5.6.7: IMF-fixdate is parsed and formatted")
    func imfFixdate() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == Self.example)
        #expect(HTTPDate.format(Self.example) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.parse("Thu, 29 Feb 2024 23:59:59 GMT") == 1_709_251_199)
    }

    @Test("RFC 9110 §5.6.7: formatting round-trips over many dates")
    func roundTrip() {
        var t: Int64 = -86_400 * 365
        while t < 4_102_444_800 {
            #expect(HTTPDate.parse(HTTPDate.format(t)) == t)
            t += 86_400 * 37 + 3_607
        }
    }

    @Test("RFC 9110 §5.6.7: the obsolete RFC 850 format is accepted")
    func rfc850() {
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: 1_700_000_000) == Self.example)
    }

    @Test("RFC 9110 §5.6.7: an RFC 850 year more than 50 years ahead is in the past century")
    func rfc850TwoDigitYear() {
        let now = HTTPDate.parse("Mon, 01 Jan 2024 00:00:00 GMT")!
        let in2070 = HTTPDate.parse("Wednesday, 01-Jan-70 00:00:00 GMT", now: now)
        #expect(in2070 == HTTPDate.parse("Wed, 01 Jan 2070 00:00:00 GMT"))
        let in1975 = HTTPDate.parse("Wednesday, 01-Jan-75 00:00:00 GMT", now: now)
        #expect(in1975 == HTTPDate.parse("Wed, 01 Jan 1975 00:00:00 GMT"))
    }

    @Test("RFC 9110 §5.6.7: ANSI C asctime format is accepted")
    func asctime() {
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == Self.example)
        #expect(HTTPDate.parse("Sun Nov 16 08:49:37 1994") == Self.example + 10 * 86_400)
    }

    @Test(
        "RFC 9110 §5.6.7: invalid dates are rejected",
        arguments: [
            "0", "", "-1", "Sun, 06 Nov 1994 08:49:37", "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Sun Nov 6 08:49:37 1994",
        ])
    func invalid(value: String) {
        #expect(HTTPDate.parse(value) == nil)
    }
}
