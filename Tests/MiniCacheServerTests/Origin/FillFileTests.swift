#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTPToolkit
import MiniCacheServer
import MiniCacheTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// Records the body parts a fill hands over with their place in its memory file, and what the
/// file holds there.
final class SpanRecorder: FillSpanReceiver {
    let delegate = RecordingDelegate()
    /// Per part: nil when it came as a buffer only, else its span's offset and length and the
    /// file's bytes there.
    private let spans = Mutex<[(offset: Int, length: Int, bytes: [UInt8])?]>([])
    private let file = Mutex<FileIdentity?>(nil)
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    var parts: [(offset: Int, length: Int, bytes: [UInt8])?] { spans.withLock { $0 } }
    /// The memory file the spans came in (device and inode), once one came.
    var fileIdentity: FileIdentity? { file.withLock { $0 } }

    func originDidReceiveHead(_ head: HTTPResponseHead) { delegate.originDidReceiveHead(head) }
    func originDidFinish() { delegate.originDidFinish() }
    func originDidFail(_ error: OriginError) { delegate.originDidFail(error) }

    func originDidReceiveBodyPart(_ part: ByteBuffer) {
        spans.withLock { $0.append(nil) }
        delegate.originDidReceiveBodyPart(part)
    }

    func originDidReceiveBodyPart(_ part: ByteBuffer, in span: FileSpan) {
        var bytes = [UInt8](repeating: 0, count: span.length)
        let handle = span.file.handle(on: eventLoop)
        let read = (try? handle?.withUnsafeFileDescriptor { fd in
            var status = stat()
            if fstat(fd, &status) == 0 { file.withLock { $0 = FileIdentity(device: status.st_dev, inode: status.st_ino) } }
            return bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, span.length, off_t(span.offset)) }
        }) ?? -1
        spans.withLock { $0.append((span.offset, span.length, read == span.length ? bytes : [])) }
        delegate.originDidReceiveBodyPart(part)
    }
}

struct FillFileTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test("a fill's joiners get every body part with its place in a memory file holding the same bytes; the first viewer's parts before any joiner are buffers only")
    func joinersGetSpans() async throws {
        let gate = Gate()
        // 37 characters: a part at a wrong offset reads other bytes.
        let text = String(String(repeating: "abcdefghijklmnopqrstuvwxyz0123456789.", count: 3300).prefix(120_000))
        let bytes = Array(text.utf8)
        let origin = try await TestOrigin(group: group) { _, _ in
            let head = "HTTP/1.1 200 OK\r\nContent-Length: \(bytes.count)\r\nCache-Control: max-age=60\r\n\r\n"
            return [.send(head + String(decoding: bytes.prefix(40_000), as: UTF8.self)), .waitFor(gate), .send(String(decoding: bytes.dropFirst(40_000), as: UTF8.self))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let loop = group.next()
        let first = SpanRecorder(eventLoop: loop)
        let (fill, isNew) = fills.fill(for: "seg")
        #expect(isNew)
        #expect(fill.subscribe(first, on: loop) == .joined)
        fill.start(OriginRequest(target: "/seg"), to: address, using: client)
        #expect(try await first.delegate.wait { $0.body.count == 40_000 })
        #expect(first.parts.allSatisfy { $0 == nil }, "no joiner yet: no file")

        let joiner = SpanRecorder(eventLoop: loop)
        #expect(fills.fill(for: "seg").fill.subscribe(joiner, on: loop, requestHeaders: ["Host": "origin"]) == .joined)
        gate.open()
        let joined = await joiner.delegate.end()
        let record = await first.delegate.end()
        #expect(joined.finished && record.finished)
        #expect(joined.body == bytes && record.body == bytes)

        // The joiner's parts tile the file from its first byte, and the file holds the body there.
        var offset = 0
        for part in joiner.parts {
            let span = try #require(part, "a joiner's part came without its span")
            #expect(span.offset == offset)
            #expect(span.bytes == Array(bytes[span.offset..<(span.offset + span.length)]))
            offset += span.length
        }
        #expect(offset == bytes.count)
        // The first viewer gets the parts after the joiner came with their spans too.
        #expect(first.parts.contains { $0 != nil })
        client.shutdown()
        await origin.stop()
    }

    @Test("a fill's memory file is closed, with every descriptor duplicated from it, once the fill ended and its viewers are gone")
    func memoryFileClosedAfterFill() async throws {
        let bytes = [UInt8](repeating: 0x47, count: 200_000)
        let gate = Gate()
        let origin = try await TestOrigin(group: group) { _, _ in
            let head = "HTTP/1.1 200 OK\r\nContent-Length: \(bytes.count)\r\nCache-Control: max-age=60\r\n\r\n"
            return [.send(head + String(decoding: bytes.prefix(50_000), as: UTF8.self)), .waitFor(gate), .send(String(decoding: bytes.dropFirst(50_000), as: UTF8.self))]
        }
        let client = OriginClient(group: group)
        let fills = OriginFillRegistry<String>()
        let address = OriginAddress(host: "127.0.0.1", port: origin.port)
        let loop = group.next()
        let file: FileIdentity
        do {
            let first = SpanRecorder(eventLoop: loop)
            let (fill, _) = fills.fill(for: "seg")
            #expect(fill.subscribe(first, on: loop) == .joined)
            fill.start(OriginRequest(target: "/seg"), to: address, using: client)
            #expect(try await first.delegate.wait { $0.body.count == 50_000 })
            // A joiner makes the file; reading its spans duplicates the descriptor for the loop.
            let joiner = SpanRecorder(eventLoop: loop)
            #expect(fills.fill(for: "seg").fill.subscribe(joiner, on: loop) == .joined)
            #expect(try await joiner.delegate.wait { $0.body.count == 50_000 })
            file = try #require(joiner.fileIdentity, "the joined fill has no memory file")
            #expect(try Self.descriptors(of: file) > 0)
            gate.open()
            #expect(await joiner.delegate.end().body == bytes)
            #expect(await first.delegate.end().body == bytes)
            #expect(joiner.parts.contains { $0 != nil })
        }
        // The fill lets go of its file on an event loop after the viewers' end: a safety margin, not a timing.
        for _ in 0..<500 where try Self.descriptors(of: file) > 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try Self.descriptors(of: file) == 0)
        client.shutdown()
        await origin.stop()
    }

    /// Descriptors of this process open on `file` (only this test's fill: suites running beside
    /// it in the process open fill files of their own).
    static func descriptors(of file: FileIdentity) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").filter { entry in
            var status = stat()
            return stat("/proc/self/fd/\(entry)", &status) == 0 && FileIdentity(device: status.st_dev, inode: status.st_ino) == file
        }.count
    }
}

/// A file by device and inode, which tells one memory file from another.
struct FileIdentity: Equatable {
    var device: dev_t
    var inode: ino_t
}
