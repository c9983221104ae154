/// Splitting of list-based field values (RFC 9110 §5.6.1) that respects quoted strings.
package enum HTTPListParser {
    /// The non-empty elements of a comma-separated list, untrimmed inner text kept as is;
    /// commas inside quoted strings do not split.
    package static func elements(_ value: Substring) -> [Substring] {
        var result: [Substring] = []
        var start = value.startIndex
        var index = value.startIndex
        var inQuotes = false
        while index < value.endIndex {
            let c = value[index]
            if inQuotes {
                if c == "\\" {
                    index = value.index(after: index)
                    if index == value.endIndex { break }
                } else if c == "\"" {
                    inQuotes = false
                }
            } else if c == "\"" {
                inQuotes = true
            } else if c == "," {
                let element = value[start..<index]
                if !element.trimmingOWS().isEmpty { result.append(element.trimmingOWS()) }
                start = value.index(after: index)
            }
            index = value.index(after: index)
        }
        let last = value[start..<value.endIndex]
        if !last.trimmingOWS().isEmpty { result.append(last.trimmingOWS()) }
        return result
    }

    /// The elements of a whole field line.
    package static func elements(_ value: String) -> [Substring] {
        elements(Substring(value))
    }

    /// The content of a quoted-string with its escapes removed, or `value` unchanged when it is a token.
    package static func unquote(_ value: Substring) -> String {
        guard value.count >= 2, value.first == "\"", value.last == "\"" else { return String(value) }
        var out = ""
        var escaped = false
        for c in value.dropFirst().dropLast() {
            if escaped {
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
