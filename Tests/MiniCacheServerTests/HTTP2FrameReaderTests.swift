import NIOCore
import Testing

@testable import MiniCacheServer

/// How a server connection's bytes are cut into frames, without a channel: bytes in, frames or a
/// connection error out.
@Suite struct HTTP2FrameReaderTests {
    /// The preface and an empty SETTINGS frame.
    static let start = H2Wire.preface + H2Wire.settings()

    /// The frames `bytes` hold after the preface and SETTINGS, or the code of the connection error
    /// they make.
    static func read(_ bytes: [UInt8]) -> (frames: [HTTP2FrameReader.Frame], error: HTTP2Wire.ErrorCode?) {
        var reader = HTTP2FrameReader(maxHeaderBlock: 32768)
        reader.append(ByteBuffer(bytes: Self.start))
        guard case .settings = try? reader.next() else { return ([], .internalError) }
        reader.append(ByteBuffer(bytes: bytes))
        var frames: [HTTP2FrameReader.Frame] = []
        do {
            while let frame = try reader.next() { frames.append(frame) }
        } catch {
            return (frames, error.code)
        }
        return (frames, nil)
    }

    @Test("a header block's CONTINUATION frames are joined into one block (RFC 9113 §6.10)")
    func continuationJoined() throws {
        let bytes = H2Wire.frame(.headers, flags: H2Wire.endStream, stream: 1, [1, 2])
            + H2Wire.frame(.continuation, stream: 1, [3])
            + H2Wire.frame(.continuation, flags: H2Wire.endHeaders, stream: 1, [4, 5])
        let (frames, error) = Self.read(bytes)
        #expect(error == nil)
        try #require(frames.count == 1)
        guard case .headers(let stream, let block, let endStream, _) = frames[0] else {
            Issue.record("not HEADERS: \(frames[0])")
            return
        }
        #expect(stream == 1)
        #expect(endStream)
        #expect(Array(block.readableBytesView) == [1, 2, 3, 4, 5])
    }

    @Test(
        "a header block interrupted by another frame or another stream's CONTINUATION is a connection error PROTOCOL_ERROR (RFC 9113 §6.10)",
        arguments: [
            H2Wire.frame(.data, stream: 1, [0]),
            H2Wire.frame(.headers, flags: H2Wire.endHeaders, stream: 3, [0x82]),
            H2Wire.frame(.continuation, flags: H2Wire.endHeaders, stream: 3, [0x82]),
            H2Wire.frame(.ping, stream: 0, [0, 0, 0, 0, 0, 0, 0, 0]),
            H2Wire.settings(),
        ]
    )
    func interleavedContinuation(interruption: [UInt8]) {
        let bytes = H2Wire.frame(.headers, stream: 1, [0x82]) + interruption
            + H2Wire.frame(.continuation, flags: H2Wire.endHeaders, stream: 1, [0x84])
        let (frames, error) = Self.read(bytes)
        #expect(frames.isEmpty)
        #expect(error == .protocolError)
    }

    @Test("a CONTINUATION without a header block before it is a connection error PROTOCOL_ERROR (RFC 9113 §6.10)")
    func continuationAlone() {
        let bytes = H2Wire.frame(.headers, flags: H2Wire.endHeaders | H2Wire.endStream, stream: 1, [0x82])
            + H2Wire.frame(.continuation, flags: H2Wire.endHeaders, stream: 1, [0x84])
        let (frames, error) = Self.read(bytes)
        #expect(frames.count == 1)
        #expect(error == .protocolError)
    }

    @Test("more than maxContinuationFrames CONTINUATION frames, or empty ones, end the connection with ENHANCE_YOUR_CALM")
    func continuationFlood() {
        var bytes = H2Wire.frame(.headers, stream: 1, [0x82])
        for _ in 0...HTTP2FrameReader.maxContinuationFrames { bytes += H2Wire.frame(.continuation, stream: 1, [0x84]) }
        #expect(Self.read(bytes).error == .enhanceYourCalm)
        let empty = H2Wire.frame(.headers, stream: 1, [0x82]) + H2Wire.frame(.continuation, stream: 1)
        #expect(Self.read(empty).error == .enhanceYourCalm)
        var allowed = H2Wire.frame(.headers, stream: 1, [0x82])
        for _ in 1..<HTTP2FrameReader.maxContinuationFrames { allowed += H2Wire.frame(.continuation, stream: 1, [0x84]) }
        allowed += H2Wire.frame(.continuation, flags: H2Wire.endHeaders, stream: 1, [0x86])
        #expect(Self.read(allowed).error == nil)
    }

    @Test("the client preface must be followed by SETTINGS (RFC 9113 §3.4)")
    func prefaceThenSettings() {
        var reader = HTTP2FrameReader(maxHeaderBlock: 32768)
        reader.append(ByteBuffer(bytes: H2Wire.preface + H2Wire.windowUpdate(stream: 0, 1)))
        #expect(throws: HTTP2FrameReader.ConnectionError.self) { try reader.next() }
    }
}
