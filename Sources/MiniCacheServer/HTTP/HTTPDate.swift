/// HTTP-date formatting and parsing (RFC 9110 §5.6.7) without Foundation.
package enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for a Unix time in seconds.
    package static func format(_ seconds: Int64) -> String {
        let dayNumber = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = Int(seconds - dayNumber * 86400)
        let (year, month, day) = Self.civil(fromDays: dayNumber)
        let weekday = Int(((dayNumber % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var y = "\(year)"
        while y.utf8.count < 4 { y = "0" + y }
        return "\(Self.days[weekday]), \(two(day)) \(Self.months[month - 1]) \(y) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }

    /// Parses IMF-fixdate, the obsolete RFC 850 form and asctime; nil when it is none of them.
    package static func parse<C: Collection<UInt8>>(_ bytes: C) -> Int64? {
        let b = Array(bytes)
        var fields: [[UInt8]] = []
        var current: [UInt8] = []
        for c in b {
            if c == 32 || c == 44 {
                if !current.isEmpty { fields.append(current) }
                current = []
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { fields.append(current) }
        guard fields.count >= 4 else { return nil }
        var day: Int?
        var month: Int?
        var year: Int?
        var time: [UInt8]?
        if fields.count == 6, fields[5] == Array("GMT".utf8) {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            day = Self.number(fields[1])
            month = Self.month(fields[2])
            year = Self.number(fields[3])
            time = fields[4]
        } else if fields.count == 4, fields[3] == Array("GMT".utf8) {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let parts = fields[1].split(separator: 45, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            day = Self.number(parts[0])
            month = Self.month(parts[1])
            if let y = Self.number(parts[2]) { year = parts[2].count == 2 ? (y < 70 ? 2000 + y : 1900 + y) : y }
            time = fields[2]
        } else if fields.count == 5 {
            // asctime: Sun Nov  6 08:49:37 1994
            month = Self.month(fields[1])
            day = Self.number(fields[2])
            time = fields[3]
            year = Self.number(fields[4])
        }
        guard let d = day, let m = month, let y = year, let t = time, t.count == 8, t[2] == 58, t[5] == 58,
            let hh = Self.number(t[0..<2]), let mm = Self.number(t[3..<5]), let ss = Self.number(t[6..<8]),
            (1...31).contains(d), hh < 24, mm < 60, ss < 61
        else { return nil }
        return Self.days(fromCivil: y, m, d) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
    }

    private static func number(_ s: some Collection<UInt8>) -> Int? {
        guard !s.isEmpty, s.count <= 4 else { return nil }
        var v = 0
        for c in s {
            guard c &- 48 < 10 else { return nil }
            v = v * 10 + Int(c &- 48)
        }
        return v
    }

    private static func month(_ s: some Collection<UInt8>) -> Int? {
        let text = String(decoding: s, as: UTF8.self)
        return Self.months.firstIndex(of: text).map { $0 + 1 }
    }

    // Days from civil and back: the proleptic Gregorian algorithms of H. Hinnant.
    private static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    private static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d))
    }
}
