#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOCore
import Synchronization

extension HTTPConnectionHandler {
    /// Starts streaming a body after the head in the batch buffer.
    func startStream(_ stream: BodyStream, context: ChannelHandlerContext) {
        stream.counters.recordStart()
        if self.out.readableBytes > 0 {
            context.write(self.wrapOutboundOut(.byteBuffer(self.out)), promise: nil)
            self.out = context.channel.allocator.buffer(capacity: 16384)
        }
        self.busy = .streaming(stream)
        self.setDeadline(.stall, NIODeadline.now() + self.server.configuration.idleTimeout, context: context)
        self.pump(context: context)
    }

    /// Hands body pieces to the channel while it is writable.
    func pump(context: ChannelHandlerContext) {
        guard case .streaming(var stream) = self.busy else { return }
        let chunkSize = Int64(self.server.configuration.streamChunkSize)
        var wrote = false
        while !stream.isHandedOver, context.channel.isWritable {
            let data: IOData
            let count: Int64
            switch stream.pieces[stream.index] {
            case .buffer(let buffer):
                data = .byteBuffer(buffer)
                count = Int64(buffer.readableBytes)
                stream.index += 1
            case .file(let offset, let length):
                count = min(chunkSize, length - stream.pieceOffset)
                let position = offset + stream.pieceOffset
                switch self.server.configuration.largeObjectStrategy {
                case .sendfile:
                    data = .fileRegion(
                        FileRegion(fileHandle: stream.mount.fileHandle, readerIndex: Int(position), endIndex: Int(position + count))
                    )
                case .read:
                    guard let buffer = self.readChunk(stream.mount, at: position, count: Int(count), context: context) else {
                        self.busy = .idle
                        self.closed = true
                        context.close(promise: nil)
                        return
                    }
                    data = .byteBuffer(buffer)
                }
                stream.pieceOffset += count
                if stream.pieceOffset == length {
                    stream.index += 1
                    stream.pieceOffset = 0
                }
            }
            stream.outstanding += 1
            wrote = true
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenComplete { result in
                self.chunkWritten(count: count, data: data, result: result, context: context)
            }
            context.write(self.wrapOutboundOut(data), promise: promise)
        }
        self.busy = .streaming(stream)
        if wrote { context.flush() }
    }

    private func chunkWritten(count: Int64, data: IOData, result: Result<Void, any Error>, context: ChannelHandlerContext) {
        guard case .streaming(var stream) = self.busy else { return }
        guard case .success = result else {
            self.busy = .idle
            return
        }
        if case .byteBuffer(var buffer) = data, buffer.capacity >= self.server.configuration.streamChunkSize, self.bufferPool.count < 4 {
            buffer.clear()
            self.bufferPool.append(buffer)
        }
        self.deadline = NIODeadline.now() + self.server.configuration.idleTimeout
        let before = stream.confirmed
        stream.confirmed += count
        stream.outstanding -= 1
        stream.counters.recordProgress(before: before, after: stream.confirmed, total: stream.total)
        if stream.isHandedOver, stream.outstanding == 0 {
            stream.counters.recordCompletion()
            self.finishBusy(context: context)
        } else {
            self.busy = .streaming(stream)
        }
    }

    /// Reads a chunk of the volume into a pooled buffer.
    private func readChunk(_ mount: Mount, at position: Int64, count: Int, context: ChannelHandlerContext) -> ByteBuffer? {
        var buffer = self.bufferPool.popLast() ?? context.channel.allocator.buffer(capacity: max(count, self.server.configuration.streamChunkSize))
        let fd = mount.fileDescriptor
        var failed = false
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
            var done = 0
            while done < count {
                let n = pread(fd, target.baseAddress! + done, count - done, off_t(position) + off_t(done))
                if n > 0 {
                    done += n
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    failed = true
                    break
                }
            }
            return done
        }
        if failed {
            self.server.logger.error("cannot read the volume", metadata: ["errno": "\(errno)"])
            return nil
        }
        return buffer
    }
}
