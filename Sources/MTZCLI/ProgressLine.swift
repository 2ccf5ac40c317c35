import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress display that rewrites itself on a terminal and stays silent otherwise.
final class ProgressLine {
    /// True when standard output is a terminal.
    let enabled = isatty(1) != 0
    private var last: UInt64 = 0

    /// Shows `text` (at most every 100 ms unless `force`).
    func show(_ text: String, force: Bool = false) {
        guard enabled else { return }
        let now = Clock.now
        guard force || now &- last > 100_000_000 else { return }
        last = now
        print("\r\u{1B}[K" + text, terminator: "")
        fflush(nil)
    }

    /// Clears the line so ordinary output can follow.
    func clear() {
        guard enabled else { return }
        print("\r\u{1B}[K", terminator: "")
        fflush(nil)
    }
}

/// `m:ss` or `h:mm:ss` for a duration in seconds.
func clockString(_ seconds: Double) -> String {
    let s = max(0, Int(seconds.rounded()))
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
