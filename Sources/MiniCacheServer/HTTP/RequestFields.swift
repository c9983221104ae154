import NIOHTTP1

extension RequestHead {
    /// The whole request head as NIO's type: method, origin-form target and every field line,
    /// read again from the bytes ``HTTPRequestParser`` validated. Only the cache path (misses,
    /// `Vary`, other methods) pays for it; the static path reads the few fields it keeps.
    /// - Parameter bytes: the buffered bytes the head was parsed from (the head at offset 0).
    package func fullHead(in bytes: UnsafeRawBufferPointer) -> HTTPRequestHead {
        var i = 0
        while i + 1 < self.headLength, bytes[i] == 13, bytes[i + 1] == 10 { i += 2 }
        let methodStart = i
        while bytes[i] != 32 { i += 1 }
        let method = HTTPMethod(rawValue: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[methodStart..<i]), as: UTF8.self))
        var target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[self.target.lowerBound..<self.target.upperBound]), as: UTF8.self)
        if target.isEmpty {
            target = "/"
        } else if target.utf8.first == UInt8(ascii: "?") {
            target = "/" + target
        }
        while !(bytes[i] == 13 && bytes[i + 1] == 10) { i += 1 }
        i += 2
        var headers = HTTPHeaders()
        let end = self.headLength - 2
        while i < end {
            let nameStart = i
            while bytes[i] != 58 { i += 1 }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<i]), as: UTF8.self)
            i += 1
            while bytes[i] == 32 || bytes[i] == 9 { i += 1 }
            let valueStart = i
            var valueEnd = i
            while bytes[i] != 13 {
                if bytes[i] != 32 && bytes[i] != 9 { valueEnd = i + 1 }
                i += 1
            }
            headers.add(name: name, value: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self))
            i += 2
        }
        return HTTPRequestHead(
            version: HTTPVersion(major: 1, minor: Int(self.minorVersion)),
            method: method,
            uri: target,
            headers: headers
        )
    }
}
