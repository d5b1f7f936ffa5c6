import CallTree
import Foundation
import WireContract

/// Where the worker reads the time: one place, injected, so tests can move it.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp(Date()) }
}
