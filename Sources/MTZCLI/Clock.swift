import Dispatch

/// Monotonic time stamps for the CLI's timings.
enum Clock {
    /// Nanoseconds since an arbitrary start.
    static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Seconds between two time stamps.
    static func seconds(from start: UInt64, to end: UInt64) -> Double { Double(end &- start) * 1e-9 }
}
