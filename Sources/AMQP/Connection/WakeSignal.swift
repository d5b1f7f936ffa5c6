import CRabbitMQ
import Foundation
import Synchronization

/// Wakes a connection thread out of `poll`: callers on any thread signal, the connection thread
/// waits on the read end together with its socket. Signals coalesce, so a burst of acks costs
/// one write.
final class WakeSignal: Sendable {
    let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let isSignalled = Mutex(false)

    init() {
        var descriptors: [Int32] = [-1, -1]
        let created = descriptors.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
        precondition(created == 0, "cannot create a pipe: \(String(cString: strerror(errno)))")
        for descriptor in descriptors {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        }
        readDescriptor = descriptors[0]
        writeDescriptor = descriptors[1]
    }

    deinit {
        close(readDescriptor)
        close(writeDescriptor)
    }

    func signal() {
        let shouldWrite = isSignalled.withLock { signalled in
            defer { signalled = true }
            return !signalled
        }
        guard shouldWrite else { return }
        var byte: UInt8 = 1
        _ = write(writeDescriptor, &byte, 1)
    }

    /// Called by the waiting thread before it looks for work, so a signal sent after that
    /// look is not lost.
    func clear() {
        isSignalled.withLock { $0 = false }
        // Drained even when the flag was already clear: a signaller may have set it, lost it to
        // this clear, and written its byte just after.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            while read(readDescriptor, buffer.baseAddress, 64) > 0 {}
        }
    }

    /// Sleeps up to `duration`, returning early when signalled.
    func wait(upTo duration: Duration) {
        var descriptor = pollfd(fd: readDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(max(0, duration.seconds * 1000)))
    }
}
