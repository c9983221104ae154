extension StringProtocol where SubSequence == Substring {
    /// The value without leading and trailing spaces and horizontal tabs (OWS, RFC 9110 §5.6.3).
    package func trimmingOWS() -> Substring {
        var s = self[...]
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return s
    }
}
