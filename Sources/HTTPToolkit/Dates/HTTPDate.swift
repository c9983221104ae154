/// HTTP-date parsing and formatting (RFC 9110 §5.6.7) without Foundation.
///
/// Times are whole seconds since the Unix epoch (UTC), the resolution of an HTTP-date.
package enum HTTPDate {
    private static let dayNames: [String] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let longDayNames: [String] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let monthNames: [String] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats `seconds` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    package static func format(_ seconds: Int64) -> String {
        let days = floorDiv(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        var out = ""
        out.reserveCapacity(29)
        out += dayNames[weekday]
        out += ", "
        out += twoDigits(day)
        out += " "
        out += monthNames[month - 1]
        out += " "
        out += String(year)
        out += " "
        out += twoDigits(Int(secondOfDay / 3600))
        out += ":"
        out += twoDigits(Int(secondOfDay / 60 % 60))
        out += ":"
        out += twoDigits(Int(secondOfDay % 60))
        out += " GMT"
        return out
    }

    /// Parses an HTTP-date in any of the three formats a recipient must accept: IMF-fixdate,
    /// the obsolete RFC 850 format and ANSI C's asctime format.
    ///
    /// - Parameters:
    ///   - value: the field value; surrounding whitespace is ignored.
    ///   - now: the current time, used to place an RFC 850 two-digit year: a year more than
    ///     50 years in the future is read as the most recent past year with the same last two
    ///     digits (RFC 9110 §5.6.7).
    /// - Returns: the time in seconds since the epoch, or `nil` when the value is not a valid HTTP-date.
    package static func parse(_ value: some StringProtocol, now: Int64? = nil) -> Int64? {
        Self.parse(Array(value.utf8), now: now)
    }

    /// Parses an HTTP-date given as the raw bytes of a header value, as ``parse(_:now:)`` does.
    package static func parse(_ value: some Collection<UInt8>, now: Int64? = nil) -> Int64? {
        let bytes = Array(value)
        var lo = 0
        var hi = bytes.count
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo += 1 }
        while hi > lo, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 { hi -= 1 }
        let s = bytes[lo..<hi]
        if let commaIndex = s.firstIndex(of: UInt8(ascii: ",")) {
            let dayName = s[s.startIndex..<commaIndex]
            if commaIndex - s.startIndex == 3 {
                guard dayNames.contains(where: { matches(dayName, $0) }) else { return nil }
                return parseIMFFixdate(s[(commaIndex + 1)...])
            }
            guard longDayNames.contains(where: { matches(dayName, $0) }) else { return nil }
            return parseRFC850(s[(commaIndex + 1)...], now: now)
        }
        return parseASCTime(s)
    }

    // IMF-fixdate after "Day,": " 06 Nov 1994 08:49:37 GMT"
    private static func parseIMFFixdate(_ s: ArraySlice<UInt8>) -> Int64? {
        var r = Reader(s)
        guard r.expect(" "), let day = r.digits(exactly: 2), r.expect(" "),
            let month = r.month(), r.expect(" "), let year = r.digits(exactly: 4), r.expect(" "),
            let time = r.timeOfDay(), r.expect(" GMT"), r.atEnd
        else { return nil }
        return makeTime(year: year, month: month, day: day, time: time)
    }

    // RFC 850 after "Weekday,": " 06-Nov-94 08:49:37 GMT"
    private static func parseRFC850(_ s: ArraySlice<UInt8>, now: Int64?) -> Int64? {
        var r = Reader(s)
        guard r.expect(" "), let day = r.digits(exactly: 2), r.expect("-"),
            let month = r.month(), r.expect("-"), let yy = r.digits(exactly: 2), r.expect(" "),
            let time = r.timeOfDay(), r.expect(" GMT"), r.atEnd
        else { return nil }
        let currentYear = now.map { civil(fromDays: floorDiv($0, 86_400)).year } ?? 2000
        var year = currentYear - currentYear % 100 + yy
        if year > currentYear + 50 { year -= 100 }
        return makeTime(year: year, month: month, day: day, time: time)
    }

    // asctime: "Sun Nov  6 08:49:37 1994"
    private static func parseASCTime(_ s: ArraySlice<UInt8>) -> Int64? {
        var r = Reader(s)
        guard let dayName = r.take(3), dayNames.contains(where: { matches(dayName, $0) }),
            r.expect(" "), let month = r.month(), r.expect(" ")
        else { return nil }
        let day: Int
        if r.expect(" ") {
            guard let d = r.digits(exactly: 1) else { return nil }
            day = d
        } else {
            guard let d = r.digits(exactly: 2) else { return nil }
            day = d
        }
        guard r.expect(" "), let time = r.timeOfDay(), r.expect(" "),
            let year = r.digits(exactly: 4), r.atEnd
        else { return nil }
        return makeTime(year: year, month: month, day: day, time: time)
    }

    private static func makeTime(year: Int, month: Int, day: Int, time: Int) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return days(fromCivil: year, month, day) * 86_400 + Int64(time)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func matches(_ bytes: ArraySlice<UInt8>, _ name: String) -> Bool {
        bytes.elementsEqual(name.utf8)
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0" + String(value) : String(value)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : (a - b + 1) / b
    }

    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private struct Reader {
        var bytes: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

        var atEnd: Bool { bytes.isEmpty }

        mutating func expect(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count >= count else { return false }
            let matched = literal.withUTF8Buffer { bytes.prefix(count).elementsEqual($0) }
            if matched { bytes = bytes.dropFirst(count) }
            return matched
        }

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard bytes.count >= count else { return nil }
            defer { bytes = bytes.dropFirst(count) }
            return bytes.prefix(count)
        }

        mutating func digits(exactly count: Int) -> Int? {
            guard let chunk = take(count) else { return nil }
            var value = 0
            for byte in chunk {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }

        mutating func month() -> Int? {
            guard let chunk = take(3) else { return nil }
            guard let index = HTTPDate.monthNames.firstIndex(where: { chunk.elementsEqual($0.utf8) }) else { return nil }
            return index + 1
        }

        // hour ":" minute ":" second; leap second 60 is allowed by the grammar.
        mutating func timeOfDay() -> Int? {
            guard let h = digits(exactly: 2), expect(":"), let m = digits(exactly: 2), expect(":"),
                let s = digits(exactly: 2), h < 24, m < 60, s <= 60
            else { return nil }
            return h * 3600 + m * 60 + s
        }
    }
}
